"""Web archives: HTML pages from (gzipped) WARC files (warcio for records, trafilatura for the main
text), and the plain-text conversion records of Common Crawl's WET files."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import trafilatura
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from hagane.collect.readers import RawDocument, Rejected
from hagane.errors import HaganeError

_CHARSET_IN_HEADER = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)
_CHARSET_IN_META = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)
# Where a page declares no charset at all, UTF-8 is by far the most common on today's Japanese web.
DEFAULT_CHARSET = "utf-8"


# Pages labelled Shift_JIS or EUC-JP are in practice written with the vendor supersets (Windows-31J,
# EUC-JIS-2004): ①, ～ and 髙 are not in strict Shift_JIS, and decoding strictly would quarantine them.
_SUPERSETS = {"shift_jis": "cp932", "shift-jis": "cp932", "sjis": "cp932", "x-sjis": "cp932",
              "windows-31j": "cp932", "euc-jp": "euc_jis_2004", "x-euc-jp": "euc_jis_2004"}


def page_charset(content_type: str | None, body: bytes) -> str:
    """The charset the HTTP header declares, else the one in a <meta> tag, else UTF-8."""
    declared = DEFAULT_CHARSET
    if content_type and (m := _CHARSET_IN_HEADER.search(content_type)):
        declared = m.group(1).lower()
    elif m := _CHARSET_IN_META.search(body[:4096]):
        declared = m.group(1).decode("ascii").lower()
    return _SUPERSETS.get(declared, declared)


def extract_text(html: str, url: str | None) -> tuple[str | None, str | None]:
    """Main text and title of a page. Tables are kept: Japanese technical pages put prose in them."""
    doc = trafilatura.bare_extraction(html, url=url, include_comments=False, include_tables=True,
                                      deduplicate=False, with_metadata=True)
    if doc is None:
        return None, None
    return doc.text, doc.title


# `response`: a fetched page (WARC); `conversion`: its extracted plain text (Common Crawl's WET files).
_DOCUMENT_RECORDS = ("response", "conversion")


def _read_conversion(record, body: bytes, offset: int, locator: str) -> Iterator[RawDocument | Rejected]:
    if record.raw_stream.limit != 0:
        yield Rejected("quarantined", "truncated_record", locator, f"byte offset {offset}")
        return
    try:
        text = body.decode("utf-8")  # WET bodies are UTF-8 by Common Crawl's definition
    except UnicodeDecodeError as err:
        yield Rejected("quarantined", "undecodable_text", locator, f"byte offset {offset}: {err}")
        return
    if not text.strip():
        yield Rejected("skipped", "empty_text", locator)
        return
    yield RawDocument(text=text, locator=locator, origin={
        "warc_record_id": locator, "offset": offset, "url": record.rec_headers.get_header("WARC-Target-URI"),
        "title": None, "warc_date": record.rec_headers.get_header("WARC-Date"),
        "refers_to": record.rec_headers.get_header("WARC-Refers-To"), "charset": "utf-8",
    })


def read_warc(path: Path) -> Iterator[RawDocument | Rejected]:
    with open(path, "rb") as stream:
        records = ArchiveIterator(stream)
        offset = 0
        try:
            for record in records:
                # get_record_offset() reads the record to its end, so the body is read first.
                body = record.content_stream().read() if record.rec_type in _DOCUMENT_RECORDS else b""
                offset = records.get_record_offset()
                yield from _read_record(record, body, offset)
        except ArchiveLoadFailed as err:
            raise HaganeError(f"{path}: unreadable WARC data after byte offset {offset}: {err}") from err
        except (EOFError, OSError, ValueError) as err:
            raise HaganeError(f"{path}: compressed stream broken after byte offset {offset} ({err}); "
                              "the file is truncated or corrupt — fetch it again") from err


def _read_record(record, body: bytes, offset: int) -> Iterator[RawDocument | Rejected]:
    record_id = record.rec_headers.get_header("WARC-Record-ID") or f"offset:{offset}"
    locator = f"{record_id}"
    if record.rec_type not in _DOCUMENT_RECORDS:
        yield Rejected("skipped", f"warc_{record.rec_type}_record", locator)
        return
    if record.rec_type == "conversion":
        yield from _read_conversion(record, body, offset, locator)
        return
    content_type = record.http_headers.get_header("Content-Type") if record.http_headers else None
    if record.raw_stream.limit != 0:
        # warcio hands back a record cut off by the end of the file as if it were whole (DESIGN.md).
        yield Rejected("quarantined", "truncated_record", locator, f"byte offset {offset}")
        return
    if not content_type or "html" not in content_type.lower():
        yield Rejected("skipped", "not_html", locator)
        return
    charset = page_charset(content_type, body)
    try:
        html = body.decode(charset)
    except (LookupError, UnicodeDecodeError) as err:
        yield Rejected("quarantined", "undecodable_html", locator, f"byte offset {offset}: {charset}: {err}")
        return
    url = record.rec_headers.get_header("WARC-Target-URI")
    text, title = extract_text(html, url)
    if not text or not text.strip():
        yield Rejected("skipped", "no_text_extracted", locator)
        return
    yield RawDocument(text=text, locator=locator, origin={
        "warc_record_id": record_id, "offset": offset, "url": url, "title": title,
        "warc_date": record.rec_headers.get_header("WARC-Date"), "charset": charset,
    })

"""Web archives: HTML pages from (gzipped) WARC files (warcio for records, trafilatura for the main
text), and the plain-text conversion records of Common Crawl's WET files."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import trafilatura
from trafilatura.utils import load_html
from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed

from hagane.collect.readers import RawDocument, Rejected
from hagane.errors import HaganeError

_CHARSET_IN_HEADER = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)
_CHARSET_IN_META = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)
# Where a page declares no charset at all, UTF-8 is by far the most common on today's Japanese web.
DEFAULT_CHARSET = "utf-8"

# A label names a family of encodings: real pages use the vendor supersets, so each label is tried as its
# supersets first and strictly last. ①, ～ and 髙 are not in strict Shift_JIS; ISO-2022-JP mail-era pages
# carry half-width katakana (iso2022_jp_ext) or JIS X 0213 characters (iso2022_jp_2004). The first codec
# that decodes the whole page wins and is recorded in `origin.charset`.
_CANDIDATES = {
    "shift_jis": ("cp932", "shift_jis_2004"),
    "euc-jp": ("euc_jis_2004", "euc_jp"),
    "iso-2022-jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2004", "iso2022_jp_2"),
}
_ALIASES = {"shift-jis": "shift_jis", "sjis": "shift_jis", "x-sjis": "shift_jis", "windows-31j": "shift_jis",
            "cp932": "shift_jis", "ms_kanji": "shift_jis", "x-euc-jp": "euc-jp", "eucjp": "euc-jp",
            "csiso2022jp": "iso-2022-jp", "iso2022jp": "iso-2022-jp"}


def page_charset(content_type: str | None, body: bytes) -> str:
    """The charset the HTTP header declares, else the one in a <meta> tag, else UTF-8 (lower case)."""
    if content_type and (m := _CHARSET_IN_HEADER.search(content_type)):
        return m.group(1).lower()
    if m := _CHARSET_IN_META.search(body[:4096]):
        return m.group(1).decode("ascii").lower()
    return DEFAULT_CHARSET


def decode_page(body: bytes, declared: str) -> tuple[str, str]:
    """(html, codec) for the declared charset, trying its supersets; raises UnicodeDecodeError or
    LookupError when none decodes the page."""
    label = _ALIASES.get(declared, declared)
    error: Exception | None = None
    for codec in _CANDIDATES.get(label, (label,)):
        try:
            return body.decode(codec), codec
        except (UnicodeDecodeError, LookupError) as err:
            error = error or err
    raise error


# The cheap pre-check (Swallow's idea): extraction is the expensive step, and most of a crawl is not
# Japanese. A page goes on to extraction if <html lang> says Japanese, or if its markup holds a few
# hiragana — Chinese and Korean pages hold none, and nearly every Japanese page does.
_HTML_LANG_JA = re.compile(r"<html[^>]*\slang\s*=\s*[\"']?ja\b", re.I)
_HIRAGANA = re.compile(r"[\u3041-\u309f]")


def looks_japanese(html: str, min_hiragana: int) -> bool:
    if _HTML_LANG_JA.search(html[:4096]):
        return True
    found = 0
    for _ in _HIRAGANA.finditer(html):
        found += 1
        if found >= min_hiragana:
            return True
    return False


# Browsers show a line break inside running text as a space, except between two East Asian wide
# characters, where it shows as nothing (CSS Text 3, segment break transformation). Hard-wrapped HTML
# source (common in manuals and older sites) would otherwise put spaces — or line breaks — into the
# middle of Japanese sentences.
_WIDE = "\u3000-\u303f\u3040-\u309f\u30a0-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\uff00-\uffef"
_BREAK_BETWEEN_WIDE = re.compile(rf"(?<=[{_WIDE}])[ \t\r\f]*\n\s*(?=[{_WIDE}])")
_BREAK = re.compile(r"[ \t\r\f]*\n\s*")
_LEADING_BREAK = re.compile(r"^\s*\n\s*")
_VERBATIM = {"pre", "textarea", "script", "style", "listing", "plaintext", "xmp"}
# Where a block starts or ends, a browser shows no space at all for the source's line breaks.
_BLOCKS = {"address", "article", "aside", "blockquote", "body", "dd", "div", "dl", "dt", "figcaption", "figure",
           "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6", "header", "hr", "li", "main", "nav", "ol", "p",
           "section", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "ul", "br"}


def _render_line_breaks(text: str, at_block_edge: bool) -> str:
    if "\n" not in text:
        return text
    if at_block_edge:
        text = _LEADING_BREAK.sub("", text)
    return _BREAK.sub(" ", _BREAK_BETWEEN_WIDE.sub("", text))


def render_whitespace(tree) -> None:
    """Turn source line breaks in the page's text into what a browser shows, in place; <pre> untouched."""
    stack = [(tree, False)]
    while stack:
        element, verbatim = stack.pop()
        tag = element.tag.lower() if isinstance(element.tag, str) else ""
        inside = verbatim or tag in _VERBATIM
        if element.text and not inside:
            element.text = _render_line_breaks(element.text, tag in _BLOCKS)
        if element.tail and not verbatim:
            element.tail = _render_line_breaks(element.tail, tag in _BLOCKS)
        stack.extend((child, inside) for child in element)


def extract_text(html: str, url: str | None) -> tuple[str | None, str | None]:
    """Main text and <title> of a page. Tables are kept: Japanese technical pages put prose in them.
    trafilatura's own metadata extraction is not asked for: it doubled the time per page."""
    tree = load_html(html)
    if tree is None:
        return None, None
    title = " ".join((tree.findtext(".//title") or "").split()) or None
    render_whitespace(tree)
    doc = trafilatura.bare_extraction(tree, url=url, include_comments=False, include_tables=True,
                                      deduplicate=False, with_metadata=False)
    if doc is None:
        return None, title
    return doc.text, title


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


def read_warc(path: Path, max_bytes: int,
              precheck_min_hiragana: int | None = None) -> Iterator[RawDocument | Rejected]:
    """Documents of a WARC or WET file. With `precheck_min_hiragana`, HTML pages that fail the cheap
    Japanese pre-check are skipped (counted as precheck_not_japanese) before extraction."""
    with open(path, "rb") as stream:
        records = ArchiveIterator(stream)
        offset = 0
        try:
            for record in records:
                # get_record_offset() reads the record to its end, so the body is read first.
                body = record.content_stream().read(max_bytes + 1) if record.rec_type in _DOCUMENT_RECORDS else b""
                offset = records.get_record_offset()
                if len(body) > max_bytes:
                    locator = record.rec_headers.get_header("WARC-Record-ID") or f"offset:{offset}"
                    yield Rejected("quarantined", "record_too_long", locator,
                                   f"byte offset {offset}: body over {max_bytes} bytes (max_record_mb of the source)")
                    continue
                yield from _read_record(record, body, offset, precheck_min_hiragana)
        except ArchiveLoadFailed as err:
            # A broken record header leaves no way to find the next record in an uncompressed WARC: fail
            # naming where reading stopped and the last record read whole.
            message = str(err).split("\n", 1)[0]
            raise HaganeError(f"{path}: unreadable WARC record at byte offset {records.offset} (last good "
                              f"record at byte offset {offset}): {message}") from err
        except (EOFError, OSError, ValueError) as err:
            raise HaganeError(f"{path}: compressed stream broken after byte offset {offset} ({err}); "
                              "the file is truncated or corrupt — fetch it again") from err


def _read_record(record, body: bytes, offset: int,
                 precheck_min_hiragana: int | None) -> Iterator[RawDocument | Rejected]:
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
    declared = page_charset(content_type, body)
    try:
        html, charset = decode_page(body, declared)
    except (LookupError, UnicodeDecodeError) as err:
        yield Rejected("quarantined", "undecodable_html", locator, f"byte offset {offset}: {declared}: {err}")
        return
    if precheck_min_hiragana and not looks_japanese(html, precheck_min_hiragana):
        yield Rejected("skipped", "precheck_not_japanese", locator)
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

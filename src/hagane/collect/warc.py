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

from hagane.collect.charset import UndecodablePage, decode_page
from hagane.collect.gzip_members import DamagedMember, GzipMembers
from hagane.collect.readers import WARC_RECORD_TYPES, FileRead, RawDocument, Rejected
from hagane.errors import FileFault

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
_GZIP_ID = b"\x1f\x8b"
# In the first bytes of a damaged member, before the damage: the record's id, to quarantine it by name.
_RECORD_ID = re.compile(rb"\r\nWARC-Record-ID:[ \t]*(<[^>\r\n]{1,256}>)", re.I)


def _salvaged_record_id(start: bytes) -> str | None:
    header = start.split(b"\r\n\r\n", 1)[0]
    found = _RECORD_ID.search(header) if header.startswith(b"WARC/") else None
    return found.group(1).decode("ascii", "replace") if found else None


def http_status_reason(status: str | None) -> str | None:
    """The skip reason for a response's HTTP status; None for 2xx. A 404 page or a redirect's stub has a
    body, often HTML, but it is not the page the URL names."""
    code = status.split(" ", 1)[0] if status else ""
    if len(code) == 3 and code.isdigit():
        if code[0] == "2":
            return None
        if code[0] in "345":
            return f"http_status_{code[0]}xx"
    return "http_status_other"


def _read_conversion(record, body: bytes, offset: int, locator: str) -> Iterator[RawDocument | Rejected]:
    if record.raw_stream.limit != 0:
        yield Rejected("quarantined", "truncated_record", locator, f"byte offset {offset}")
        return
    try:
        text = body.decode("utf-8")  # WET bodies are UTF-8 by Common Crawl's definition
    except UnicodeDecodeError as err:
        yield Rejected("quarantined", "invalid_utf8", locator, f"byte offset {offset}: byte {err.start} of the body")
        return
    if not text.strip():
        yield Rejected("skipped", "empty_text", locator)
        return
    yield RawDocument(text=text, locator=locator, origin={
        "warc_record_id": locator, "offset": offset, "url": record.rec_headers.get_header("WARC-Target-URI"),
        "title": None, "warc_date": record.rec_headers.get_header("WARC-Date"),
        "refers_to": record.rec_headers.get_header("WARC-Refers-To"), "charset": "utf-8",
    })


def read_warc(path: Path, max_bytes: int, precheck_min_hiragana: int | None,
              read: FileRead) -> Iterator[RawDocument | Rejected]:
    """Documents of a WARC or WET file, gzipped record by record or uncompressed. With
    `precheck_min_hiragana`, HTML pages that fail the cheap Japanese pre-check are skipped (counted as
    precheck_not_japanese) before extraction."""
    with open(path, "rb") as raw:
        gzipped = raw.read(2) == _GZIP_ID
        raw.seek(0)
        if gzipped:
            items = _read_gzip_members(raw, max_bytes, precheck_min_hiragana, read)
        else:
            items = _read_uncompressed(path, raw, max_bytes, precheck_min_hiragana, read)
        for item in items:
            if isinstance(item, Rejected) and item.reason == "truncated_record":
                read.cut = True  # only the file's end cuts a record short
            yield item


def _body(record, max_bytes: int) -> bytes:
    return record.content_stream().read(max_bytes + 1) if record.rec_type in _DOCUMENT_RECORDS else b""


def _record_id(record, offset: int) -> str:
    return record.rec_headers.get_header("WARC-Record-ID") or f"offset:{offset}"


def _read_gzip_members(raw, max_bytes: int, precheck_min_hiragana: int | None,
                       read: FileRead) -> Iterator[RawDocument | Rejected]:
    members = GzipMembers(raw, read.size, member_starts_with=b"WARC/")
    while (member := members.next_member()) is not None:
        offset = member.start
        # A record is handed on only once the next one has begun, or its member has ended with a matching
        # CRC: damage found late in a member never lets a half-decoded record through.
        held = None
        locator = f"offset:{offset}"  # the record's id once its header has been read
        try:
            try:
                for record in ArchiveIterator(member):
                    if held is not None:
                        yield from _read_record(*held, max_bytes, precheck_min_hiragana)
                    held, locator = None, _record_id(record, offset)
                    held = (record, _body(record, max_bytes), offset)
                member.drain()
            except ArchiveLoadFailed as err:
                member.drain()  # an intact member holding no readable record: damage raises here instead
                if not member.cut:
                    yield Rejected("quarantined", "malformed_record", locator,
                                   f"byte offset {offset}: {str(err).strip().splitlines()[0]}")
                    continue
        except DamagedMember as err:
            if locator.startswith("offset:"):
                locator = _salvaged_record_id(members.salvage(offset)) or locator
            end = members.resync(offset)
            read.bytes_damaged += end - offset
            yield Rejected("quarantined", "damaged_record", locator,
                           f"bytes {offset}–{end} of the file: gzip data broken near byte {err.offset} ({err}); "
                           f"reading went on at byte {end}")
            continue
        if member.cut:
            yield Rejected("quarantined", "truncated_record", locator,
                           f"byte offset {offset}: the file ends inside this record's gzip member")
        elif held is not None:
            yield from _read_record(*held, max_bytes, precheck_min_hiragana)
    read.bytes_read = members.position


def _read_uncompressed(path: Path, raw, max_bytes: int, precheck_min_hiragana: int | None,
                       read: FileRead) -> Iterator[RawDocument | Rejected]:
    records = ArchiveIterator(raw)
    offset = 0
    try:
        for record in records:
            body = _body(record, max_bytes)
            offset = records.get_record_offset()  # reads the record to its end, so the body is read first
            yield from _read_record(record, body, offset, max_bytes, precheck_min_hiragana)
    except ArchiveLoadFailed as err:
        # A broken record header leaves no way to find the next record in an uncompressed WARC: fail
        # naming where reading stopped and the last record read whole.
        message = str(err).split("\n", 1)[0]
        raise FileFault(f"{path}: unreadable WARC record at byte offset {records.offset} (last good "
                          f"record at byte offset {offset}): {message}") from err
    read.bytes_read = raw.tell()


def _read_record(record, body: bytes, offset: int, max_bytes: int,
                 precheck_min_hiragana: int | None) -> Iterator[RawDocument | Rejected]:
    record_id = _record_id(record, offset)
    locator = f"{record_id}"
    if record.rec_type not in _DOCUMENT_RECORDS:
        kind = record.rec_type if record.rec_type in WARC_RECORD_TYPES else "other"
        yield Rejected("skipped", f"warc_{kind}_record", locator)
        return
    if len(body) > max_bytes:
        yield Rejected("quarantined", "record_too_long", locator,
                       f"byte offset {offset}: body over {max_bytes} bytes (max_record_mb of the source)")
        return
    if record.rec_type == "conversion":
        yield from _read_conversion(record, body, offset, locator)
        return
    if record.raw_stream.limit != 0:
        # warcio hands back a record cut off by the end of the file as if it were whole (DESIGN.md).
        yield Rejected("quarantined", "truncated_record", locator, f"byte offset {offset}")
        return
    if record.http_headers is not None and (status := http_status_reason(record.http_headers.statusline)):
        yield Rejected("skipped", status, locator, f"HTTP {record.http_headers.statusline}")
        return
    content_type = record.http_headers.get_header("Content-Type") if record.http_headers else None
    if not content_type or "html" not in content_type.lower():
        yield Rejected("skipped", "not_html", locator)
        return
    try:
        page = decode_page(content_type, body)
    except UndecodablePage as err:
        yield Rejected("quarantined", "undecodable_html", locator, f"byte offset {offset}: {err}")
        return
    if precheck_min_hiragana and not looks_japanese(page.text, precheck_min_hiragana):
        yield Rejected("skipped", "precheck_not_japanese", locator)
        return
    url = record.rec_headers.get_header("WARC-Target-URI")
    text, title = extract_text(page.text, url)
    if not text or not text.strip():
        yield Rejected("skipped", "no_text_extracted", locator)
        return
    yield RawDocument(text=text, locator=locator, origin={
        "warc_record_id": record_id, "offset": offset, "url": url, "title": title,
        "warc_date": record.rec_headers.get_header("WARC-Date"), "charset": page.codec,
        "charset_from": page.decided_by,
    })

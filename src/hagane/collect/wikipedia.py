"""Wikipedia dumps: `*-pages-articles*.xml.bz2` (multistream too) in MediaWiki's export schema, streamed.

Articles only (namespace 0, redirects skipped). Wikitext becomes plain text the way a reader sees the
article body: headings and paragraphs kept; templates, tables, references, files, categories, maths and
comments dropped; the closing sections that hold only references and links (脚注, 出典, 関連項目, 外部リンク …)
dropped with their content. A few inline templates that carry the sentence's own words keep them
({{lang|en|Tokyo}} → Tokyo, {{仮リンク|ジョン・スミス|en|John Smith}} → ジョン・スミス), since dropping them
would leave holes in the Japanese text.
"""

from __future__ import annotations

import bz2
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import mwparserfromhell
from mwparserfromhell.nodes import (Argument, Comment, ExternalLink, Heading, HTMLEntity, Tag, Template, Text,
                                    Wikilink)

from hagane.collect.readers import FileRead, RawDocument, Rejected
from hagane.collect.text import DECOMPRESSION_ERRORS, open_maybe_compressed
from hagane.errors import FileFault, HaganeError

# Link targets in these namespaces are media or page metadata, not words of the sentence.
_DROP_LINK_NAMESPACES = {"file", "image", "media", "category", "ファイル", "画像", "メディア", "カテゴリ"}
# Tags whose content is not running text.
_DROP_TAGS = {"ref", "references", "math", "chem", "ce", "gallery", "table", "timeline", "imagemap", "score",
              "graph", "templatedata", "mapframe", "maplink", "syntaxhighlight", "source", "inputbox",
              "categorytree", "hiero", "indicator"}
_LINE_BREAK_TAGS = {"br", "p", "hr"}  # wikitext list markers (*, #, :, ;) already stand at a line start
# Closing sections of Japanese (and English) articles that list references and links, not prose.
_DROP_SECTIONS = {"脚注", "注釈", "注記", "出典", "参考文献", "参考資料", "関連文献", "関連項目", "外部リンク",
                  "関連書籍", "notes", "references", "see also", "external links", "bibliography", "further reading"}
_MAGIC_WORD = re.compile(r"__[A-Z]+__")
_BLANK_RUNS = re.compile(r"\n{3,}")


def _template_name(template: Template) -> str:
    name = str(template.name).strip().replace("_", " ")
    return name[:1].lower() + name[1:]


def _param(template: Template, key: str) -> str | None:
    return str(template.get(key).value) if template.has(key) else None


def _inline_template(template: Template) -> str | None:
    """Wikitext that an inline template renders as words of the sentence, or None to drop it."""
    name = _template_name(template)
    if name == "lang":  # {{lang|en|Tokyo}}
        return _param(template, "2")
    if name.startswith("lang-") or name in {"仮リンク", "ruby", "nowrap", "要出典範囲", "interlang", "en", "ja"}:
        return _param(template, "1")  # {{lang-en|Tokyo}}, {{仮リンク|名|en|Name}}, {{Ruby|漢字|かんじ}}
    if name.startswith("読み仮名"):  # {{読み仮名|漢字|かんじ}} reads 漢字（かんじ）
        base, reading = _param(template, "1"), _param(template, "2")
        return f"{base}（{reading}）" if base and reading else base
    return None


def _render(code, out: list[str]) -> None:
    for node in code.nodes:
        if isinstance(node, Text):
            out.append(node.value)
        elif isinstance(node, Wikilink):
            title = str(node.title).strip()
            prefix = title.lstrip(":").split(":", 1)[0].strip().lower() if ":" in title else ""
            if prefix in _DROP_LINK_NAMESPACES:
                continue
            if node.text is not None:
                _render(node.text, out)
            else:
                out.append(title.lstrip(":").split("#", 1)[0])
        elif isinstance(node, ExternalLink):
            if node.title is not None:
                _render(node.title, out)
        elif isinstance(node, Template):
            inline = _inline_template(node)
            if inline:
                _render(mwparserfromhell.parse(inline), out)
        elif isinstance(node, Tag):
            tag = str(node.tag).strip().lower()
            if tag in _DROP_TAGS:
                continue
            if tag in _LINE_BREAK_TAGS:
                out.append("\n")
            if node.contents is not None and not node.self_closing:
                _render(node.contents, out)
        elif isinstance(node, HTMLEntity):
            out.append(node.normalize())
        elif isinstance(node, (Comment, Argument)):
            continue
        elif isinstance(node, Heading):
            out.append("\n")
            _render(node.title, out)
            out.append("\n")
        else:  # parser functions and anything new in the parser: its visible text, as the parser sees it
            stripped = node.__strip__(normalize=True, collapse=True)
            if stripped:
                out.append(str(stripped))


def _drop_reference_sections(code) -> None:
    """Remove the sections that hold only references and links, with everything under them."""
    for section in code.get_sections(levels=[2, 3, 4, 5, 6], include_lead=False, flat=False):
        heading = section.nodes[0] if section.nodes else None
        if isinstance(heading, Heading) and str(heading.title.strip_code()).strip().lower() in _DROP_SECTIONS:
            for node in list(section.nodes):
                try:
                    code.remove(node)
                except ValueError:  # already gone with an enclosing dropped section
                    pass


def wikitext_to_text(wikitext: str) -> str:
    """Plain text of an article's wikitext: headings and paragraphs, one per line."""
    code = mwparserfromhell.parse(wikitext)
    _drop_reference_sections(code)
    out: list[str] = []
    _render(code, out)
    text = _MAGIC_WORD.sub("", "".join(out))
    lines = [" ".join(line.split()) for line in text.split("\n")]
    # A blank line separates paragraphs (and sets headings apart); longer runs are left-overs of dropped markup.
    return _BLANK_RUNS.sub("\n\n", "\n".join(lines)).strip()


def _local(tag: str) -> str:
    """An element's name without the export schema's namespace (which changes with every schema version)."""
    return tag.rsplit("}", 1)[-1]


def _child(element: ET.Element, name: str) -> ET.Element | None:
    for child in element:
        if _local(child.tag) == name:
            return child
    return None


def _child_text(element: ET.Element, name: str) -> str | None:
    child = _child(element, name)
    return None if child is None else child.text


def _page(page: ET.Element, article_base: str | None) -> RawDocument | Rejected:
    page_id = _child_text(page, "id")
    locator = f"page:{page_id}" if page_id else "page:?"
    title = _child_text(page, "title")
    namespace = _child_text(page, "ns")
    revision = _child(page, "revision")
    if not page_id or title is None or namespace is None or revision is None:
        return Rejected("quarantined", "malformed_record", locator,
                        f"title {title!r}: a page needs id, title, ns and revision")
    if namespace.strip() != "0":
        return Rejected("skipped", "wiki_not_article", locator)
    if _child(page, "redirect") is not None:
        return Rejected("skipped", "wiki_redirect", locator)
    wikitext = _child_text(revision, "text")
    if wikitext is None:  # a deleted revision text: <text deleted="deleted" />
        return Rejected("skipped", "wiki_text_missing", locator)
    text = wikitext_to_text(wikitext)
    if not text:
        return Rejected("skipped", "empty_text", locator)
    url = f"{article_base}{quote(title.replace(' ', '_'))}" if article_base else None
    return RawDocument(text=text, locator=locator, origin={
        "page_id": int(page_id), "revision_id": int(_child_text(revision, "id") or 0) or None, "title": title,
        "timestamp": _child_text(revision, "timestamp"), "url": url,
    })


# ------------------------------------------------------------------------------------- multistream

def _first_stream(raw) -> tuple[bytes, int]:
    """The dump's first bz2 stream — in a multistream dump, <mediawiki …> and <siteinfo> alone — and the
    byte offset where it ends."""
    raw.seek(0)
    decompressor = bz2.BZ2Decompressor()
    out = []
    while not decompressor.eof and (chunk := raw.read(1 << 16)):
        out.append(decompressor.decompress(chunk))
    return b"".join(out), raw.tell() - len(decompressor.unused_data)


class _StreamRange:
    """A readable XML document made of the dump's header stream, the bz2 streams in [start, end), and the
    closing tag where the range does not already end with it."""

    def __init__(self, path: Path, raw, start: int, end: int):
        header, header_end = _first_stream(raw)
        if b"<page>" in header or b"<siteinfo" not in header:
            raise HaganeError(f"{path}: the first bz2 stream is not a multistream dump's header")
        if start < header_end:
            raise HaganeError(f"{path}: byte range starts at {start}, inside the header stream")
        self.raw, self.end = raw, end
        self.raw.seek(start)
        self.pending = header
        self.decompressor, self.in_stream = bz2.BZ2Decompressor(), False
        self.tail = b""
        self.closed_root = False

    def _more(self) -> bytes:
        """The next decompressed bytes of the range, b"" at its end."""
        while True:
            if self.decompressor.eof:  # a stream ended; the next one may start in its leftover bytes
                leftover = self.decompressor.unused_data
                self.decompressor, self.in_stream = bz2.BZ2Decompressor(), bool(leftover)
                if leftover and (data := self.decompressor.decompress(leftover)):
                    return data
                continue
            remaining = self.end - self.raw.tell()
            if remaining <= 0:
                if self.in_stream:
                    raise EOFError("the byte range ends inside a bz2 stream")
                return b""
            chunk = self.raw.read(min(1 << 16, remaining))
            if not chunk:
                raise EOFError("the file ends before the byte range does")
            self.in_stream = True
            if data := self.decompressor.decompress(chunk):
                return data

    def read(self, size: int = -1) -> bytes:
        while len(self.pending) < max(size, 1):
            data = self._more()
            if not data:
                if not self.closed_root:
                    self.closed_root = True
                    if not self.tail.rstrip().endswith(b"</mediawiki>"):
                        self.pending += b"</mediawiki>\n"
                break
            self.tail = (self.tail + data)[-64:]
            self.pending += data
        out, self.pending = (self.pending, b"") if size < 0 else (self.pending[:size], self.pending[size:])
        return out


def read_wikipedia(path: Path, byte_range: tuple[int, int] | None, read: FileRead) -> Iterator[RawDocument | Rejected]:
    """Pages of a MediaWiki XML export (bz2 multistream, bz2, gz or plain); with `byte_range`, only the
    page streams of a multistream dump in that range (see split_multistream)."""
    article_base = None
    last_page = "the start"
    with open(path, "rb") as raw:
        try:
            if byte_range is not None:
                stream = _StreamRange(path, raw, *byte_range)
            else:
                stream = open_maybe_compressed(path, raw)
            events = ET.iterparse(stream, events=("start", "end"))
            _, root = next(events)
            if _local(root.tag) != "mediawiki":
                raise HaganeError(f"{path}: not a MediaWiki XML export (root element <{_local(root.tag)}>)")
            for event, element in events:
                if event != "end":
                    continue
                name = _local(element.tag)
                if name == "base" and element.text:
                    # https://ja.wikipedia.org/wiki/メインページ → https://ja.wikipedia.org/wiki/
                    article_base = element.text.rsplit("/", 1)[0] + "/"
                elif name == "page":
                    item = _page(element, article_base)
                    last_page = f"page {item.locator}"
                    yield item
                    root.clear()  # keeps memory flat over millions of pages
            read.bytes_read = raw.tell() - (byte_range[0] if byte_range else 0)
        except ET.ParseError as err:
            line, column = err.position
            raise FileFault(f"{path}: malformed XML at line {line}, column {column} (after {last_page}): "
                              f"{err}") from err
        except DECOMPRESSION_ERRORS as err:
            raise FileFault(f"{path}: compressed stream broken at byte offset {raw.tell()} (after {last_page}) "
                              f"({err}); the dump is truncated or corrupt — fetch it again") from err

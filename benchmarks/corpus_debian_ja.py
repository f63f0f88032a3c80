"""The filtering and dedup benchmarks' corpus: Japanese text from Debian's documentation packages.

Debian 12's Japanese manual pages (manpages-ja, manpages-ja-dev) and Japanese HTML manuals (Debian
Reference, the Administrator's Handbook, the Developer's Reference, the New Maintainers' Guide) are fetched
with `apt-get download` (nothing is installed) and turned into plain text: roff requests and escapes
dropped, HTML block elements as paragraphs. Each man page section (`.SH`) and each HTML page is cut into
documents at paragraph boundaries: paragraphs are gathered until a document holds MIN_CHARS characters
(MAX_CHARS at most); a shorter remainder and documents without Japanese are dropped. Pages that are only `.so` links to others are skipped. The result is cached at
.build/bench-corpus/debian-ja.jsonl.zst (Hagane's document records: id, text, source, url) with
debian-ja.json beside it naming the package versions and counts; it is rebuilt when the packages' versions
or this script change.

    .venv/bin/python benchmarks/corpus_debian_ja.py      # build (a few seconds) and print the counts

Shared by benchmarks/dedup_minhash.py (which injects known duplicates into a copy) and the filter benchmarks.
"""

from __future__ import annotations

import gzip
import hashlib
import html.parser
import json
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / ".build" / "bench-corpus"
MAN_PACKAGES = ("manpages-ja", "manpages-ja-dev")
HTML_PACKAGES = {  # package: the folder of its Japanese HTML pages
    "debian-reference-ja": "usr/share/doc/debian-reference-ja",
    "debian-handbook": "usr/share/doc/debian-handbook/html/ja-JP",
    "developers-reference-ja": "usr/share/doc/developers-reference-ja",
    "maint-guide-ja": "usr/share/doc/maint-guide-ja",
}
PACKAGES = (*MAN_PACKAGES, *HTML_PACKAGES)
MIN_CHARS, MAX_CHARS = 300, 3000

_FONT = re.compile(r"\\f(\[[^\]]*\]|\(..|.)")  # \fB, \f(CW, \f[I]
_NAMED = re.compile(r"\\\((..)|\\\[([^\]]+)\]")  # \(em, \[em]
_SPECIALS = {"em": "—", "en": "–", "hy": "-", "bu": "・", "co": "©", "rg": "®", "aq": "'", "dq": '"',
             "lq": "“", "rq": "”", "oq": "‘", "cq": "’", "mi": "-", "pl": "+", "mu": "×", "di": "÷",
             "<=": "≤", ">=": "≥", "->": "→", "<-": "←", "ti": "~", "ha": "^", "rs": "\\", "ba": "|"}
_TEXT_MACROS = {"B", "I", "BI", "BR", "IB", "IR", "RB", "RI", "SM", "SB"}  # their arguments are text
_JAPANESE = re.compile(r"[\u3040-\u30ff\u4e00-\u9fff]")


def _unescape(line: str) -> str:
    line = _FONT.sub("", line)
    line = _NAMED.sub(lambda m: _SPECIALS.get(m.group(1) or m.group(2), ""), line)
    line = line.replace("\\-", "-").replace("\\e", "\\").replace("\\&", "").replace("\\ ", " ")
    line = re.sub(r"\\[/,|^%:]", "", line)  # italic corrections, zero-width spaces, hyphenation points
    line = re.sub(r"\\s[-+]?\d", "", line)  # size changes
    line = re.sub(r'\\\*(\(..|\[[^\]]*\]|.)', "", line)  # strings (\*(lq …): rare in these pages
    return line.replace("\\\\", "\\")


def _join(lines: list[str]) -> str:
    """The lines of one paragraph as one: a space between them, except where Japanese meets Japanese."""
    out = lines[0]
    for line in lines[1:]:
        out += ("" if _JAPANESE.match(out[-1]) and _JAPANESE.match(line[0]) else " ") + line
    return out


def roff_sections(source: str) -> list[tuple[str, str]]:
    """(heading, text) of each `.SH` section of a man page: paragraphs separated by blank lines."""
    sections: list[tuple[str, list[str]]] = []
    heading, lines = "", []
    for raw in source.splitlines():
        if raw.startswith(('.\\"', "'\\\"", '.\\\\"')) or raw.strip() in (".", "'"):
            continue
        if raw.startswith((".", "'")):
            parts = raw[1:].split(None, 1)
            name, rest = (parts[0], parts[1] if len(parts) > 1 else "") if parts else ("", "")
            if name == "SH":
                if lines:
                    sections.append((heading, lines))
                heading, lines = _unescape(rest).strip('" '), []
            elif name == "SS":
                lines += ["", _unescape(rest).strip('" ')]
            elif name in ("PP", "P", "LP", "TP", "IP", "HP", "sp", "br"):
                lines.append("")
                if name == "IP" and rest:
                    lines.append(_unescape(rest.split('"')[1] if rest.startswith('"') else rest.split()[0]))
            elif name in _TEXT_MACROS:
                lines.append(_unescape(rest.replace('"', "")))
            continue  # other requests and macros: layout only
        lines.append(_unescape(raw))
    if lines:
        sections.append((heading, lines))
    out = []
    for heading, body in sections:
        paragraphs, current = [], []
        for line in body + [""]:
            if line.strip():
                current.append(line.strip())
            elif current:
                paragraphs.append(_join(current))
                current = []
        out.append((heading, "\n".join(paragraphs)))
    return out


def documents_of_page(text: str, name: str) -> list[tuple[str, str]]:
    """A man page's documents: each section packed by `pieces`, its heading as the first paragraph."""
    return [doc for number, (heading, body) in enumerate(roff_sections(text))
            for doc in pieces(([heading] if heading else []) + body.split("\n"), f"{name}#{number}")]


class _Blocks(html.parser.HTMLParser):
    """The visible text of an HTML page, one paragraph per block element."""

    BLOCKS = {"p", "div", "li", "pre", "h1", "h2", "h3", "h4", "h5", "h6", "td", "th", "dt", "dd", "br", "tr",
              "table", "ul", "ol", "dl", "blockquote", "section", "title"}
    HIDDEN = {"head", "script", "style"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.hidden, self.paragraphs, self.current = 0, [], []

    def _end_block(self) -> None:
        text = re.sub(r"\s+", " ", "".join(self.current)).strip()
        if text:
            self.paragraphs.append(text)
        self.current = []

    def handle_starttag(self, tag, attrs):
        self.hidden += tag in self.HIDDEN
        if tag in self.BLOCKS:
            self._end_block()

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.hidden:
            self.hidden -= 1
        if tag in self.BLOCKS:
            self._end_block()

    def handle_data(self, data):
        if not self.hidden:
            self.current.append(data)


def html_paragraphs(body: bytes) -> list[str]:
    parser = _Blocks()
    parser.feed(body.decode("utf-8", errors="replace"))
    parser.close()
    parser._end_block()
    return parser.paragraphs


def pieces(paragraphs: list[str], name: str) -> list[tuple[str, str]]:
    """(id suffix, text): consecutive paragraphs gathered until a document has MIN_CHARS characters (at most
    MAX_CHARS: a longer paragraph is cut); a short remainder and documents without Japanese are dropped."""
    out, chunk = [], []
    for paragraph in paragraphs:
        room = MAX_CHARS - len("\n".join(chunk)) - (1 if chunk else 0)
        chunk.append(paragraph[:room])
        doc = "\n".join(chunk).strip()
        if len(doc) >= MIN_CHARS:
            if _JAPANESE.search(doc):
                out.append((f"{name}.{len(out)}", doc))
            chunk = []
    return out


def fetch(folder: Path) -> dict[str, str]:
    """Download and unpack PACKAGES into `folder`; their versions."""
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=folder, check=True, capture_output=True)
    versions = {}
    for deb in sorted(folder.glob("*.deb")):
        subprocess.run(["dpkg-deb", "-x", str(deb), str(folder / "root")], check=True)
        package, version = deb.name.split("_")[:2]
        versions[package] = version.replace("%3a", ":")
    return versions


def build(out: Path = CACHE / "debian-ja.jsonl.zst") -> Path:
    sys.path.insert(0, str(ROOT / "src"))
    from hagane.io import write_jsonl_zst

    stamp = out.with_name(out.name.split(".")[0] + ".json")
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        try:
            versions = fetch(tmp)
        except (OSError, subprocess.CalledProcessError) as err:
            if out.exists():  # offline: the cached copy stands
                return out
            raise SystemExit(f"cannot fetch {', '.join(PACKAGES)} with apt-get download: {err}") from err
        builder = hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:16]  # this script's rules changed?
        if out.exists() and stamp.exists():
            known = json.loads(stamp.read_text())
            if (known["packages"], known.get("builder")) == (versions, builder):
                return out
        docs = []
        for page in sorted((tmp / "root/usr/share/man/ja").rglob("*.gz")):
            if page.is_symlink():
                continue
            source = gzip.decompress(page.read_bytes()).decode("utf-8", errors="replace")
            if source.lstrip().startswith(".so "):
                continue
            name = f"{page.parent.name}/{page.name[:-3]}"
            for suffix, text in documents_of_page(source, name):
                docs.append({"id": f"man/{suffix}", "text": text, "source": "debian-ja",
                             "url": f"file:///usr/share/man/ja/{name}"})
        for package, folder in HTML_PACKAGES.items():
            for page in sorted((tmp / "root" / folder).rglob("*.html")):
                if page.is_symlink():
                    continue
                name = f"{package}/{page.relative_to(tmp / 'root' / folder)}"
                for suffix, text in pieces(html_paragraphs(page.read_bytes()), name):
                    docs.append({"id": f"html/{suffix}", "text": text, "source": "debian-ja",
                                 "url": f"file:///{folder}/{page.relative_to(tmp / 'root' / folder)}"})
    out.parent.mkdir(parents=True, exist_ok=True)
    write_jsonl_zst(out, docs)
    lengths = sorted(len(d["text"]) for d in docs)
    stamp.write_text(json.dumps({"packages": versions, "builder": builder, "documents": len(docs),
                                 "characters": sum(lengths), "median_chars": lengths[len(lengths) // 2]}, indent=2) + "\n")
    return out


if __name__ == "__main__":
    path = build()
    print(path, (path.parent / "debian-ja.json").read_text())

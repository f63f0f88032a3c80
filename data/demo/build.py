#!/usr/bin/env python3
"""Rebuild Hagane's shipped demo corpus from Debian 12 (bookworm) documentation packages.

    python data/demo/build.py           # needs apt-get, dpkg-deb and warcio (pip install warcio==1.8.1)
    python data/demo/build.py --check   # only read the WARC back and check every record

What it writes, all under data/demo/:

  web/debian-docs.warc.gz  a small "crawl": Japanese (and ~10 % English) HTML pages of Debian manuals as
                           HTTP 200 `response` records of a WARC/1.0 file, one gzip member per record
                           (as Common Crawl ships them), plus a few exact duplicates at a second URL.
  text/*.txt, *.txt.gz     two Japanese software manuals (Emacs SKK, Mew) as plain text the way text
                           corpora such as CC-100 arrive: one document per manual node, one paragraph per
                           line, documents separated by one blank line.
  LICENSES/                licence texts the NOTICE refers to.
  NOTICE, MANIFEST.tsv, README.md

The .deb files are fetched with `apt-get download` into a temporary directory and unpacked there with
`dpkg-deb -x`; nothing is installed. The output is byte-for-byte deterministic for a given set of
package versions: no clock, no randomness, sorted file order, gzip members with mtime 0, WARC-Record-IDs
derived from the target URI (uuid5), WARC-Dates counted from a fixed start.

Python 3.11 standard library + warcio only.
"""

from __future__ import annotations

import argparse
import base64
import csv
import gzip
import hashlib
import html.parser
import importlib.metadata
import io
import os
import pwd
import re
import shutil
import subprocess
import sys
import tempfile
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

try:
    from warcio.archiveiterator import ArchiveIterator
    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter
except ImportError:
    sys.exit("build.py: the Python package 'warcio' is needed (pip install warcio==1.8.1)")

HERE = Path(__file__).resolve().parent

# --------------------------------------------------------------------------------------------------
# Packages, with the version this corpus was last built from (MANIFEST.tsv records the versions actually
# used; a build compares against MANIFEST.tsv when it exists, else against this table). apt-get fetches
# the archive's current candidate: a different version still builds, with a warning, because the
# outputs and their hashes will then differ from the committed ones.
# --------------------------------------------------------------------------------------------------
PACKAGES = {
    "debian-reference-ja": "2.100",           # Debian Reference, Japanese (GPL-2+)
    "debian-handbook": "11.20220922",         # Debian Administrator's Handbook, all languages (GPL-2+ or CC BY-SA 3.0)
    "developers-reference-ja": "12.18",       # Debian Developer's Reference, Japanese (GPL-2+)
    "maint-guide-ja": "1.2.53",               # Debian New Maintainers' Guide, Japanese (GPL-2+)
    "ddskk": "17.1+0.20221030-2",             # Daredevil SKK: its Japanese Info manual (texinfo permission notice)
    "mew": "1:6.8-17",                        # Mew: its Japanese Info manual (permissive)
    "base-files": "12.4+deb12u15",            # only for the text of the GNU GPL v2 (common-licenses/GPL-2)
}

WARC_NAME = "debian-docs.warc.gz"
# Fixed crawl time: record i is dated CRAWL_START + i seconds, plausible and stable.
CRAWL_START = datetime(2024, 3, 4, 0, 0, 0, tzinfo=timezone.utc)

# Where the pages live on the public web. www.debian.org serves its manuals as <page>.<lang>.html under
# /doc/manuals/<manual>/ (Apache content negotiation picks the language); the debian-reference and
# maint-guide packages already use that file naming. developers-reference ships ja/<page>.html, which
# the web site publishes as <page>.ja.html. Every handbook page carries its own
# <link rel="canonical"> (https://debian-handbook.info/browse/<lang>/stable/<page>.html): used as is.
DEBIAN_MANUALS = "https://www.debian.org/doc/manuals"
HANDBOOK = "/usr/share/doc/debian-handbook/html"

# Roughly 10 % of the pages of a Japanese-targeted crawl are in another language: every 7th en-US
# handbook page (sorted by name) gives 19 English pages beside 163 Japanese ones.
ENGLISH_EVERY = 7

# Exact duplicates: the same bytes fetched again at a second URL, as crawls meet them (an index page
# reached both as "dir/" and "dir/index.html", print views). (package, source path, second URL)
DUPLICATES = [
    ("debian-handbook", f"{HANDBOOK}/ja-JP/index.html",
     "https://debian-handbook.info/browse/ja-JP/stable/index.html"),
    ("debian-reference-ja", "/usr/share/debian-reference/ch04.ja.html",
     f"{DEBIAN_MANUALS}/debian-reference/ch04.ja.html?print=1"),
    ("debian-handbook", f"{HANDBOOK}/ja-JP/sect.apt-get.html",
     "https://debian-handbook.info/browse/ja-JP/stable/sect.apt-get.html?print=1"),
]

# The plain-text corpus. Why these and not the Japanese GNOME Help (gnome-user-docs): in bookworm
# (GNOME 43) that translation is stale, and about 80 % of its text is untranslated English. The SKK
# and Mew manuals were written in Japanese (not translated), so they read like native Japanese prose
# with some Emacs Lisp, which is what a Japanese text corpus mostly holds.
# (package, Info files in reading order, output file in text/)
TEXT_SOURCES = [
    ("ddskk", ["/usr/share/info/skk.info.gz", "/usr/share/info/skk.info-1.gz", "/usr/share/info/skk.info-2.gz"],
     "skk-manual-ja.txt"),
    ("mew", ["/usr/share/info/mew.ja.info.gz"], "mew-manual-ja.txt.gz"),  # gzip-compressed, as corpora often are
]


def log(msg: str) -> None:
    print(msg, flush=True)


def warn(msg: str) -> None:
    print(f"WARNING: {msg}", file=sys.stderr, flush=True)


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# --------------------------------------------------------------------------------------------------
# Fetching and unpacking
# --------------------------------------------------------------------------------------------------
@dataclass
class Package:
    name: str
    version: str
    deb_name: str
    deb_sha256: str
    root: Path  # where the .deb was unpacked

    def path(self, inner: str) -> Path:
        """A file of the package by its installed path, e.g. '/usr/share/doc/x/copyright'."""
        return self.root / inner.lstrip("/")

    def read(self, inner: str) -> bytes:
        p = self.path(inner)
        if not p.is_file():
            raise SystemExit(f"build.py: package {self.name} {self.version} has no file {inner}")
        return p.read_bytes()


def run(cmd: list[str]) -> str:
    res = subprocess.run(cmd, capture_output=True, text=True)
    if res.returncode != 0:
        raise SystemExit(f"build.py: {' '.join(cmd)} exited {res.returncode}: {res.stderr.strip()}")
    return res.stdout


def expected_versions() -> dict[str, str]:
    expected = dict(PACKAGES)
    manifest = HERE / "MANIFEST.tsv"
    if manifest.is_file():
        with manifest.open(encoding="utf-8", newline="") as fh:
            for row in csv.DictReader(fh, delimiter="\t"):
                expected[row["package"]] = row["version"]
    return expected


def fetch(work: Path) -> dict[str, Package]:
    for tool in ("apt-get", "dpkg-deb"):
        if shutil.which(tool) is None:
            raise SystemExit(f"build.py: '{tool}' not found; this script needs a Debian system with APT")
    debs = work / "debs"
    debs.mkdir()
    # apt-get download drops privileges to the '_apt' user; let it write here, or apt falls back to an
    # unsandboxed download and says so in a warning.
    if os.geteuid() == 0:
        try:
            os.chmod(work, 0o755)
            os.chown(debs, pwd.getpwnam("_apt").pw_uid, -1)
        except KeyError:
            pass
    expected = expected_versions()
    packages = {}
    for name in PACKAGES:
        res = subprocess.run(["apt-get", "download", "-q", name], cwd=debs, capture_output=True, text=True)
        found = sorted(debs.glob(f"{name}_*.deb"))
        if res.returncode != 0 or len(found) != 1:
            raise SystemExit(
                f"build.py: could not download the Debian package '{name}' (apt-get download exited "
                f"{res.returncode}): {res.stderr.strip() or 'no .deb file appeared'}\n"
                f"It must be available from your APT sources (Debian 12 bookworm, main); run apt-get update.")
        deb = found[0]
        version = run(["dpkg-deb", "-f", str(deb), "Version"]).strip()
        if version != expected.get(name):
            warn(f"{name}: the archive offers version {version}, the corpus was recorded from "
                 f"{expected.get(name)}; building from {version}, outputs will differ from the committed ones")
        root = work / "root" / name
        root.mkdir(parents=True)
        run(["dpkg-deb", "-x", str(deb), str(root)])
        packages[name] = Package(name, version, deb.name, sha256_bytes(deb.read_bytes()), root)
        log(f"  fetched and unpacked {deb.name} ({deb.stat().st_size / 1e6:.1f} MB)")
    return packages


# --------------------------------------------------------------------------------------------------
# The WARC
# --------------------------------------------------------------------------------------------------
@dataclass
class Page:
    package: str
    source: str   # installed path inside the package
    url: str
    lang: str     # 'ja' or 'en': the language edition the page belongs to
    body: bytes
    duplicate_of: str | None = None


def collect_pages(pk: dict[str, Package]) -> list[Page]:
    pages: list[Page] = []

    def add(pkg: Package, path: Path, url: str, lang: str) -> None:
        source = "/" + path.relative_to(pkg.root).as_posix()
        pages.append(Page(pkg.name, source, url, lang, path.read_bytes()))

    # Debian Reference: every chapter page (the PDF and plain-text editions are not web pages).
    ref = pk["debian-reference-ja"]
    for p in sorted(ref.path("/usr/share/debian-reference").glob("*.ja.html")):
        add(ref, p, f"{DEBIAN_MANUALS}/debian-reference/{p.name}", "ja")

    # Administrator's Handbook: all ja-JP pages, every ENGLISH_EVERY-th en-US page.
    hb = pk["debian-handbook"]
    for lang in ("ja-JP", "en-US"):
        files = sorted(hb.path(f"{HANDBOOK}/{lang}").glob("*.html"))
        for p in files[::ENGLISH_EVERY] if lang == "en-US" else files:
            m = re.search(rb'<link[^>]*rel="canonical"[^>]*href="([^"]+)"', p.read_bytes())
            url = m.group(1).decode("ascii") if m else f"https://debian-handbook.info/browse/{lang}/stable/{p.name}"
            add(hb, p, url, lang[:2])

    # Developer's Reference: the chapters and the contents page. Left out: developers-reference.html
    # (every chapter again on one page) and search.html (an empty shell filled in by JavaScript).
    dr = pk["developers-reference-ja"]
    for p in sorted(dr.path("/usr/share/developers-reference/ja").glob("*.html")):
        if p.name not in ("developers-reference.html", "search.html"):
            add(dr, p, f"{DEBIAN_MANUALS}/developers-reference/{p.stem}.ja.html", "ja")

    # New Maintainers' Guide: every page.
    mg = pk["maint-guide-ja"]
    for p in sorted(mg.path("/usr/share/doc/maint-guide-ja/html").glob("*.ja.html")):
        add(mg, p, f"{DEBIAN_MANUALS}/maint-guide/{p.name}", "ja")

    by_source = {(pg.package, pg.source): pg for pg in pages}
    for package, source, url in DUPLICATES:
        orig = by_source.get((package, source))
        if orig is None:
            raise SystemExit(f"build.py: duplicate source {source} is not among the pages taken from {package}")
        pages.append(Page(package, source, url, orig.lang, orig.body, duplicate_of=orig.url))

    if len({pg.url for pg in pages}) != len(pages):
        raise SystemExit("build.py: two pages were given the same URL")
    # Crawl order: a crawler does not fetch one manual after another, so records are ordered by a hash
    # of their URL; deterministic, and hosts, manuals and languages interleave as in a real WARC file.
    pages.sort(key=lambda pg: hashlib.sha1(pg.url.encode("utf-8")).hexdigest())
    return pages


def record_id(name: str) -> str:
    return f"<urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, name)}>"


def warc_date(i: int) -> str:
    return (CRAWL_START + timedelta(seconds=i)).strftime("%Y-%m-%dT%H:%M:%SZ")


def html_charset(body: bytes) -> str:
    """The charset the page declares in its <meta> (all pages used here declare UTF-8)."""
    m = re.search(rb'<meta[^>]*charset\s*=\s*["\']?([A-Za-z0-9_-]+)', body[:4096], re.I)
    return m.group(1).decode("ascii").lower() if m else "utf-8"


def write_warc(pages: list[Page], out: Path) -> None:
    buf = io.BytesIO()
    writer = WARCWriter(buf, gzip=True, warc_version="1.0")
    info_id = record_id(f"warcinfo:{WARC_NAME}")
    fields = [
        ("software", f"Hagane data/demo/build.py (warcio {importlib.metadata.version('warcio')})"),
        ("format", "WARC File Format 1.0"),
        ("conformsTo", "https://iipc.github.io/warc-specifications/specifications/warc-format/warc-1.0/"),
        ("isPartOf", "hagane-demo"),
        ("description", "Hagane demo crawl. Not fetched from the web: pages of Debian documentation packages "
                        "served from the public URL of each page. See data/demo/NOTICE and MANIFEST.tsv."),
        ("operator", "Hagane demo corpus builder"),
    ]
    info = "".join(f"{k}: {v}\r\n" for k, v in fields).encode("utf-8")
    writer.write_record(writer.create_warc_record(
        "", "warcinfo", payload=io.BytesIO(info), length=len(info), warc_content_type="application/warc-fields",
        warc_headers_dict={"WARC-Record-ID": info_id, "WARC-Date": warc_date(0), "WARC-Filename": WARC_NAME}))
    for i, pg in enumerate(pages, start=1):
        http = StatusAndHeaders("200 OK", [
            ("Content-Type", f"text/html; charset={html_charset(pg.body)}"),
            ("Content-Length", str(len(pg.body))),
        ], protocol="HTTP/1.1")
        writer.write_record(writer.create_warc_record(
            pg.url, "response", payload=io.BytesIO(pg.body), length=len(pg.body), http_headers=http,
            warc_headers_dict={"WARC-Record-ID": record_id(pg.url), "WARC-Date": warc_date(i),
                               "WARC-Warcinfo-ID": info_id, "WARC-Identified-Payload-Type": "text/html"}))
    out.write_bytes(buf.getvalue())


def check_warc(path: Path) -> dict[str, int]:
    """Read the WARC back: warcinfo first, every record complete, HTTP Content-Length and digest right."""
    counts = {"warcinfo": 0, "response": 0}
    with path.open("rb") as fh:
        for i, rec in enumerate(ArchiveIterator(fh)):
            if (i == 0) != (rec.rec_type == "warcinfo"):
                raise SystemExit("check: the warcinfo record must come first, and only there")
            counts[rec.rec_type] = counts.get(rec.rec_type, 0) + 1
            body = rec.content_stream().read()
            uri = rec.rec_headers.get_header("WARC-Target-URI")
            if rec.raw_stream.limit != 0:  # warcio returns a cut record as if whole: check it ourselves
                raise SystemExit(f"check: truncated record {rec.rec_headers.get_header('WARC-Record-ID')}")
            if rec.rec_type == "response":
                if int(rec.http_headers.get_header("Content-Length")) != len(body):
                    raise SystemExit(f"check: {uri}: body of {len(body)} bytes disagrees with Content-Length")
                digest = "sha1:" + base64.b32encode(hashlib.sha1(body).digest()).decode("ascii")
                if rec.rec_headers.get_header("WARC-Payload-Digest") != digest:
                    raise SystemExit(f"check: {uri}: WARC-Payload-Digest does not match the body")
    return counts


class VisibleText(html.parser.HTMLParser):
    """Text a browser shows (outside <head>, <script>, <style>). Used only for the statistics."""

    HIDDEN = {"head", "script", "style", "title"}

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.depth = 0
        self.parts: list[str] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.HIDDEN:
            self.depth += 1

    def handle_endtag(self, tag):
        if tag in self.HIDDEN and self.depth:
            self.depth -= 1

    def handle_data(self, data):
        if not self.depth:
            self.parts.append(data)


def visible_text(body: bytes) -> str:
    p = VisibleText()
    p.feed(body.decode(html_charset(body), errors="replace"))
    p.close()
    return re.sub(r"\s+", " ", "".join(p.parts)).strip()


# --------------------------------------------------------------------------------------------------
# Info manuals -> plain text
# --------------------------------------------------------------------------------------------------
# An Info file is a sequence of nodes separated by \x1f; each node starts with a "File: ..., Node: ..."
# line. One node becomes one document. Inside a node: heading underlines, menus (navigation, like a
# web page's link list) and the footnote separator line are dropped; paragraphs that makeinfo wrapped
# at ~72 columns are joined back into one line; example lines (code) stay one line each.
JA = r"\u3000-\u303f\u3040-\u30ff\u4e00-\u9fff\uff01-\uff60"  # Japanese punctuation, kana, kanji, full-width
IS_JA = re.compile(f"[{JA}]")
WRAP_COLUMNS = 60     # a line this wide (in display columns) was most likely wrapped by the formatter
CODE_INDENT = 5       # makeinfo indents examples (and list and table bodies) by 5 spaces
NEW_ITEM = re.compile(r"(•|\*|-|\d+\.|\(\d+\)) ")  # list item or footnote


def display_width(s: str) -> int:
    return sum(2 if unicodedata.east_asian_width(c) in "WF" else 1 for c in s)


def indent(s: str) -> int:
    return len(s) - len(s.lstrip(" "))


def joins(prev: str, cur: str) -> bool:
    """Does raw line `cur` continue the paragraph line `prev` (which the formatter wrapped)?"""
    if display_width(prev.rstrip()) < WRAP_COLUMNS or NEW_ITEM.match(cur.strip()):
        return False
    if indent(prev) >= 20 or indent(cur) >= 20:
        return False  # centred or right-aligned lines (author, date) stand alone
    if IS_JA.match(prev.rstrip()[-1]) or IS_JA.match(cur.strip()[0]):
        return True  # Japanese text wrapped mid-sentence
    # ASCII at the seam: prose if the wrapped line holds Japanese or neither line is indented like an
    # example; otherwise it is code, kept line by line.
    return bool(IS_JA.search(prev)) or (indent(prev) < CODE_INDENT and indent(cur) < CODE_INDENT)


def unwrap(block: list[str]) -> list[str]:
    out: list[str] = []
    prev_raw = ""
    for raw in block:
        text = raw.strip()
        if out and joins(prev_raw, raw):
            sep = "" if IS_JA.match(out[-1][-1]) and IS_JA.match(text[0]) else " "
            out[-1] = out[-1] + sep + text
        else:
            out.append(text)
        prev_raw = raw
    return out


def tidy(line: str) -> str:
    # Cross-references: "*Note 設定ファイル::" reads as "設定ファイル", "*Note label: node." as "label".
    line = re.sub(r"\*[Nn]ote\s+([^:]+?)::", r"\1", line)
    line = re.sub(r"\*[Nn]ote\s+([^:]+?):\s*[^.,]*[.,]", r"\1", line)
    # makeinfo turns the line breaks of the texinfo source into spaces even between two Japanese
    # characters ("コ マンド"); Japanese puts no space there.
    return re.sub(f"(?<=[{JA}]) (?=[{JA}])", "", line)


def info_preamble(chunk: str) -> list[str]:
    """The text before an Info file's first node without the formatter's and the directory's lines:
    for the SKK manual, its permission notice, which must be preserved on all copies."""
    kept, in_dir = [], False
    for line in chunk.split("\n"):
        if line.startswith("START-INFO-DIR-ENTRY"):
            in_dir = True
        elif line.startswith("END-INFO-DIR-ENTRY"):
            in_dir = False
        elif not (in_dir or re.match(r"(This is |Info file:|produced by|from file|using |INFO-DIR-SECTION)", line)):
            kept.append(line)
    blocks, cur = [], []
    for line in kept + [""]:
        if line.strip():
            cur.append(line)
        elif cur:
            blocks.append(" ".join(l.strip() for l in cur))
            cur = []
    return blocks


def info_documents(text: str, keep_preamble: bool = False) -> list[tuple[str, str]]:
    """(node name, document text) for every node that holds more than its heading; with keep_preamble,
    the text before the first node (see info_preamble) comes first as a document of its own."""
    docs = []
    chunks = text.split("\x1f")
    if keep_preamble and (pre := info_preamble(chunks[0])):
        docs.append(("(preamble)", "\n".join(pre)))
    for chunk in chunks:
        lines = chunk.strip("\n").split("\n")
        m = re.match(r"File: [^,]+,\s+Node: ([^,]+)", lines[0])
        if not m:
            continue  # the file's preamble, the indirect table or the tag table
        blocks: list[list[str]] = [[]]
        in_menu = False
        for raw in (l.rstrip() for l in lines[1:]):
            stripped = raw.strip()
            if re.fullmatch(r"-+ Footnotes -+", stripped):
                in_menu = False
                blocks.append([])
            elif stripped == "* Menu:":
                in_menu = True
            elif in_menu:
                continue
            elif not stripped or (re.fullmatch(r"[*=\-.]{3,}", stripped) and blocks[-1]):
                blocks.append([])  # paragraph break, or the underline of a heading
            else:
                blocks[-1].append(raw)
        body = [tidy(l) for b in blocks if b for l in unwrap(b)]
        body = [l for l in body if l]
        if len(body) > 1:
            docs.append((m.group(1).strip(), "\n".join(body)))
    return docs


# --------------------------------------------------------------------------------------------------
# NOTICE, licences, README
# --------------------------------------------------------------------------------------------------
def dep5_stanzas(text: str) -> list[dict[str, str]]:
    """Stanzas of a machine-readable (DEP-5) debian/copyright file, continuation lines kept."""
    out = []
    for stanza in re.split(r"\n[ \t]*\n", text):
        fields: dict[str, str] = {}
        key = None
        for line in stanza.splitlines():
            if line[:1] in (" ", "\t") and key:
                fields[key] += "\n" + line.strip()
            elif re.match(r"[A-Za-z-]+:", line):
                key, _, val = line.partition(":")
                fields[key] = val.strip()
        out.append(fields)
    return out


def license_text(stanzas: list[dict[str, str]], name: str) -> str:
    """The text of licence `name`: from a stand-alone 'License:' paragraph, or given in a Files stanza."""
    # A stand-alone paragraph first; a Files stanza may hold only a pointer such as "On Debian systems...".
    for st in sorted(stanzas, key=lambda st: "Files" in st):
        first, _, rest = st.get("License", "").partition("\n")
        if first == name and rest:
            return "\n".join("" if l == "." else l for l in rest.split("\n")) + "\n"
    raise SystemExit(f"build.py: no text for licence {name} in the copyright file")


# What was taken from each package, how it was transformed, and which stanza of its debian/copyright
# covers it: package -> (Files pattern of that stanza, or None for a non-DEP-5 file; licence; what was taken)
TAKEN = {
    "debian-reference-ja": ("*", "GPL-2+ (GNU GPL version 2 or any later version).", (
        "All {n} HTML pages of the Japanese Debian Reference (/usr/share/debian-reference/*.ja.html), "
        "byte for byte, each as the body of an HTTP response record in web/debian-docs.warc.gz. "
        "Its debian/copyright states that the translators licensed their work under the same terms.")),
    "debian-handbook": ("*", "GPL-2.0+ or CC-BY-SA-3.0, at the recipient's choice, as upstream offers it.", (
        "All {n_ja} ja-JP HTML pages and {n_en} en-US HTML pages (every {every}th by name) of The "
        "Debian Administrator's Handbook (/usr/share/doc/debian-handbook/html/), byte for byte, as HTTP "
        "response records in web/debian-docs.warc.gz.")),
    "developers-reference-ja": ("*", "GPL-2 in debian/copyright, whose text reads: version 2 or any later version.", (
        "{n} HTML pages of the Japanese Debian Developer's Reference (/usr/share/developers-reference/ja/"
        "*.html, without the one-page edition developers-reference.html and search.html), byte for "
        "byte, as HTTP response records in web/debian-docs.warc.gz.")),
    "maint-guide-ja": ("*", "GPL-2.0+ (GNU GPL version 2 or any later version).", (
        "All {n} HTML pages of the Japanese Debian New Maintainers' Guide "
        "(/usr/share/doc/maint-guide-ja/html/*.ja.html), byte for byte, as HTTP response records in "
        "web/debian-docs.warc.gz. (The page style sheet, MIT-licensed, is not included.)")),
    "ddskk": ("doc/skk.texi docs/*.rst", "The texinfo permission notice quoted below ('copyleft-texi'): "
              "verbatim and modified copies may be distributed if this notice is preserved and the derived "
              "work carries an identical notice. It applies to text/{file}.", (
        "The Japanese SKK manual (Info files /usr/share/info/skk.info*.gz, made by makeinfo from skk.texi), "
        "turned into plain text in text/{file}: {n} documents: the manual's permission notice (from the "
        "head of skk.info) first, then one per Info node (nodes holding only a heading, such as index "
        "nodes, are left out); heading underlines, menus and the footnote "
        "separator removed; lines wrapped by makeinfo joined back into one line per paragraph, example "
        "lines kept one per line without their indentation; cross-references '*Note X::' written as 'X'; "
        "a space between two Japanese characters (a makeinfo artifact) removed. No other change.")),
    "mew": ("info/*", "'permissive-info' (quoted below): copy, modify and redistribute are permitted.", (
        "The Japanese Mew manual (/usr/share/info/mew.ja.info.gz), turned into plain text in text/{file} "
        "(gzip-compressed) exactly as the SKK manual above: {n} documents, one per Info node (the "
        "file has no text before its first node; its licence is stated in its node 著作権について).")),
    "base-files": (None, "The GNU GPL text itself: 'Everyone is permitted to copy and distribute verbatim "
                         "copies of this license document, but changing it is not allowed.'", (
        "Only /usr/share/common-licenses/GPL-2, copied verbatim to LICENSES/GPL-2.")),
}


def wrap(text: str, width: int = 88) -> list[str]:
    lines, cur = [], ""
    for w in text.split():
        if cur and len(cur) + 1 + len(w) > width:
            lines.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}" if cur else w
    return lines + ([cur] if cur else [])


def notice(pk: dict[str, Package], counts: dict[str, dict]) -> str:
    out = [
        "Hagane demo corpus (data/demo/): NOTICE",
        "",
        "The files in data/demo/web/ and data/demo/text/ are not Hagane's source code and are not under",
        "Hagane's licence. They are documentation written by the Debian project and by the SKK and Mew",
        "developers, taken from Debian 12 (bookworm) binary packages by data/demo/build.py, and are",
        "redistributed under their own licences, given below per package. Licence texts: LICENSES/GPL-2",
        "(GNU General Public License version 2) and LICENSES/CC-BY-SA-3.0 (Creative Commons",
        "Attribution-ShareAlike 3.0 Unported); the two short permission notices are quoted in full below.",
        "",
        "The GPL-licensed manuals are included in the HTML form in which Debian distributes them. Their",
        "source (DocBook XML, reStructuredText and PO translation files) is in the Debian source packages",
        "of the same name and version (https://sources.debian.org/, https://snapshot.debian.org/) and in the",
        "upstream repositories named below.",
        "",
        "web/debian-docs.warc.gz only imitates a crawl: no page was fetched from the web. Each page is",
        "served from the public URL where the same document is published, so that the URL names its",
        "origin. MANIFEST.tsv maps every WARC record and text document to its package, version, file and",
        "sha256.",
        "",
    ]
    for name in PACKAGES:
        p = pk[name]
        files_pattern, lic, taken = TAKEN[name]
        cr = p.read(f"/usr/share/doc/{name}/copyright").decode("utf-8")
        stanzas = dep5_stanzas(cr)
        header = stanzas[0] if stanzas else {}
        upstream = header.get("Upstream-Name", name)
        for k in ("Source", "Upstream-Contact"):
            if header.get(k):
                upstream += f", {header[k]}"
        if files_pattern is None:
            holders = ["Free Software Foundation, Inc. (the text of the GNU General Public License)"]
        else:
            st = next((s for s in stanzas if s.get("Files", "").split() == files_pattern.split()), None)
            if st is None:
                raise SystemExit(f"build.py: {name}: no 'Files: {files_pattern}' stanza in its copyright file")
            holders = [h for h in st.get("Copyright", "").split("\n") if h]
        out += [
            "-" * 100,
            f"Package:    {name} {p.version} (Debian bookworm; {p.deb_name}, sha256 {p.deb_sha256})",
            f"Upstream:   {upstream}",
            "Copyright:  " + "\n            ".join(
                l for h in holders for l in (wrap(h) if len(h) > 88 else [h])),
            "License:    " + "\n            ".join(wrap(lic.format(**counts.get(name, {})))),
            "Taken:      " + "\n            ".join(wrap(taken.format(**counts.get(name, {})))),
        ]
        if name in ("ddskk", "mew"):
            lic_name = next(s for s in stanzas if s.get("Files", "").split() == files_pattern.split())["License"]
            lic_name = lic_name.split("\n")[0]
            out.append(f"Licence text ({lic_name}, from debian/copyright):")
            out += ["    " + l if l else "" for l in license_text(stanzas, lic_name).rstrip("\n").split("\n")]
        out.append(f"Full copyright file: /usr/share/doc/{name}/copyright in the package.")
        out.append("")
    return "\n".join(out) + "\n"


def readme(s: dict) -> str:
    t1, t2 = (f for _, _, f in TEXT_SOURCES)
    return f"""# Hagane demo data

Small, redistributable Japanese sources that the default configuration runs on. Everything here is
built by `build.py` from Debian 12 (bookworm) documentation packages. `NOTICE` names the packages, their
authors and licences (GPL-2+, CC BY-SA 3.0, two permissive manual licences) and what was changed;
`MANIFEST.tsv` says where every WARC record and text document came from (package, version, file, sha256).

| path | what | bytes |
|---|---|---|
| `web/{WARC_NAME}` | WARC/1.0, one gzip member per record (as Common Crawl): 1 `warcinfo` + {s['records']} `response` records (HTTP/1.1 200, HTML, UTF-8) | {s['warc_size']:,} |
| `text/{t1}` | plain text: the SKK manual, {s['docs'][0]} documents | {s['text_sizes'][0]:,} |
| `text/{t2}` | plain text, gzip-compressed: the Mew manual, {s['docs'][1]} documents | {s['text_sizes'][1]:,} |
| `NOTICE`, `LICENSES/` | provenance, copyright holders, licences | |
| `MANIFEST.tsv` | `package version source_file source_sha256 output_file output_locator` | |

**Web crawl** (`web/`): {s['ja_pages']} Japanese pages (Debian Reference, Debian Administrator's Handbook,
Developer's Reference, New Maintainers' Guide), {s['en_pages']} English pages (the handbook's en-US edition)
and {s['dup_pages']} exact duplicates of Japanese pages served again at a second URL (`index.html`,
`?print=1`). The Japanese pages hold {s['ja_visible_chars']:,} characters ({s['ja_visible_bytes']:,} bytes of
UTF-8) of visible text, part of it untranslated English, commands and code, as real pages do.
`WARC-Target-URI` is the public URL of the same page; records are in a fixed order that mixes hosts
and languages (by a hash of the URL); `WARC-Record-ID` is uuid5 of the URL.

**Text corpus** (`text/`): two manuals written in Japanese, in the form of corpora such as CC-100: UTF-8,
one document per block (one Info node; first line its heading), one paragraph per line, one blank line
between documents. {sum(s['docs'])} documents, {s['text_chars']:,} characters. The output locator
`FILE#N` in MANIFEST.tsv is the N-th document (from 1) of that file.

## Rebuild

    python data/demo/build.py

Needs a Debian system with bookworm `main` in its APT sources (`apt-get download`, `dpkg-deb`; nothing
is installed) and Python 3.11 with `warcio` (`pip install warcio==1.8.1`). The output is byte-identical
on every run for the same package versions; if the archive offers another version than the one in
MANIFEST.tsv, the script warns and builds from it. `python data/demo/build.py --check` reads the WARC
back and checks every record.
"""


# --------------------------------------------------------------------------------------------------
def build() -> None:
    log(f"Building the Hagane demo corpus in {HERE}")
    with tempfile.TemporaryDirectory(prefix="hagane-demo-") as tmp:
        pk = fetch(Path(tmp))

        # -- web ---------------------------------------------------------------------------------
        pages = collect_pages(pk)
        (HERE / "web").mkdir(exist_ok=True)
        for stale in (HERE / "web").glob("*.warc.gz"):
            stale.unlink()
        warc_path = HERE / "web" / WARC_NAME
        write_warc(pages, warc_path)
        firsts = [pg for pg in pages if pg.duplicate_of is None]
        ja = [pg for pg in firsts if pg.lang == "ja"]
        vis = [visible_text(pg.body) for pg in ja]
        log(f"  wrote web/{WARC_NAME}: {len(pages)} response records ({len(ja)} ja, {len(firsts) - len(ja)} en, "
            f"{len(pages) - len(firsts)} duplicates), {warc_path.stat().st_size:,} bytes")

        # -- text --------------------------------------------------------------------------------
        (HERE / "text").mkdir(exist_ok=True)
        for stale in (HERE / "text").glob("*.txt*"):
            stale.unlink()
        text_rows, text_sizes, n_docs, text_chars = [], [], [], 0
        for package, info_files, fname in TEXT_SOURCES:
            p = pk[package]
            docs = []
            for i, inner in enumerate(info_files):
                raw = gzip.decompress(p.read(inner)).decode("utf-8")
                # The split files (skk.info-1, -2) repeat the first file's preamble: keep it once.
                docs += [(inner, node, text) for node, text in info_documents(raw, keep_preamble=i == 0)]
            data = ("\n\n".join(text for _, _, text in docs) + "\n").encode("utf-8")
            if fname.endswith(".gz"):
                data = gzip.compress(data, compresslevel=9, mtime=0)
            (HERE / "text" / fname).write_bytes(data)
            text_sizes.append(len(data))
            n_docs.append(len(docs))
            text_chars += sum(len(t) for _, _, t in docs)
            text_rows += [(package, inner, fname, n) for n, (inner, _, _) in enumerate(docs, start=1)]
            log(f"  wrote text/{fname}: {len(docs)} documents, {sum(len(t) for _, _, t in docs):,} characters")

        # -- licences ----------------------------------------------------------------------------
        lic = HERE / "LICENSES"
        lic.mkdir(exist_ok=True)
        gpl2 = pk["base-files"].read("/usr/share/common-licenses/GPL-2")
        (lic / "GPL-2").write_bytes(gpl2)
        hb_cr = pk["debian-handbook"].read("/usr/share/doc/debian-handbook/copyright")
        (lic / "CC-BY-SA-3.0").write_text(license_text(dep5_stanzas(hb_cr.decode("utf-8")), "CC-BY-SA-3.0"),
                                          encoding="utf-8")

        # -- NOTICE ------------------------------------------------------------------------------
        def n_of(package: str, lang: str | None = None) -> int:
            return sum(1 for pg in firsts if pg.package == package and lang in (None, pg.lang))

        counts = {
            "debian-reference-ja": {"n": n_of("debian-reference-ja")},
            "debian-handbook": {"n_ja": n_of("debian-handbook", "ja"), "n_en": n_of("debian-handbook", "en"),
                                "every": ENGLISH_EVERY},
            "developers-reference-ja": {"n": n_of("developers-reference-ja")},
            "maint-guide-ja": {"n": n_of("maint-guide-ja")},
            "ddskk": {"n": n_docs[0], "file": TEXT_SOURCES[0][2]},
            "mew": {"n": n_docs[1], "file": TEXT_SOURCES[1][2]},
        }
        (HERE / "NOTICE").write_text(notice(pk, counts), encoding="utf-8")

        # -- MANIFEST ----------------------------------------------------------------------------
        rows = [(pg.package, pk[pg.package].version, pg.source, sha256_bytes(pg.body), f"web/{WARC_NAME}", pg.url)
                for pg in pages]
        rows += [(package, pk[package].version, inner, sha256_bytes(pk[package].read(inner)), f"text/{fname}",
                  f"{fname}#{n}") for package, inner, fname, n in text_rows]
        rows.append(("base-files", pk["base-files"].version, "/usr/share/common-licenses/GPL-2",
                     sha256_bytes(gpl2), "LICENSES/GPL-2", "whole file"))
        rows.append(("debian-handbook", pk["debian-handbook"].version, "/usr/share/doc/debian-handbook/copyright",
                     sha256_bytes(hb_cr), "LICENSES/CC-BY-SA-3.0", "License: CC-BY-SA-3.0 paragraph"))
        for name in PACKAGES:
            cr = f"/usr/share/doc/{name}/copyright"
            rows.append((name, pk[name].version, cr, sha256_bytes(pk[name].read(cr)), "NOTICE", f"Package: {name}"))
        with (HERE / "MANIFEST.tsv").open("w", encoding="utf-8", newline="") as fh:
            fh.write("package\tversion\tsource_file\tsource_sha256\toutput_file\toutput_locator\n")
            for r in rows:
                if any("\t" in c or "\n" in c for c in r):
                    raise SystemExit(f"build.py: a MANIFEST field holds a tab or newline: {r}")
                fh.write("\t".join(r) + "\n")

        # -- README ------------------------------------------------------------------------------
        stats = {
            "records": len(pages), "warc_size": warc_path.stat().st_size, "ja_pages": len(ja),
            "en_pages": len(firsts) - len(ja), "dup_pages": len(pages) - len(firsts),
            "ja_visible_chars": sum(len(v) for v in vis), "ja_visible_bytes": sum(len(v.encode()) for v in vis),
            "docs": n_docs, "text_chars": text_chars, "text_sizes": text_sizes,
        }
        (HERE / "README.md").write_text(readme(stats), encoding="utf-8")
        log(f"  Japanese visible text in the WARC: {stats['ja_visible_chars']:,} characters, "
            f"{stats['ja_visible_bytes']:,} bytes")
        log(f"  wrote LICENSES/GPL-2, LICENSES/CC-BY-SA-3.0, NOTICE, MANIFEST.tsv ({len(rows)} rows), README.md")

    c = check_warc(warc_path)
    log(f"Checked web/{WARC_NAME}: {c['warcinfo']} warcinfo + {c['response']} response records, all complete.")


def main() -> None:
    ap = argparse.ArgumentParser(description="Rebuild Hagane's demo corpus from Debian packages.")
    ap.add_argument("--check", action="store_true", help="only read the WARC back and check every record")
    if ap.parse_args().check:
        c = check_warc(HERE / "web" / WARC_NAME)
        print(f"web/{WARC_NAME}: {c['warcinfo']} warcinfo + {c['response']} response records, all complete")
    else:
        build()


if __name__ == "__main__":
    main()

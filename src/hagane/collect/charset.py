"""The charset of a fetched page, decided from its bytes first, as browsers do, then from what it declares.

A server's Content-Type header often lies: old Apache configurations add `charset=ISO-8859-1` to every
page, whatever its bytes. A Latin-1 (or windows-1252, or ASCII) label decodes any bytes at all, so trying
it never fails over and a UTF-8 or Shift_JIS page comes out as mojibake. The order, first that decodes the
whole body wins, recorded in `origin.charset_from`:

1. `bom`: a byte-order mark (UTF-8, UTF-16 LE/BE) — unambiguous, and browsers let it beat the header;
2. `utf8_bytes`: a body that is valid UTF-8 and holds multi-byte sequences is UTF-8 — text in any other
   multi-byte or 8-bit charset is almost never valid UTF-8 by chance;
3. `header`, then `meta`: the declarations, each tried as its vendor supersets (_CANDIDATES). A Western
   single-byte label (ISO-8859-1, windows-1252, ASCII) proves nothing on non-ASCII bytes, so it comes
   after the other declaration and after a detector that finds an East Asian multi-byte charset;
4. `detected`: charset-normalizer's best guess, where nothing is declared or no declaration decodes;
5. `default`: UTF-8, for an ASCII page that declares nothing.
"""

from __future__ import annotations

import codecs
import dataclasses
import re

_CHARSET_IN_HEADER = re.compile(r"charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)
_CHARSET_IN_META = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?([A-Za-z0-9_.:-]+)", re.I)
# Where a page declares no charset at all, UTF-8 is by far the most common on today's Japanese web.
DEFAULT_CHARSET = "utf-8"
CHARSET_FROM = ("bom", "utf8_bytes", "header", "meta", "detected", "default")

# A label names a family of encodings: real pages use the vendor supersets, so each label is tried as its
# supersets first and strictly last. ①, ～ and 髙 are not in strict Shift_JIS; ISO-2022-JP mail-era pages
# carry half-width katakana (iso2022_jp_ext) or JIS X 0213 characters (iso2022_jp_2004). The first codec
# that decodes the whole page wins and is recorded in `origin.charset`.
_CANDIDATES = {
    "shift_jis": ("cp932", "shift_jis_2004"),
    "euc-jp": ("euc_jis_2004", "euc_jp"),
    "iso-2022-jp": ("iso2022_jp", "iso2022_jp_ext", "iso2022_jp_2004", "iso2022_jp_2"),
}
# Labels as pages write them, and Python's codec names as the detector returns them, to a family above.
_ALIASES = {"shift-jis": "shift_jis", "sjis": "shift_jis", "x-sjis": "shift_jis", "windows-31j": "shift_jis",
            "cp932": "shift_jis", "ms_kanji": "shift_jis", "shift_jis_2004": "shift_jis",
            "shift_jisx0213": "shift_jis", "x-euc-jp": "euc-jp", "eucjp": "euc-jp", "euc_jp": "euc-jp",
            "euc_jis_2004": "euc-jp", "euc_jisx0213": "euc-jp", "csiso2022jp": "iso-2022-jp",
            "iso2022jp": "iso-2022-jp", "iso2022_jp": "iso-2022-jp", "iso2022_jp_ext": "iso-2022-jp",
            "iso2022_jp_2004": "iso-2022-jp", "iso2022_jp_2": "iso-2022-jp"}
_WESTERN_SINGLE_BYTE = {"iso8859-1", "cp1252", "ascii"}  # Python's names for ISO-8859-1, windows-1252, ASCII
_EAST_ASIAN_MULTIBYTE = {"cp932", "shift_jis", "shift_jis_2004", "shift_jisx0213", "euc_jp", "euc_jis_2004",
                         "euc_jisx0213", "iso2022_jp", "iso2022_jp_1", "iso2022_jp_2", "iso2022_jp_2004",
                         "iso2022_jp_3", "iso2022_jp_ext", "gb2312", "gbk", "gb18030", "big5", "big5hkscs",
                         "cp950", "euc_kr", "cp949", "johab", "iso2022_kr", "hz"}
_BOMS = ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"), (codecs.BOM_UTF16_BE, "utf-16-be"))
# ESC sequences that switch ISO-2022-JP into JIS X 0208/0212/0213 or half-width katakana: 7-bit text that
# holds them is not plain ASCII.
_ISO2022_ESCAPES = (b"\x1b$@", b"\x1b$B", b"\x1b$(D", b"\x1b$(O", b"\x1b$(Q", b"\x1b(I", b"\x1b(J")


class UndecodablePage(ValueError):
    """No charset decodes the page; the message lists what was tried."""


@dataclasses.dataclass(frozen=True)
class Decoded:
    text: str
    codec: str  # the Python codec that decoded it (origin.charset)
    decided_by: str  # one of CHARSET_FROM (origin.charset_from)


def declared_in_header(content_type: str | None) -> str | None:
    m = _CHARSET_IN_HEADER.search(content_type or "")
    return m.group(1).lower() if m else None


def declared_in_meta(body: bytes) -> str | None:
    m = _CHARSET_IN_META.search(body[:4096])
    return m.group(1).decode("ascii").lower() if m else None


def _python_name(label: str) -> str | None:
    try:
        return codecs.lookup(label).name
    except LookupError:
        return None


def _decode(body: bytes, label: str) -> tuple[str, str] | None:
    """(text, codec) for the first of the label's supersets that decodes the whole body, else None."""
    family = _ALIASES.get(label, label)
    for codec in _CANDIDATES.get(family, (label,)):
        try:
            return body.decode(codec), codec
        except (UnicodeDecodeError, LookupError):
            continue
    return None


def _detect(body: bytes) -> str | None:
    from charset_normalizer import from_bytes  # imported here: only pages that declare nothing usable pay

    best = from_bytes(body).best()
    return best.encoding if best is not None else None


def decode_page(content_type: str | None, body: bytes) -> Decoded:
    """Decide the page's charset and decode it; raises UndecodablePage when nothing decodes it."""
    for bom, codec in _BOMS:
        if body.startswith(bom):
            try:
                return Decoded(body[len(bom):].decode(codec), codec, "bom")
            except UnicodeDecodeError:
                break  # a mark over broken bytes: let the declarations and the detector try
    if not body.isascii():
        try:
            return Decoded(body.decode("utf-8"), "utf-8", "utf8_bytes")
        except UnicodeDecodeError:
            pass
    # A UTF-16 or UTF-32 label without a byte-order mark would turn ASCII markup into CJK-looking noise;
    # browsers ignore it too.
    declared = [(label, origin) for label, origin in ((declared_in_header(content_type), "header"),
                                                      (declared_in_meta(body), "meta"))
                if label and not label.startswith(("utf-16", "utf-32", "utf16", "utf32"))]
    weak = [(label, origin) for label, origin in declared
            if _python_name(label) in _WESTERN_SINGLE_BYTE and not body.isascii()]
    for label, origin in declared:
        if (label, origin) not in weak and (decoded := _decode(body, label)):
            return Decoded(*decoded, origin)
    if not body.isascii() or any(escape in body for escape in _ISO2022_ESCAPES):
        detected = _detect(body)
        if detected and (not weak or _python_name(detected) in _EAST_ASIAN_MULTIBYTE):
            if decoded := _decode(body, detected):
                return Decoded(*decoded, "detected")
    for label, origin in weak:
        if decoded := _decode(body, label):
            return Decoded(*decoded, origin)
    if body.isascii():
        return Decoded(body.decode("ascii"), DEFAULT_CHARSET, "default")
    tried = ", ".join(f"{origin} {label}" for label, origin in declared) or "no declaration"
    raise UndecodablePage(f"not UTF-8, and neither {tried} nor a detected charset decodes it")

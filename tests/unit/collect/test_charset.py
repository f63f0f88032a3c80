"""A page's charset, decided from its bytes first: byte-order mark, UTF-8 bytes, declarations, detector."""

import codecs

import pytest
from warcio.warcwriter import WARCWriter

from conftest import JA_PARAGRAPHS
from hagane.collect import DOCUMENTS, collect_file
from hagane.collect.charset import UndecodablePage, decode_page
from hagane.config import source_config
from hagane.io import read_jsonl_zst
from test_warc import page, response

JA = "\n".join(JA_PARAGRAPHS)
PAGE = page(JA, "鋼の話")


@pytest.mark.parametrize(("content_type", "body", "codec", "decided_by"), [
    ("text/html; charset=ISO-8859-1", codecs.BOM_UTF8 + PAGE.encode(), "utf-8", "bom"),
    ("text/html", codecs.BOM_UTF16_LE + PAGE.encode("utf-16-le"), "utf-16-le", "bom"),
    # The server's default label lies; the bytes are UTF-8 with multi-byte sequences.
    ("text/html; charset=ISO-8859-1", PAGE.encode(), "utf-8", "utf8_bytes"),
    ("text/html; charset=Shift_JIS", PAGE.encode("cp932"), "cp932", "header"),
    ("text/html", PAGE.replace("<head>", '<head><meta charset="EUC-JP">').encode("euc_jp"), "euc_jis_2004", "meta"),
    # A Latin-1 header proves nothing on non-ASCII bytes: the page's own <meta> wins over it.
    ("text/html; charset=iso-8859-1", PAGE.replace(
        "<head>", '<head><meta http-equiv="Content-Type" content="text/html; charset=Shift_JIS">').encode("cp932"),
     "cp932", "meta"),
    ("text/html", PAGE.encode("cp932"), "cp932", "detected"),  # no declaration at all
    ("text/html; charset=windows-1252", PAGE.encode("euc_jp"), "euc_jis_2004", "detected"),
    ("text/html", PAGE.encode("iso2022_jp"), "iso2022_jp", "detected"),  # 7-bit, but not ASCII text
    ("text/html", b"<html><body><p>plain ASCII</p></body></html>", "utf-8", "default"),
    # A real Western page keeps its declaration: the detector is only heard for an East Asian charset.
    ("text/html; charset=ISO-8859-1", "<p>Ça coûte très cher.</p>".encode("latin-1"), "iso-8859-1", "header"),
])
def test_charset_is_decided_from_the_bytes_first(content_type, body, codec, decided_by):
    decoded = decode_page(content_type, body)
    assert (decoded.codec, decoded.decided_by) == (codec, decided_by)
    if decided_by != "default" and codec != "iso-8859-1":
        assert JA_PARAGRAPHS[1] in decoded.text and "鋼の話" in decoded.text


def test_undecodable_page_says_what_was_tried():
    body = b"<html><body><p>\xff\xfe\xfd " + JA.encode("utf-8") + b"</p></body></html>"
    with pytest.raises(UndecodablePage, match=r"not UTF-8, and neither header utf-8 nor a detected charset decodes it"):
        decode_page("text/html; charset=utf-8", body)


def test_a_lying_latin1_header_no_longer_makes_mojibake(tmp_path):
    warc = tmp_path / "a.warc.gz"
    with open(warc, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        response(writer, "https://example.jp/a", PAGE.encode("utf-8"), "text/html; charset=ISO-8859-1",
                 record_id="<urn:uuid:a>")
    collect_file(source_config({"name": "web", "type": "warc", "paths": ["x"]}), warc, tmp_path, tmp_path / "out")
    (doc,) = read_jsonl_zst(tmp_path / "out" / DOCUMENTS)
    assert JA_PARAGRAPHS[0] in doc["text"] and doc["origin"]["title"] == "鋼の話"
    assert (doc["origin"]["charset"], doc["origin"]["charset_from"]) == ("utf-8", "utf8_bytes")

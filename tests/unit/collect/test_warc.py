import gzip
import io
import json

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from conftest import EN_PARAGRAPH, JA_PARAGRAPHS
from hagane.collect import DOCUMENTS, QUARANTINE, collect_file
from hagane.collect.records import document_id
from hagane.config import SourceConfig
from hagane.errors import HaganeError
from hagane.io import read_jsonl_zst

SOURCE = SourceConfig(name="web", type="warc", paths=("x",), on_record_error="quarantine")


def page(body: str, title: str = "テスト") -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n"))
    return (f"<html><head><title>{title}</title></head><body><nav>ホーム | 戻る</nav>"
            f"<article><h1>{title}</h1>{paragraphs}</article></body></html>")


def response(writer, url, payload: bytes, content_type="text/html; charset=utf-8", record_id=None):
    headers = StatusAndHeaders("200 OK", [("Content-Type", content_type), ("Content-Length", str(len(payload)))],
                               protocol="HTTP/1.1")
    warc_headers = {"WARC-Record-ID": record_id} if record_id else None
    record = writer.create_warc_record(url, "response", payload=io.BytesIO(payload), http_headers=headers,
                                       warc_headers_dict=warc_headers)
    writer.write_record(record)


def build_warc(path):
    ja = "\n".join(JA_PARAGRAPHS)
    with open(path, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        writer.write_record(writer.create_warc_record("warcinfo", "warcinfo", payload=io.BytesIO(b"software: test")))
        response(writer, "https://example.jp/utf8", page(ja).encode("utf-8"), record_id="<urn:uuid:1>")
        # Labelled Shift_JIS, written in its Windows superset (① and ～ are not in strict Shift_JIS).
        response(writer, "https://example.jp/sjis", page(ja + "\n丸数字の①と波ダッシュ～も読める。", "シフトJIS").encode("cp932"),
                 "text/html; charset=Shift_JIS", record_id="<urn:uuid:2>")
        meta_euc = page(ja).replace("<head>", '<head><meta charset="EUC-JP">')
        response(writer, "https://example.jp/euc", meta_euc.encode("euc_jp"), "text/html", record_id="<urn:uuid:3>")
        response(writer, "https://example.jp/bad", b"<html><body><p>\xff\xfe\xfd " + ja.encode("utf-8") + b"</p></body></html>",
                 record_id="<urn:uuid:4>")
        response(writer, "https://example.jp/img.png", b"\x89PNG....", "image/png", record_id="<urn:uuid:5>")
        response(writer, "https://example.com/en", page(EN_PARAGRAPH, "Steel").encode(), record_id="<urn:uuid:6>")


def test_collect_warc_decodes_charsets_and_accounts_for_every_record(tmp_path):
    warc = tmp_path / "crawl" / "a.warc.gz"
    warc.parent.mkdir()
    build_warc(warc)
    acc = collect_file(SOURCE, warc, tmp_path / "crawl", tmp_path / "out")
    assert acc.as_dict() == {"records_seen": 7, "documents": 4, "skipped": {"not_html": 1, "warc_warcinfo_record": 1},
                             "quarantined": {"undecodable_html": 1}}
    docs = list(read_jsonl_zst(tmp_path / "out" / DOCUMENTS))
    assert [d["origin"]["url"] for d in docs] == ["https://example.jp/utf8", "https://example.jp/sjis",
                                                  "https://example.jp/euc", "https://example.com/en"]
    assert [d["origin"]["charset"] for d in docs] == ["utf-8", "cp932", "euc_jis_2004", "utf-8"]
    assert "丸数字の1と波ダッシュ~も読める。" in docs[1]["text"]  # decoded, then NFKC
    # Shift_JIS and EUC-JP pages decode to the same Japanese text as the UTF-8 one.
    assert JA_PARAGRAPHS[2] in docs[0]["text"] and JA_PARAGRAPHS[2] in docs[1]["text"] and JA_PARAGRAPHS[2] in docs[2]["text"]
    first = docs[0]
    assert first["id"] == document_id("web", "a.warc.gz", "<urn:uuid:1>")
    assert first["origin"]["path"] == "a.warc.gz" and first["origin"]["warc_record_id"] == "<urn:uuid:1>"
    assert first["origin"]["offset"] > 0 and first["source"] == "web"
    quarantined = list(read_jsonl_zst(tmp_path / "out" / QUARANTINE))
    assert [(q["reason"], q["locator"]) for q in quarantined] == [("undecodable_html", "<urn:uuid:4>")]
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert manifest["counts"]["records_seen"] == 7 and manifest["inputs"][0]["path"] == str(warc)


def test_same_input_same_bytes(tmp_path):
    warc = tmp_path / "a.warc.gz"
    build_warc(warc)
    collect_file(SOURCE, warc, tmp_path, tmp_path / "o1")
    collect_file(SOURCE, warc, tmp_path, tmp_path / "o2")
    assert (tmp_path / "o1" / DOCUMENTS).read_bytes() == (tmp_path / "o2" / DOCUMENTS).read_bytes()


def test_record_cut_off_by_end_of_file_is_quarantined(tmp_path):
    whole = tmp_path / "whole.warc"
    with open(whole, "wb") as f:
        writer = WARCWriter(f, gzip=False)
        response(writer, "https://example.jp/a", page("\n".join(JA_PARAGRAPHS)).encode(), record_id="<urn:uuid:a>")
        response(writer, "https://example.jp/b", page("\n".join(JA_PARAGRAPHS)).encode(), record_id="<urn:uuid:b>")
    cut = tmp_path / "cut.warc"
    cut.write_bytes(whole.read_bytes()[:-400])
    acc = collect_file(SOURCE, cut, tmp_path, tmp_path / "out")
    assert acc.documents == 1 and dict(acc.quarantined) == {"truncated_record": 1}


def test_broken_gzip_fails_naming_the_file(tmp_path):
    warc = tmp_path / "a.warc.gz"
    build_warc(warc)
    data = warc.read_bytes()
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(data[:200] + b"\x00" * 50 + data[250:])
    with pytest.raises(HaganeError, match=r"broken\.warc\.gz"):
        collect_file(SOURCE, broken, tmp_path, tmp_path / "out")
    assert not (tmp_path / "out" / DOCUMENTS).exists()  # nothing half-written


def test_wet_conversion_records_are_documents(tmp_path):
    wet = tmp_path / "c.warc.wet.gz"
    with open(wet, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        for i, text in enumerate([JA_PARAGRAPHS[0], "   "]):
            record = writer.create_warc_record(f"https://example.jp/{i}", "conversion",
                                               payload=io.BytesIO(text.encode("utf-8")),
                                               warc_headers_dict={"WARC-Record-ID": f"<urn:uuid:w{i}>",
                                                                  "Content-Type": "text/plain"})
            writer.write_record(record)
    source = SourceConfig(name="cc", type="wet", paths=("x",), on_record_error="quarantine")
    acc = collect_file(source, wet, tmp_path, tmp_path / "out")
    assert acc.as_dict() == {"records_seen": 2, "documents": 1, "skipped": {"empty_text": 1}, "quarantined": {}}
    (doc,) = read_jsonl_zst(tmp_path / "out" / DOCUMENTS)
    assert doc["text"] == JA_PARAGRAPHS[0] and doc["origin"]["url"] == "https://example.jp/0"

import io
import json
import re

import pytest
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from conftest import EN_PARAGRAPH, JA_PARAGRAPHS
from hagane.collect import DOCUMENTS, QUARANTINE, collect_file
from hagane.collect.records import document_id
from hagane.collect.warc import extract_text
from hagane.config import source_config
from hagane.errors import HaganeError
from hagane.io import read_jsonl_zst

SOURCE = source_config({"name": "web", "type": "warc", "paths": ["x"]})


def page(body: str, title: str = "テスト") -> str:
    paragraphs = "".join(f"<p>{p}</p>" for p in body.split("\n"))
    return (f"<html><head><title>{title}</title></head><body><nav>ホーム | 戻る</nav>"
            f"<article><h1>{title}</h1>{paragraphs}</article></body></html>")


def response(writer, url, payload: bytes, content_type="text/html; charset=utf-8", record_id=None, status="200 OK"):
    headers = StatusAndHeaders(status, [("Content-Type", content_type), ("Content-Length", str(len(payload)))],
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
        # ISO-2022-JP with half-width katakana (ESC ( I), which strict iso2022_jp cannot decode.
        response(writer, "https://example.jp/jis", page(ja + "\nﾊﾝｶｸｶﾀｶﾅも読める。", "JIS").encode("iso2022_jp_ext"),
                 "text/html; charset=ISO-2022-JP", record_id="<urn:uuid:7>")
        response(writer, "https://example.cn/zh", page("钢是铁和碳的合金，用于制造工具和武器已有数百年的历史。", "钢").encode(),
                 record_id="<urn:uuid:8>")


def test_collect_warc_decodes_charsets_and_accounts_for_every_record(tmp_path):
    warc = tmp_path / "crawl" / "a.warc.gz"
    warc.parent.mkdir()
    build_warc(warc)
    acc = collect_file(SOURCE, warc, tmp_path / "crawl", tmp_path / "out")
    assert acc.as_dict() == {"records_seen": 9, "documents": 4, "quarantined": {"undecodable_html": 1},
                             "skipped": {"not_html": 1, "precheck_not_japanese": 2, "warc_warcinfo_record": 1}}
    docs = list(read_jsonl_zst(tmp_path / "out" / DOCUMENTS))
    assert [(d["origin"]["url"], d["origin"]["charset"]) for d in docs] == [
        ("https://example.jp/utf8", "utf-8"), ("https://example.jp/sjis", "cp932"),
        ("https://example.jp/euc", "euc_jis_2004"), ("https://example.jp/jis", "iso2022_jp_ext")]
    assert "ハンカクカタカナも読める。" in docs[3]["text"]  # NFKC widens the half-width katakana
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
    assert manifest["counts"]["records_seen"] == 9 and manifest["inputs"][0]["path"] == str(warc)


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


def test_broken_first_gzip_member_is_quarantined_and_the_rest_read(tmp_path):
    warc = tmp_path / "a.warc.gz"
    build_warc(warc)
    data = warc.read_bytes()
    broken = tmp_path / "broken.warc.gz"
    broken.write_bytes(data[:100] + b"\x00" * 50 + data[150:])  # inside the warcinfo record's member
    acc = collect_file(SOURCE, broken, tmp_path, tmp_path / "out")
    assert acc.as_dict() == {"records_seen": 9, "documents": 4,
                             "quarantined": {"damaged_record": 1, "undecodable_html": 1},
                             "skipped": {"not_html": 1, "precheck_not_japanese": 2}}
    damaged = next(q for q in read_jsonl_zst(tmp_path / "out" / QUARANTINE) if q["reason"] == "damaged_record")
    assert re.fullmatch(r"bytes 0–\d+ of the file: gzip data broken near byte \d+ \(.+\); reading went on at byte \d+",
                        damaged["detail"])


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
    source = source_config({"name": "cc", "type": "wet", "paths": ["x"]})
    acc = collect_file(source, wet, tmp_path, tmp_path / "out")
    assert acc.as_dict() == {"records_seen": 2, "documents": 1, "skipped": {"empty_text": 1}, "quarantined": {}}
    (doc,) = read_jsonl_zst(tmp_path / "out" / DOCUMENTS)
    assert doc["text"] == JA_PARAGRAPHS[0] and doc["origin"]["url"] == "https://example.jp/0"


def test_precheck_off_collects_every_language(tmp_path):
    warc = tmp_path / "a.warc.gz"
    build_warc(warc)
    everything = source_config({"name": "web", "type": "warc", "paths": ["x"], "japanese_precheck": False})
    acc = collect_file(everything, warc, tmp_path, tmp_path / "out")
    assert acc.documents == 6 and "precheck_not_japanese" not in acc.skipped


def test_html_lang_ja_passes_the_precheck_without_hiragana(tmp_path):
    warc = tmp_path / "a.warc.gz"
    with open(warc, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        kanji_only = page("東京都千代田区丸の内一丁目。" * 3).replace("の", "ノ").replace("<html>", '<html lang="ja-JP">')
        response(writer, "https://example.jp/kanji", kanji_only.encode(), record_id="<urn:uuid:k>")
    assert collect_file(SOURCE, warc, tmp_path, tmp_path / "out").documents == 1


def test_source_line_breaks_render_as_a_browser_shows_them():
    wrapped = ("<html><body><article><h1>見出し</h1><p>日本語の文章は\n      行の途中で折り返しても、\n"
               "ひとつの文として読める。English text\nstays spaced.</p><p>二つ目の段落も十分な長さの文章であり、"
               "抽出器が本文として扱えるように書かれている。</p><pre>def f():\n    return 1</pre></article></body></html>")
    text, _ = extract_text(wrapped, None)
    assert "日本語の文章は行の途中で折り返しても、ひとつの文として読める。English text stays spaced." in text
    assert "def f():\n    return 1" in text


def test_broken_record_header_fails_naming_file_and_offset(tmp_path):
    good = tmp_path / "good.warc"
    with open(good, "wb") as f:
        writer = WARCWriter(f, gzip=False)
        response(writer, "https://example.jp/a", page("\n".join(JA_PARAGRAPHS)).encode(), record_id="<urn:uuid:a>")
    first = good.read_bytes()
    broken = tmp_path / "broken.warc"
    broken.write_bytes(first + re.sub(rb"\r\nContent-Length: \d+", b"\r\nContent-Length: 12x", first, count=1))
    with pytest.raises(HaganeError, match=r"broken\.warc: unreadable WARC record at byte offset \d+ "
                                          r"\(last good record at byte offset \d+\): Invalid WARC record"):
        collect_file(source_config({"name": "web", "type": "warc", "paths": ["x"], "on_file_error": "fail"}), broken,
                     tmp_path, tmp_path / "out")


def test_oversized_body_is_quarantined_and_the_next_record_still_read(tmp_path):
    warc = tmp_path / "a.warc.gz"
    with open(warc, "wb") as f:
        writer = WARCWriter(f, gzip=True)
        response(writer, "https://example.jp/huge", page(JA_PARAGRAPHS[0] * 3000).encode(), record_id="<urn:uuid:h>")
        response(writer, "https://example.jp/a", page("\n".join(JA_PARAGRAPHS)).encode(), record_id="<urn:uuid:a>")
    small = source_config({"name": "web", "type": "warc", "paths": ["x"], "max_record_mb": 0.1})
    acc = collect_file(small, warc, tmp_path, tmp_path / "out")
    assert acc.documents == 1 and dict(acc.quarantined) == {"record_too_long": 1}

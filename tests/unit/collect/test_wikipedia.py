import bz2

import pytest

from hagane.collect import DOCUMENTS, QUARANTINE, collect_file, collect_files
from hagane.collect.normalize import normalize_text
from hagane.collect.records import document_id
from hagane.collect.wikipedia import wikitext_to_text
from hagane.config import source_config, source_shards
from hagane.multistream import multistream_index, split_multistream
from hagane.errors import HaganeError
from hagane.io import read_jsonl_zst
from wikidump import ARTICLE, EXPECTED_ARTICLE, PAGES, SITEINFO, page, write_multistream

SOURCE = source_config({"name": "jawiki", "type": "wikipedia", "paths": ["x"]})
# A damaged file fails the job instead of being quarantined (on_file_error), so that its message shows.
STRICT = source_config({"name": "jawiki", "type": "wikipedia", "paths": ["x"], "on_file_error": "fail"})


def test_wikitext_keeps_headings_and_paragraphs_and_drops_markup():
    assert wikitext_to_text(ARTICLE) == EXPECTED_ARTICLE


def test_multistream_dump_articles_only_with_page_origin(tmp_path):
    dump = write_multistream(tmp_path / "jawiki-20240501-pages-articles-multistream.xml.bz2", PAGES)
    acc = collect_file(SOURCE, dump, tmp_path, tmp_path / "out")
    assert acc.as_dict() == {"records_seen": 6, "documents": 2, "quarantined": {},
                             "skipped": {"empty_text": 1, "wiki_not_article": 2, "wiki_redirect": 1}}
    first, second = read_jsonl_zst(tmp_path / "out" / DOCUMENTS)
    assert first["id"] == document_id("jawiki", dump.name, "page:11")
    assert first["text"] == normalize_text(EXPECTED_ARTICLE)
    assert {k: first["origin"][k] for k in ("page_id", "revision_id", "title", "timestamp", "url")} == {
        "page_id": 11, "revision_id": 110, "title": "玉鋼", "timestamp": "2024-05-01T00:00:00Z",
        "url": "https://ja.wikipedia.org/wiki/%E7%8E%89%E9%8B%BC"}
    assert second["text"] == "たたら製鉄は、日本の古い製鉄法である。島根県で今も行われている。"


def test_single_stream_and_plain_xml_give_the_same_documents(tmp_path):
    xml = SITEINFO + "".join(PAGES) + "</mediawiki>\n"
    plain = tmp_path / "a" / "dump.xml"
    packed = tmp_path / "b" / "dump.xml.bz2"
    plain.parent.mkdir()
    packed.parent.mkdir()
    plain.write_text(xml, encoding="utf-8")
    packed.write_bytes(bz2.compress(xml.encode("utf-8")))
    collect_file(SOURCE, plain, plain.parent, tmp_path / "out_a")
    collect_file(SOURCE, packed, packed.parent, tmp_path / "out_b")
    texts = [[d["text"] for d in read_jsonl_zst(tmp_path / out / DOCUMENTS)] for out in ("out_a", "out_b")]
    assert texts[0] == texts[1] and len(texts[0]) == 2


def test_a_page_without_revision_is_quarantined(tmp_path):
    broken = "  <page>\n    <title>壊れた</title>\n    <ns>0</ns>\n    <id>20</id>\n  </page>\n"
    dump = write_multistream(tmp_path / "d.xml.bz2", [broken, PAGES[-1]])
    acc = collect_file(SOURCE, dump, tmp_path, tmp_path / "out")
    assert acc.documents == 1 and dict(acc.quarantined) == {"malformed_record": 1}
    (q,) = read_jsonl_zst(tmp_path / "out" / QUARANTINE)
    assert q["locator"] == "page:20" and "壊れた" in q["detail"]


def test_truncated_bz2_fails_naming_the_file_offset_and_last_page(tmp_path):
    # Enough pages that the XML parser's 16 KiB reads yield some before reaching the cut.
    pages = [page(100 + i, f"記事{i}", "鋼の記事です。" * 40) for i in range(200)]
    whole = write_multistream(tmp_path / "whole.xml.bz2", pages).read_bytes()
    dump = write_multistream(tmp_path / "cut.xml.bz2", pages, cut_at=len(whole) - 60)
    with pytest.raises(HaganeError, match=r"cut\.xml\.bz2: compressed stream broken at byte offset \d+ "
                                          r"\(after page page:\d+\)"):
        collect_file(STRICT, dump, tmp_path, tmp_path / "out")


def test_malformed_xml_and_wrong_files_fail_naming_the_line(tmp_path):
    bad = tmp_path / "bad.xml"
    bad.write_text(SITEINFO + PAGES[-1] + "  <page><title>x</titel>\n", encoding="utf-8")
    with pytest.raises(HaganeError, match=r"bad\.xml: malformed XML at line 30, column \d+ \(after page page:16\)"):
        collect_file(STRICT, bad, tmp_path, tmp_path / "out")
    empty = tmp_path / "empty.xml.bz2"
    empty.write_bytes(bz2.compress(b""))
    with pytest.raises(HaganeError, match=r"empty\.xml\.bz2: malformed XML at line 1, column 0"):
        collect_file(STRICT, empty, tmp_path, tmp_path / "out2")
    other = tmp_path / "other.xml"
    other.write_text("<rss><channel/></rss>", encoding="utf-8")
    with pytest.raises(HaganeError, match=r"other\.xml: not a MediaWiki XML export \(root element <rss>\)"):
        collect_file(SOURCE, other, tmp_path, tmp_path / "out3")


def test_multistream_dump_splits_at_stream_boundaries_into_the_same_documents(tmp_path):
    pages = [page(100 + i, f"記事{i}", f"第{i}の記事。" + "鋼の話です。" * (20 + i)) for i in range(40)] + PAGES
    dump = write_multistream(tmp_path / "jawiki-20240501-pages-articles-multistream.xml.bz2", pages,
                             per_stream=3, index=True)
    index = multistream_index(dump)
    assert index is not None and index.name == "jawiki-20240501-pages-articles-multistream-index.txt.bz2"
    ranges = split_multistream(dump, index, target_bytes=dump.stat().st_size // 4)
    assert len(ranges) >= 3 and ranges[-1][1] == dump.stat().st_size
    assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))
    whole = collect_file(SOURCE, dump, tmp_path, tmp_path / "whole")
    parts, docs = [], []
    for k, byte_range in enumerate(ranges):
        parts.append(collect_files(SOURCE, {dump: tmp_path}, tmp_path / f"p{k}", byte_range=byte_range))
        docs += read_jsonl_zst(tmp_path / f"p{k}" / DOCUMENTS)
    assert docs == list(read_jsonl_zst(tmp_path / "whole" / DOCUMENTS))  # same ids, texts and origins
    assert sum(p.records_seen for p in parts) == whole.records_seen == 46
    # The workflow plans the same cut: one job per range.
    entry = {"name": "jawiki", "type": "wikipedia", "paths": [str(dump)],
             "group_mb": dump.stat().st_size / 4 / 2**20}
    shards = source_shards({"collect": {"sources": [entry]}})["jawiki"]
    assert [s.byte_range for s in shards.values()] == ranges
    assert list(shards)[0] == "jawiki-20240501-pages-articles-multistream.p00000"


def test_a_range_that_ends_inside_a_stream_fails(tmp_path):
    dump = write_multistream(tmp_path / "x-multistream.xml.bz2", PAGES, index=True)
    (start, end), *_ = split_multistream(dump, multistream_index(dump), target_bytes=1)
    with pytest.raises(HaganeError, match=r"x-multistream\.xml\.bz2: compressed stream broken .*inside a bz2 stream"):
        collect_files(STRICT, {dump: tmp_path}, tmp_path / "out", byte_range=(start, end - 10))

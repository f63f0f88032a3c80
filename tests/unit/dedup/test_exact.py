import json

from conftest import ja_document
from hagane.config import ExactDedupConfig
from hagane.dedup.exact import COUNTS, DROPPED, dedup_exact
from hagane.io import read_jsonl_zst, write_jsonl_zst


def doc(i, text):
    return {"id": i, "text": text, "source": "s", "origin": {}}


def test_exact_duplicates_across_shards_keep_the_first(tmp_path):
    a, b = ja_document(0), ja_document(1)
    write_jsonl_zst(tmp_path / "s1.jsonl.zst", [doc("1", a), doc("2", b), doc("3", a)])
    write_jsonl_zst(tmp_path / "s2.jsonl.zst", [doc("4", b.replace("。", "。 ")), doc("5", ja_document(2))])
    out = {"x/1": tmp_path / "o1.jsonl.zst", "x/2": tmp_path / "o2.jsonl.zst"}
    counts = dedup_exact(ExactDedupConfig(casefold=True, ignore_whitespace=True),
                         {"x/1": tmp_path / "s1.jsonl.zst", "x/2": tmp_path / "s2.jsonl.zst"}, out, tmp_path / "d")
    assert [d["id"] for d in read_jsonl_zst(out["x/1"])] == ["1", "2"]
    assert [d["id"] for d in read_jsonl_zst(out["x/2"])] == ["5"]
    dropped = [(d["id"], d["drop_reason"], d["duplicate_of"]) for d in read_jsonl_zst(tmp_path / "d" / DROPPED)]
    assert dropped == [("3", "exact_duplicate", "1"), ("4", "exact_duplicate", "2")]
    assert counts["documents_in"] == 5 and counts["kept"] == 3 and counts["dropped"] == {"exact_duplicate": 2}
    assert json.loads((tmp_path / "d" / COUNTS).read_text()) == counts


def test_whitespace_matters_when_asked(tmp_path):
    write_jsonl_zst(tmp_path / "s.jsonl.zst", [doc("1", "あい う"), doc("2", "あいう")])
    counts = dedup_exact(ExactDedupConfig(casefold=False, ignore_whitespace=False), {"s": tmp_path / "s.jsonl.zst"},
                         {"s": tmp_path / "o.jsonl.zst"}, tmp_path / "d")
    assert counts["kept"] == 2

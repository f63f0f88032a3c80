"""Corpus-wide line dedup: the three passes on a tiny corpus with known boilerplate."""

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from hagane.config import LineDedupConfig
from hagane.dedup.lines import (COMMON, COUNTS, DOCUMENTS, DROPPED, HASHES, LINES, TOO_SHORT, count_partition,
                                hash_shard, line_hash, line_key, partition_bounds, remove_shard)
from hagane.errors import HaganeError
from hagane.io import read_jsonl_zst, write_jsonl_zst

HEADER = "前のページ / 次のページ / 目次"
FOOTER = "このサイトではクッキーを使用しています。"
SHORT = "注記"  # in every document, but under min_line_chars: never removed


def body(i: int) -> str:
    return f"文書{i}の本文です。鋼は鉄に炭素を加えた合金で、刀や農具の材料として使われてきた。例{i}。"


def corpus() -> dict[str, list[dict]]:
    """Two shards; HEADER in 4 documents (across both shards), FOOTER in 3, one document nearly all boilerplate."""
    def doc(i, lines):
        return {"id": f"d{i}", "text": "\n".join(lines), "source": "s", "origin": {"n": i}}
    return {
        "s/a": [doc(0, [HEADER, body(0), SHORT, FOOTER]),
                doc(1, [HEADER, body(1), SHORT]),
                doc(2, ["  " + HEADER + "  ", body(2), body(2), FOOTER])],  # surrounding spaces: same line
        "s/b": [doc(3, [HEADER, "短い", FOOTER]),  # left with 2 characters: dropped
                doc(4, [body(4), SHORT]),
                doc(5, [body(5), HEADER.replace(" ", "  ")])],  # inner spaces collapse: same line
    }


CFG = LineDedupConfig(enabled=True, min_documents=3, min_line_chars=5, min_document_chars=20, partitions=1)


def run_passes(tmp_path, cfg=CFG, name="run"):
    root = tmp_path / name
    hash_files, docs = [], {}
    for shard, records in corpus().items():
        docs[shard] = tmp_path / f"{shard.replace('/', '_')}.jsonl.zst"
        write_jsonl_zst(docs[shard], records)
        hash_shard(cfg, docs[shard], root / "hash" / shard)
        hash_files.append(root / "hash" / shard / HASHES)
    common = []
    for p in range(cfg.partitions):
        count_partition(cfg, hash_files, p, root / "count" / str(p))
        common.append(root / "count" / str(p) / COMMON)
    counts = {shard: remove_shard(cfg, docs[shard], common, root / "remove" / shard) for shard in docs}
    return root, counts


def texts(path):
    return {d["id"]: d["text"] for d in read_jsonl_zst(path)}


def test_a_line_in_k_documents_is_removed_everywhere_and_accounted_exactly(tmp_path):
    root, counts = run_passes(tmp_path)
    a, b = texts(root / "remove/s/a" / DOCUMENTS), texts(root / "remove/s/b" / DOCUMENTS)
    # HEADER (5 documents) and FOOTER (3) go; body(2) repeated inside one document counts once and stays.
    assert a == {"d0": f"{body(0)}\n{SHORT}", "d1": f"{body(1)}\n{SHORT}", "d2": f"{body(2)}\n{body(2)}"}
    assert b == {"d4": f"{body(4)}\n{SHORT}", "d5": body(5)}
    dropped = list(read_jsonl_zst(root / "remove/s/b" / DROPPED))
    assert [(d["id"], d["drop_reason"], d["text"], d["lines_removed"]) for d in dropped] == [("d3", TOO_SHORT, "短い", 2)]
    assert counts["s/a"]["dropped"] == {} and counts["s/b"]["dropped"] == {TOO_SHORT: 1}
    assert counts["s/b"]["documents_in"] == 3 and counts["s/b"]["kept"] == 2
    table = pq.read_table(root / "remove/s/a" / LINES).to_pydict()
    originals = {d["id"]: d["text"] for d in corpus()["s/a"]}
    assert table["id"] == ["d0", "d1", "d2"] and table["lines_removed"] == [2, 1, 2]
    assert table["chars_removed"] == [len(originals[i]) - len(a[i]) for i in table["id"]]
    assert table["kept"] == [True, True, True]
    assert counts["s/a"]["lines_removed"] == 5 and counts["s/a"]["chars_removed"] == sum(table["chars_removed"])
    assert json.loads((root / "remove/s/a" / COUNTS).read_text()) == counts["s/a"]
    count = json.loads((root / "count/0" / COUNTS).read_text())
    assert count["common_lines"] == 2 and count["documents_with_common_lines"] == 5 + 3


def test_the_hash_pass_counts_a_line_once_per_document(tmp_path):
    root, _ = run_passes(tmp_path)
    table = np.load(root / "hash/s/a" / HASHES)
    counted = dict(zip(table[0].tolist(), table[1].tolist()))
    assert list(table[0]) == sorted(table[0])
    assert counted[line_hash(HEADER)] == 3 and counted[line_hash(FOOTER)] == 2 and counted[line_hash(body(2))] == 1
    assert line_hash(SHORT) not in counted and line_key("  a  b ", CFG) is None and line_key(" ab  cd ", CFG) == "ab cd"


def test_partitions_give_the_same_result_as_one_and_runs_are_byte_identical(tmp_path):
    one, _ = run_passes(tmp_path, name="one")
    again, _ = run_passes(tmp_path, name="again")
    many, _ = run_passes(tmp_path, LineDedupConfig(**{**vars(CFG), "partitions": 7}), name="many")
    for shard in ("s/a", "s/b"):
        for name in (DOCUMENTS, DROPPED, LINES):
            assert (one / "remove" / shard / name).read_bytes() == (again / "remove" / shard / name).read_bytes()
            assert (one / "remove" / shard / name).read_bytes() == (many / "remove" / shard / name).read_bytes()
    common = np.sort(np.concatenate([np.load(many / "count" / str(p) / COMMON) for p in range(7)]))
    assert common.tolist() == np.load(one / "count/0" / COMMON).tolist()
    for p in range(7):
        low, high = partition_bounds(p, 7)
        assert all(low <= h < high for h in np.load(many / "count" / str(p) / COMMON).tolist())


def test_partitions_cover_the_hash_space_and_a_bad_partition_is_named():
    bounds = [partition_bounds(p, 5) for p in range(5)]
    assert bounds[0][0] == 0 and bounds[-1][1] == 2**64
    assert all(bounds[i][1] == bounds[i + 1][0] for i in range(4))
    with pytest.raises(HaganeError, match="partition 5"):
        partition_bounds(5, 5)


def test_a_higher_threshold_removes_only_what_reaches_it(tmp_path):
    root, counts = run_passes(tmp_path, LineDedupConfig(**{**vars(CFG), "min_documents": 4}))
    assert texts(root / "remove/s/a" / DOCUMENTS)["d0"] == f"{body(0)}\n{SHORT}\n{FOOTER}"
    assert counts["s/b"]["dropped"] == {}  # d3 keeps its footer: 短い + FOOTER is long enough

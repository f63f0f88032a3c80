"""MinHash near dedup: signatures estimate Jaccard similarity, banding finds the pairs it should, the
clusters keep their first document, and every dropped document names its representative."""

import json

import numpy as np
import pytest

from hagane.config import NearDedupConfig
from hagane.dedup.minhash import (apply_clusters, band_edges, bucket_bands, cluster, permutations, shard_cluster_rows,
                                  shard_signatures, shingle_hashes, signature, simplify)
from hagane.io import read_jsonl_zst, write_jsonl_zst

CFG = NearDedupConfig(ngram=5, bands=14, rows=8, seed=1)


KANJI_DIGITS = str.maketrans("0123456789", "〇一二三四五六七八九")  # letters, not digits: `normalize` keeps them


def text(i: int, variant: int = 0, edits: int = 1) -> str:
    sentences = [f"これは文書{i}の{k}番目の文で、内容は番号{i * 7919 + k * 104729}について説明している。" for k in range(20)]
    if variant:  # a light edit: one sentence (or more) of twenty rewritten
        for e in range(edits):
            sentences[3 + 8 * e] = f"ここは書き換えた文{variant}-{e}である。"
    return "".join(sentences).translate(KANJI_DIGITS)


def test_shingles_are_distinct_character_ngrams_and_whitespace_runs_collapse():
    assert len(shingle_hashes("あいうえおか", 5)) == 2
    assert np.array_equal(shingle_hashes("あい  うえ\nお", 3), shingle_hashes("あい うえ お", 3))
    assert len(shingle_hashes("あ", 5)) == 1  # shorter than n: one padded shingle


def test_normalized_shingles_ignore_digits_case_and_punctuation():
    assert simplify("Linux 2.6.32 以降、「ファイル」を開く。ＡＢＣ！１２３") == "linux 0 以降ファイルを開くａｂｃ0"
    a, b = "2024年3月4日、Debian 12をインストールした。", "2025年11月28日。debian 13をインストールした!"
    assert np.array_equal(shingle_hashes(a, 5, normalize=True), shingle_hashes(b, 5, normalize=True))
    assert len(np.intersect1d(shingle_hashes(a, 5), shingle_hashes(b, 5))) < len(shingle_hashes(a, 5)) // 2


def test_signature_agreement_estimates_jaccard():
    a, b = permutations(512, seed=3)
    x, y = shingle_hashes(text(1), 5), shingle_hashes(text(1, variant=1, edits=2), 5)
    jaccard = len(np.intersect1d(x, y)) / len(np.union1d(x, y))
    agreement = float((signature(x, a, b) == signature(y, a, b)).mean())
    assert jaccard == pytest.approx(0.85, abs=0.01) and agreement == pytest.approx(jaccard, abs=0.06)
    # Each function picks its own least shingle: dropping the shingle with the smallest hash changes
    # about 1 / len(x) of the minima, not all of them (as a family monotone in the hash would).
    assert float((signature(x, a, b) == signature(x[1:], a, b)).mean()) > 0.95
    assert np.array_equal(signature(x, a, b), signature(x.copy(), a, b))


def test_band_edges_link_each_bucket_to_its_first_document(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    keys = [[5, 1], [7, 2], [5, 3]], [[7, 4], [9, 1]]
    files = []
    for k, rows in enumerate(keys):
        files.append(tmp_path / f"s{k}.parquet")
        pq.write_table(pa.table({"id": [f"d{k}{i}" for i in range(len(rows))],
                                 "band_000": pa.array([r[0] for r in rows], pa.uint64()),
                                 "band_001": pa.array([r[1] for r in rows], pa.uint64())}), files[-1])
    # Global ordinals: s0 rows 0–2, then s1 rows 3–4.
    assert band_edges(files, 0).tolist() == [[0, 2], [1, 3]]
    assert band_edges(files, 1).tolist() == [[0, 4]]


def write_shards(tmp_path, edits=1):
    shards = {
        "web/a": [{"id": "a0", "text": text(0)}, {"id": "a1", "text": text(1)},
                  {"id": "a2", "text": text(0, 1, edits)}, {"id": "a3", "text": text(2)}],
        "web/b": [{"id": "b0", "text": text(1, 2, edits)}, {"id": "b1", "text": text(3)},
                  {"id": "b2", "text": text(0, 3, edits)}],
    }
    paths = {}
    for name, docs in shards.items():
        paths[name] = tmp_path / name / "documents.jsonl.zst"
        write_jsonl_zst(paths[name], [{**d, "source": "web", "origin": {}} for d in docs])
    return paths


def run_pipeline(tmp_path, cfg, groups, edits=1):
    paths = write_shards(tmp_path, edits)
    sigs = {}
    for name, docs in paths.items():
        shard_signatures(cfg, docs, tmp_path / "sig" / name)
        sigs[name] = tmp_path / "sig" / name / "signatures.parquet"
    edges = []
    for g, bands in enumerate(groups):
        bucket_bands(cfg, list(sigs.values()), bands, tmp_path / "buckets" / str(g))
        edges.append(tmp_path / "buckets" / str(g) / "edges.npz")
    counts = cluster(cfg, sigs, edges, tmp_path / "clusters")
    out = {name: apply_clusters(cfg, name, paths[name], tmp_path / "clusters" / "clusters.parquet",
                                tmp_path / "out" / name) for name in paths}
    return counts, out


def test_the_pipeline_keeps_the_first_of_each_cluster_and_names_it(tmp_path):
    counts, out = run_pipeline(tmp_path, CFG, [list(range(7)), list(range(7, 14))])
    assert counts == {"documents": 7, "candidate_edges": counts["candidate_edges"], "clusters": 2,
                      "documents_in_clusters": 5, "near_duplicates": 3}
    kept = {n: [d["id"] for d in read_jsonl_zst(tmp_path / "out" / n / "documents.jsonl.zst")] for n in out}
    assert kept == {"web/a": ["a0", "a1", "a3"], "web/b": ["b1"]}
    dropped = {d["id"]: (d["drop_reason"], d["duplicate_of"], d["cluster_size"])
               for n in out for d in read_jsonl_zst(tmp_path / "out" / n / "dropped.jsonl.zst")}
    assert dropped == {"a2": ("near_duplicate", "a0", 3), "b2": ("near_duplicate", "a0", 3),
                       "b0": ("near_duplicate", "a1", 2)}
    assert out["web/b"] == {"documents_in": 3, "kept": 1, "dropped": {"near_duplicate": 2}}
    # The same documents with the bands bucketed in one job give the same clusters, byte for byte.
    again = tmp_path / "again"
    run_pipeline(again, CFG, [list(range(14))])
    assert (again / "clusters/clusters.parquet").read_bytes() == (tmp_path / "clusters/clusters.parquet").read_bytes()


def test_strict_banding_misses_edits_that_loose_banding_catches(tmp_path):
    # Three rewritten sentences of twenty leave a Jaccard similarity of 0.79: 20 bands × 40 rows (Swallow)
    # catches such a pair with probability 1 − (1 − 0.79^40)^20 ≈ 0.2 %, 14 × 8 with ≈ 90 %.
    strict, _ = run_pipeline(tmp_path / "strict", NearDedupConfig(bands=20, rows=40), [list(range(20))], edits=3)
    loose, _ = run_pipeline(tmp_path / "loose", NearDedupConfig(bands=14, rows=8), [list(range(14))], edits=3)
    # Strict banding still joins a2 and b2, two edits of a0 that differ from each other by three digits.
    assert strict["near_duplicates"] == 1 and loose["near_duplicates"] == 3


def test_without_clusters_every_document_is_kept(tmp_path):
    paths = write_shards(tmp_path)
    counts = apply_clusters(CFG, "web/a", paths["web/a"], None, tmp_path / "out")
    assert counts == {"documents_in": 4, "kept": 4, "dropped": {}}
    assert json.loads((tmp_path / "out" / "_manifest.json").read_text())["counts"]["kept"] == 4


def test_each_filter_job_reads_only_its_shards_row_group(tmp_path):
    """Memory of the per-shard filter jobs must not grow with the corpus: clusters.parquet holds one row
    group per shard, and a shard's job skips the others by their statistics."""
    import pyarrow.parquet as pq

    run_pipeline(tmp_path, CFG, [list(range(14))])
    path = tmp_path / "clusters" / "clusters.parquet"
    meta = pq.ParquetFile(path).metadata
    groups = [meta.row_group(i).column(0).statistics for i in range(meta.num_row_groups)]
    assert [(g.min, g.max) for g in groups] == [("web/a", "web/a"), ("web/b", "web/b")]
    assert sorted(r["id"] for r in shard_cluster_rows(path, "web/b")) == ["b0", "b2"]
    assert shard_cluster_rows(path, "web/c") == []
    # A file written as one row group for all shards (before this layout) is still read right.
    whole = tmp_path / "whole.parquet"
    pq.write_table(pq.read_table(path), whole)
    assert pq.ParquetFile(whole).metadata.num_row_groups == 1
    assert shard_cluster_rows(whole, "web/b") == shard_cluster_rows(path, "web/b")

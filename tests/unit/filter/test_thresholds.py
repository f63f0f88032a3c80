"""Percentile bounds over the whole corpus (the thresholds step), and cc_net's perplexity buckets."""

import json
import math

import pandas as pd
import pytest

from hagane.config import stage_config
from hagane.errors import HaganeError
from hagane.filter.select import COUNTS, DROPPED, select_shard
from hagane.filter.thresholds import THRESHOLDS, corpus_thresholds, needs_thresholds
from hagane.io import read_jsonl_zst, write_jsonl_zst

# Ten finite perplexities 100 … 1000 over two shards, and one document without a finite perplexity.
SHARDS = {"a": [100, 200, 300, 400, 500], "b": [600, 700, 800, 900, 1000, math.inf]}


def select_cfg(**select):
    return stage_config("filter", {"select": select}, origin="test").select


@pytest.fixture
def corpus(tmp_path):
    scores = []
    for shard, perplexities in SHARDS.items():
        ids = [f"{shard}{i}" for i in range(len(perplexities))]
        write_jsonl_zst(tmp_path / f"{shard}.jsonl.zst", [{"id": i, "text": "…", "source": "s", "origin": {}} for i in ids])
        table = pd.DataFrame({"id": ids, "language": "ja", "language_score": 0.9, "kenlm_ppl": perplexities,
                              "quality_prob": [p / 1000 for p in perplexities]})
        table.to_parquet(tmp_path / f"{shard}.parquet", index=False)
        scores.append(tmp_path / f"{shard}.parquet")
    return tmp_path, scores


def test_ccnet_keeps_head_and_middle_by_the_corpus_percentiles(corpus):
    root, scores = corpus
    cfg = select_cfg(preset="ccnet")
    assert needs_thresholds(cfg) and not needs_thresholds(select_cfg(preset="swallow_v1"))
    result = corpus_thresholds(cfg, scores, root / "thresholds")
    # Linear interpolation over the 10 finite values: the 30th percentile lies 0.7 of the way from 300
    # to 400, the 60th 0.4 of the way from 600 to 700.
    assert result == json.loads((root / "thresholds" / THRESHOLDS).read_text())
    assert result["documents"] == 11
    assert result["values"]["kenlm_ppl"] == {"finite_documents": 10, "max_percentile": 60, "max": 640.0,
                                             "head_max_percentile": 30, "head_max": 370.0,
                                             "middle_max_percentile": 60, "middle_max": 640.0}
    a = select_shard(cfg, root / "a.jsonl.zst", scores[0], root / "sel_a", thresholds=root / "thresholds" / THRESHOLDS)
    b = select_shard(cfg, root / "b.jsonl.zst", scores[1], root / "sel_b", thresholds=root / "thresholds" / THRESHOLDS)
    assert a == {"documents_in": 5, "kept": 5, "dropped": {}, "kenlm_buckets": {"head": 3, "middle": 2, "tail": 0}}
    assert b == {"documents_in": 6, "kept": 1, "dropped": {"kenlm_ppl_high": 5},
                 "kenlm_buckets": {"head": 0, "middle": 1, "tail": 4}}
    assert [d["id"] for d in read_jsonl_zst(root / "sel_b" / DROPPED)] == ["b1", "b2", "b3", "b4", "b5"]
    assert json.loads((root / "sel_b" / COUNTS).read_text()) == b
    manifest = json.loads((root / "sel_b" / "_manifest.json").read_text())
    assert manifest["config"]["bounds"] == {"kenlm_ppl": {"max": 640.0}}


def test_a_user_percentile_bound(corpus):
    root, scores = corpus
    cfg = select_cfg(thresholds={"quality_prob": {"min_percentile": 50}})
    result = corpus_thresholds(cfg, scores, root / "thresholds")
    assert result["values"] == {"quality_prob": {"finite_documents": 10, "min_percentile": 50, "min": 0.55}}
    counts = select_shard(cfg, root / "a.jsonl.zst", scores[0], root / "sel", thresholds=root / "thresholds" / THRESHOLDS)
    assert counts == {"documents_in": 5, "kept": 0, "dropped": {"quality_prob_low": 5}}
    with pytest.raises(HaganeError, match="percentile of the whole corpus"):
        select_shard(cfg, root / "a.jsonl.zst", scores[0], root / "sel2")


def test_a_percentile_of_a_metric_that_was_not_scored_names_the_file(corpus):
    root, scores = corpus
    pd.DataFrame({"id": ["x"], "language": ["ja"], "language_score": [0.9]}).to_parquet(root / "bare.parquet")
    with pytest.raises(HaganeError, match=r"bare\.parquet has no 'kenlm_ppl' column"):
        corpus_thresholds(select_cfg(preset="ccnet"), [*scores, root / "bare.parquet"], root / "thresholds")

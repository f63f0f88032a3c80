"""The fastText quality classifier, trained for real on the shipped manuals: SKK's as the reference,
Mew's as the others."""

import gzip

import pandas as pd
import pytest

from conftest import REPO
from hagane.config import stage_config
from hagane.errors import HaganeError
from hagane.filter.heuristics import hiragana_ratio
from hagane.filter.quality import MODEL, QualityScorer, sample_documents, as_tokens, train_quality
from hagane.filter.score import SCORES, score_shard
from hagane.filter.select import select_shard
from hagane.io import write_jsonl_zst

CFG = stage_config("filter", {"quality": {"reference_sources": ["skk"], "epochs": 10}}, origin="test")


def blocks(text):
    return [b for b in text.split("\n\n") if len(b) > 100]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    root = tmp_path_factory.mktemp("quality")
    skk = blocks((REPO / "data/demo/text/skk-manual-ja.txt").read_text(encoding="utf-8"))
    mew = blocks(gzip.decompress((REPO / "data/demo/text/mew-manual-ja.txt.gz").read_bytes()).decode("utf-8"))
    held_out = {"skk": skk[::10], "mew": mew[::10]}
    write_jsonl_zst(root / "skk.jsonl.zst", [{"id": f"s{i}", "text": t} for i, t in enumerate(skk) if i % 10])
    write_jsonl_zst(root / "mew.jsonl.zst", [{"id": f"m{i}", "text": t} for i, t in enumerate(mew) if i % 10])
    counts = train_quality(CFG.quality, [root / "skk.jsonl.zst"], [root / "mew.jsonl.zst"], root / "a")
    train_quality(CFG.quality, [root / "skk.jsonl.zst"], [root / "mew.jsonl.zst"], root / "b")
    return root, counts, held_out


def test_documents_are_shown_to_fasttext_as_characters():
    assert as_tokens("鋼の 刀\nです") == "鋼 の 刀 で す"


def test_training_is_deterministic_and_balanced(corpus):
    root, counts, _ = corpus
    assert counts["examples_per_class"] == min(counts["reference_sampled"], counts["other_sampled"]) > 50
    assert (root / "a" / MODEL).read_bytes() == (root / "b" / MODEL).read_bytes()


def test_held_out_reference_documents_score_higher(corpus):
    root, _, held_out = corpus
    scorer = QualityScorer(root / "a")
    skk = [scorer(t) for t in held_out["skk"]]
    mew = [scorer(t) for t in held_out["mew"]]
    assert all(0.0 <= p <= 1.0 for p in skk + mew)
    accuracy = (sum(p > 0.5 for p in skk) + sum(p <= 0.5 for p in mew)) / (len(skk) + len(mew))
    assert accuracy > 0.8, accuracy


def test_scores_carry_the_probability_and_select_bounds_it(corpus, tmp_path):
    root, _, held_out = corpus
    prose = {name: next(t for t in texts if hiragana_ratio(t) > 0.3) for name, texts in held_out.items()}
    docs = [{"id": "a", "text": prose["skk"], "source": "s", "origin": {}},
            {"id": "b", "text": prose["mew"], "source": "s", "origin": {}}]
    write_jsonl_zst(tmp_path / "docs.jsonl.zst", docs)
    score_shard(CFG.score, tmp_path / "docs.jsonl.zst", tmp_path / "score", quality_dir=root / "a")
    probs = pd.read_parquet(tmp_path / "score" / SCORES)["quality_prob"].tolist()
    assert probs[0] > probs[1]
    select = stage_config("filter", {"select": {"thresholds": {"quality_prob": {"min": sum(probs) / 2}}}},
                          origin="test").select
    counts = select_shard(select, tmp_path / "docs.jsonl.zst", tmp_path / "score" / SCORES, tmp_path / "sel")
    assert counts == {"documents_in": 2, "kept": 1, "dropped": {"quality_prob_low": 1}}


def test_the_sample_is_bounded_and_independent_of_shard_order(tmp_path):
    docs = [{"id": f"d{i}", "text": f"文書{i}"} for i in range(50)]
    write_jsonl_zst(tmp_path / "a.jsonl.zst", docs[:20])
    write_jsonl_zst(tmp_path / "b.jsonl.zst", docs[20:])
    forward = sample_documents([tmp_path / "a.jsonl.zst", tmp_path / "b.jsonl.zst"], 7, seed=1)
    backward = sample_documents([tmp_path / "b.jsonl.zst", tmp_path / "a.jsonl.zst"], 7, seed=1)
    assert len(forward) == 7 and forward == backward
    assert sample_documents([tmp_path / "a.jsonl.zst"], 7, seed=2) != sample_documents([tmp_path / "a.jsonl.zst"], 7, seed=1)


def test_no_negatives_is_a_named_error(tmp_path):
    write_jsonl_zst(tmp_path / "none.jsonl.zst", [])
    write_jsonl_zst(tmp_path / "one.jsonl.zst", [{"id": "x", "text": "鋼の話です。"}])
    with pytest.raises(HaganeError, match="1 reference and 0 other documents"):
        train_quality(CFG.quality, [tmp_path / "one.jsonl.zst"], [tmp_path / "none.jsonl.zst"], tmp_path / "out")

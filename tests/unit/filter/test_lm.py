"""The KenLM perplexity scorer, trained for real with lmplz on the shipped SKK manual."""

import json
import math

import pandas as pd
import pytest

from conftest import EN_PARAGRAPH, JA_PARAGRAPHS, REPO
from hagane.config import stage_config
from hagane.errors import HaganeError
from hagane.filter.lm import LM_BINARY, SEGMENTER, SPM_MODEL, PerplexityScorer, model_files, train_kenlm
from hagane.filter.score import SCORES, score_shard
from hagane.filter.select import select_shard
from hagane.io import write_jsonl_zst

CFG = stage_config("filter", {"kenlm": {"reference_sources": ["skk"], "order": 4, "vocab_size": 2000}},
                   origin="test")


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    root = tmp_path_factory.mktemp("kenlm")
    blocks = (REPO / "data/demo/text/skk-manual-ja.txt").read_text(encoding="utf-8").split("\n\n")
    write_jsonl_zst(root / "ref.jsonl.zst", [{"id": str(i), "text": b} for i, b in enumerate(blocks) if b.strip()])
    counts = train_kenlm(CFG.kenlm, [root / "ref.jsonl.zst"], root / "a")
    train_kenlm(CFG.kenlm, [root / "ref.jsonl.zst"], root / "b")
    sudachi = stage_config("filter", {"kenlm": {"reference_sources": ["skk"], "order": 4, "tokenizer": "sudachi",
                                                "sudachi_mode": "A"}}, origin="test").kenlm
    train_kenlm(sudachi, [root / "ref.jsonl.zst"], root / "sudachi")
    return root, counts


def test_training_is_deterministic(model):
    root, counts = model
    assert counts["reference_paragraphs"] > 500
    for name in (SPM_MODEL, LM_BINARY, SEGMENTER):
        assert (root / "a" / name).read_bytes() == (root / "b" / name).read_bytes(), name


def test_sudachi_words_as_units(model):
    root = model[0]
    spec = json.loads((root / "sudachi" / SEGMENTER).read_text())
    assert spec["tokenizer"] == "sudachi" and spec["mode"] == "A" and spec["sudachidict_core"]
    assert model_files(root / "sudachi") == [root / "sudachi" / LM_BINARY, root / "sudachi" / SEGMENTER]
    scorer = PerplexityScorer(root / "sudachi")
    assert scorer.segment("辞書を引く") == ["辞書", "を", "引く"]
    skk_like = "SKK では、かなを入力してから変換キーを押すと漢字に変換されます。"
    shuffled = "".join(sorted(skk_like))
    assert scorer(skk_like)[0] < scorer(JA_PARAGRAPHS[1])[0] < scorer(shuffled)[0]
    # A paragraph longer than Sudachi's input limit is analysed in pieces, not refused.
    long_paragraph = JA_PARAGRAPHS[1] * 400
    assert len(long_paragraph.encode()) > 100_000 and math.isfinite(scorer(long_paragraph)[0])


def test_in_domain_text_has_lower_perplexity_than_other_text(model):
    scorer = PerplexityScorer(model[0] / "a")
    skk_like = "SKK では、かなを入力してから変換キーを押すと漢字に変換されます。辞書に登録された単語が候補として表示されます。"
    shuffled = "".join(sorted(skk_like))  # the same characters, no language
    ppl = {name: scorer(text)[0] for name, text in
           [("skk", skk_like), ("prose", JA_PARAGRAPHS[1]), ("english", EN_PARAGRAPH), ("shuffled", shuffled)]}
    assert ppl["skk"] < ppl["prose"] < ppl["shuffled"] and ppl["skk"] < ppl["english"]
    document, paragraphs = scorer(f"{skk_like}\n\n{shuffled}")
    assert len(paragraphs) == 2 and paragraphs[0] < document < paragraphs[1]
    assert scorer("   ") == (math.inf, [])


def test_scores_carry_perplexity_and_select_bounds_it(model, tmp_path):
    docs = [{"id": "a", "text": JA_PARAGRAPHS[1] * 3, "source": "s", "origin": {}},
            {"id": "b", "text": "".join(sorted(JA_PARAGRAPHS[1] * 3)), "source": "s", "origin": {}}]
    write_jsonl_zst(tmp_path / "docs.jsonl.zst", docs)
    score_shard(CFG.score, tmp_path / "docs.jsonl.zst", tmp_path / "score", kenlm_dir=model[0] / "a")
    scores = pd.read_parquet(tmp_path / "score" / SCORES)
    assert scores["kenlm_ppl"].iloc[0] < scores["kenlm_ppl"].iloc[1]
    assert len(scores["kenlm_paragraph_ppl"].iloc[0]) == 1
    cut = float(scores["kenlm_ppl"].mean())
    select = stage_config("filter", {"select": {"thresholds": {"kenlm_ppl": {"max": cut}}}}, origin="test").select
    counts = select_shard(select, tmp_path / "docs.jsonl.zst", tmp_path / "score" / SCORES, tmp_path / "sel")
    assert counts == {"documents_in": 2, "kept": 1, "dropped": {"kenlm_ppl_high": 1}}


def test_bounding_perplexity_without_scoring_it_is_a_named_error(tmp_path):
    write_jsonl_zst(tmp_path / "docs.jsonl.zst", [{"id": "a", "text": JA_PARAGRAPHS[0], "source": "s", "origin": {}}])
    score_shard(CFG.score, tmp_path / "docs.jsonl.zst", tmp_path / "score")
    select = stage_config("filter", {"select": {"thresholds": {"kenlm_ppl": {"max": 1000}}}}, origin="test").select
    with pytest.raises(HaganeError, match="kenlm_ppl is scored only with filter.kenlm.reference_sources"):
        select_shard(select, tmp_path / "docs.jsonl.zst", tmp_path / "score" / SCORES, tmp_path / "sel")

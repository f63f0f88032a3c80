"""lm-evaluation-harness offline on a converted model: every benchmark definition runs on its file
format, numbers do not depend on the batch size, and scoring matches a direct computation."""

import json
import math

import pytest
import torch

from hagane.config import ConvertConfig, EvaluateConfig, TaskConfig
from hagane.convert.export import MODEL_DIR, convert_checkpoint
from hagane.errors import HaganeError
from hagane.evaluate.harness import HaganeLM, load_model, run_tasks
from hagane.evaluate.run import task_definitions
from hagane.evaluate.tasks import benchmark_task

JGLUE = "tests/fixtures/jglue"


@pytest.fixture(scope="module")
def toy_model(toy_corpus, random_checkpoint, tmp_path_factory):
    root = tmp_path_factory.mktemp("harness")
    ckpt, _ = random_checkpoint(root / "ckpt", scale=4.0, max_seq_len=128)  # far from uniform: choices differ
    convert_checkpoint(ConvertConfig(max_abs_diff=1e-4, gate_prompts=2, gate_prompt_tokens=16), ckpt,
                       toy_corpus / "tokenizer" / "hf", toy_corpus / "tokenizer" / "spm.model",
                       [toy_corpus / "tokens" / "valid"], root / "out")
    return load_model(root / "out" / MODEL_DIR)


def test_every_benchmark_runs_offline_and_the_batch_size_changes_nothing(toy_model, repo, tmp_path):
    model, tokenizer = toy_model
    cfg = EvaluateConfig(batch_size=8, tasks=tuple(TaskConfig(name=n, path=str(repo / JGLUE / n)) for n in
                                                     ("jcommonsenseqa", "jnli", "marc_ja", "xwinograd_ja", "jsquad")))
    items = tmp_path / "continuation.jsonl"
    items.write_text(json.dumps({"context": "日本の首都は", "choices": ["東京です。", "りんごです。"], "label": 0},
                                ensure_ascii=False) + "\n")
    defs, samples = task_definitions(cfg, items)
    results = {bs: run_tasks(HaganeLM(model, tokenizer, batch_size=bs), defs) for bs in (1, 8)}
    assert results[1] == results[8]
    r = results[8]
    assert r["jcommonsenseqa"]["samples"] == 7 and r["jcommonsenseqa"]["num_fewshot"] == 3
    assert r["jnli"]["samples"] == 4 and r["marc_ja"]["samples"] == 3 and r["xwinograd_ja"]["samples"] == 4
    assert r["jsquad"]["samples"] == 3 and r["jsquad"]["num_fewshot"] == 2  # questions, not articles
    for task in ("jcommonsenseqa", "jnli", "marc_ja", "xwinograd_ja", "continuation"):
        assert 0 <= r[task]["acc"] <= 1 and r[task]["acc"] * r[task]["samples"] == round(r[task]["acc"] * r[task]["samples"])
    assert 0 <= r["jsquad"]["char_f1"] <= 1 and "exact_match" in r["jsquad"]


def test_a_limit_evaluates_the_first_examples(toy_model, repo, tmp_path):
    model, tokenizer = toy_model
    cfg = EvaluateConfig(batch_size=4, tasks=(TaskConfig(name="jcommonsenseqa", path=str(repo / JGLUE / "jcommonsenseqa"),
                                                         num_fewshot=1, limit=2),))
    items = tmp_path / "c.jsonl"
    items.write_text(json.dumps({"context": "a", "choices": ["b", "c"], "label": 0}) + "\n")
    defs, samples = task_definitions(cfg, items)
    r = run_tasks(HaganeLM(model, tokenizer), defs, samples=samples)
    assert r["jcommonsenseqa"]["samples"] == 2 and r["jcommonsenseqa"]["num_fewshot"] == 1
    # A limit beyond the split evaluates all of it.
    cfg = EvaluateConfig(batch_size=4, tasks=(TaskConfig(name="jsquad", path=str(repo / JGLUE / "jsquad"), limit=50),))
    assert task_definitions(cfg, items)[1] == {"jsquad": [0, 1, 2]}


def test_loglikelihood_is_the_sum_of_the_continuation_token_log_probabilities(toy_model):
    model, tokenizer = toy_model
    lm = HaganeLM(model, tokenizer)
    context, continuation = lm.pair_tokens("日本語の文章です。", "次の文です。")
    assert context[0] == tokenizer.bos_token_id
    assert context[1:] + continuation == tokenizer.encode("日本語の文章です。次の文です。", add_special_tokens=False)
    whole = torch.tensor([context + continuation])
    logprobs = torch.log_softmax(model(input_ids=whole).logits[0, :-1], -1)
    expected = sum(logprobs[len(context) - 1 + i, t].item() for i, t in enumerate(continuation))
    (got, _), = lm.score([(context, continuation)], "test")
    assert got == pytest.approx(expected, abs=1e-4)
    # Trailing spaces of the context move to the continuation, as lm-eval's HF model does.
    assert lm.pair_tokens("質問 ", "回答")[1] == lm.pair_tokens("質問", " 回答")[1]
    assert math.isfinite(lm.loglikelihood_rolling([type("R", (), {"args": ("長い文章。" * 40,)})()])[0])


def test_greedy_generation_is_cut_at_the_stop_string(toy_model):
    model, tokenizer = toy_model
    lm = HaganeLM(model, tokenizer)
    full = lm.greedy("日本の", max_new_tokens=12)
    assert full == lm.greedy("日本の", max_new_tokens=12)
    if len(full) > 2:
        stop = full[1]
        assert lm.greedy("日本の", max_new_tokens=12, until=[stop]) == full[:full.index(stop)]


def test_a_missing_benchmark_file_is_named(tmp_path):
    (tmp_path / "train-v1.1.json").write_text("")
    with pytest.raises(HaganeError, match=r"jnli: .* lacks valid-v1.1.json \(expected the files of JGLUE"):
        benchmark_task("jnli", tmp_path)
    with pytest.raises(HaganeError, match="unknown task 'jglue'"):
        benchmark_task("jglue", tmp_path)

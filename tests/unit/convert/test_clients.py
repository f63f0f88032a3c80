"""The published model directory in the clients its users have, each run as that client runs:
transformers 5 (this venv) and the newest transformers 4 (a second, small environment), llama.cpp's own
Hugging Face → GGUF converter (out of the llama-cpp-python sdist, with its own `gguf` package) and
lm-evaluation-harness's CLI. `make setup` builds the two folders under .build/ that the first two need.

The model is the demo's shape of tokenizer (SentencePiece BPE with byte fallback) with extra control
tokens, untied embeddings and a rotary base other than the 10000 every reader defaults to, so that a
reader which misses a setting gives other ids or other logits here.
"""

from __future__ import annotations

import json
import os
import runpy
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from hagane.config import ConvertConfig, SplitConfig, TokenizeConfig, TokenizerConfig
from hagane.convert.export import CARD_FACTS, MODEL_DIR, convert_checkpoint, publish_model
from hagane.convert.gguf import write_gguf

REPO = Path(__file__).resolve().parents[3]
TRANSFORMERS4 = REPO / ".build" / "transformers4"
LLAMA_CPP = REPO / ".build" / "llama.cpp"
PROBE = Path(__file__).with_name("client_probe.py")
# Loaded by path: the same file runs as a script under transformers 4 (imports only transformers and torch).
CLIENT_PROBE = runpy.run_path(str(PROBE))
CONTEXT = 64
ROPE_THETA = 500000.0
EXTRA_TOKENS = ("<|user|>", "<|reserved_0|>", "<|reserved_1|>")


def built(path: Path, what: str) -> Path:
    # Not a skip: `make test` builds these folders first, so a missing one is a broken setup to fix. The
    # Makefile stamps a folder once it is whole (.stamp-VERSION); a folder without one was cut off.
    if not any(path.glob(".stamp-*")):
        pytest.fail(f"{path} is missing or incomplete: run `make setup` (it builds {what})", pytrace=False)
    return path


def client_env(**extra: str) -> dict[str, str]:
    """The environment of a client subprocess: offline (only package registries are reachable here, and a
    published directory must load without a hub), and without NO_LOCAL_GGUF, which would make llama.cpp's
    converter take the venv's PyPI gguf instead of its own."""
    env = {k: v for k, v in os.environ.items() if k not in ("NO_LOCAL_GGUF", "PYTHONPATH")}
    return {**env, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", **extra}


def run(cmd: list[str], env: dict[str, str], cwd: Path | None = None) -> subprocess.CompletedProcess:
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=600)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-5000:]}"
    return proc


@pytest.fixture(scope="module")
def published(toy_corpus, tmp_path_factory) -> Path:
    """results/publish/model as the workflow makes it: tokenizer → token shards → checkpoint → convert
    (with its logits gate) → publish."""
    from hagane.pretrain.checkpoint import save_checkpoint
    from hagane.pretrain.model import ModelArgs, Transformer
    from hagane.tokenize.encode import tokenize_shard
    from hagane.tokenizer.build import build_tokenizer

    root = tmp_path_factory.mktemp("clients")
    docs = toy_corpus / "docs.jsonl.zst"
    split = SplitConfig(validation_fraction=0.1, salt="toy")
    tok_cfg = TokenizerConfig(model_type="bpe", vocab_size=1200, character_coverage=0.995, byte_fallback=True,
                              split_digits=True, max_piece_length=16, input_sentence_size=0, seed=1, num_threads=1,
                              special_tokens=("<|user|>",), reserved_tokens=2)
    build_tokenizer(tok_cfg, split, [docs], root / "tokenizer")
    tokenize_shard(TokenizeConfig(num_threads=1), split, docs, root / "tokenizer" / "spm.model", root / "tokens")
    args = ModelArgs(vocab_size=1200, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=160, max_seq_len=CONTEXT,
                     rope_theta=ROPE_THETA, tie_embeddings=False)
    torch.manual_seed(2)
    model = Transformer(args)
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(4.0)  # logits far from uniform, so that a wrong setting shows
    ckpt = save_checkpoint(root / "ckpt", 3, model, torch.optim.AdamW(model.parameters()), model_args=args,
                           fingerprint="x", is_main=True)
    cfg = ConvertConfig(max_abs_diff=1e-4, gate_prompts=3, gate_prompt_tokens=24, model_name="toy-clients")
    convert_checkpoint(cfg, ckpt, root / "tokenizer" / "hf", root / "tokenizer" / "spm.model",
                       [root / "tokens" / "valid"], root / "convert")
    metrics = {"step": 3, "held_out": {"loss_nats_per_token": 5.0, "perplexity": 148.4, "bits_per_char": 2.5,
                                       "bits_per_byte": 1.2, "validation_documents": 7}, "tasks": {}}
    (root / "metrics.json").write_text(json.dumps(metrics))
    publish_model(root / "convert" / MODEL_DIR, root / "convert" / CARD_FACTS, root / "metrics.json", root / "publish")
    return root / "publish" / MODEL_DIR


@pytest.fixture(scope="module")
def transformers5(published):
    report, logits = CLIENT_PROBE["probe"](published)
    assert report["transformers"].startswith("5.")
    return report, logits


@pytest.fixture(scope="module")
def transformers4(published, tmp_path_factory):
    """The same probe under transformers 4.57 (the newest 4.x): .build/transformers4 first on the path,
    torch and everything else from this venv."""
    path = built(TRANSFORMERS4, "transformers 4 beside the venv's transformers 5")
    out = tmp_path_factory.mktemp("transformers4")
    run([sys.executable, str(PROBE), str(published), str(out)], client_env(PYTHONPATH=str(path)))
    report = json.loads((out / "report.json").read_text())
    assert report["transformers"].startswith("4.57."), f"{path} holds transformers {report['transformers']}"
    return report, torch.load(out / "logits.pt")


def test_transformers_4_and_5_give_the_same_ids_and_logits(published, transformers4, transformers5):
    import sentencepiece as spm

    (r4, logits4), (r5, logits5) = transformers4, transformers5
    assert r4["model_class"] == r5["model_class"] == "LlamaForCausalLM"
    assert r4["ids"] == r5["ids"] and r4["without_special"] == r5["without_special"]
    assert r4["decoded"] == r5["decoded"]
    # The ids are the ones the model was trained on: BOS, then SentencePiece's own.
    sp = spm.SentencePieceProcessor(model_file=str(published / "tokenizer.model"))
    assert all(ids == [sp.bos_id(), *sp.encode(text)] for ids, text in zip(r5["ids"][:-1], CLIENT_PROBE["TEXTS"][:-1]))
    assert max(map(len, r5["ids"])) <= CONTEXT
    assert r5["ids"][-1][:2] == [sp.bos_id(), sp.piece_to_id("<|user|>")]  # a control token typed in text
    # The rotary base reached both: 500000, not the 10000 a reader falls back to.
    head_dim = 16
    assert r4["rotary_inv_freq"] == r5["rotary_inv_freq"]
    assert r5["rotary_inv_freq"][1] == pytest.approx(ROPE_THETA ** (-2 / head_dim), rel=1e-6)
    # One torch, one set of weights, the same operations in the same order: bit for bit the same logits.
    assert len(logits4) == len(logits5) == len(r5["ids"])
    for a, b in zip(logits4, logits5):
        assert a.shape == b.shape and torch.equal(a, b), (a - b).abs().max()


def test_the_tokenizer_files_declare_bos_eos_and_the_context(published, transformers4, transformers5):
    config = json.loads((published / "tokenizer_config.json").read_text())
    assert config["tokenizer_class"] == "PreTrainedTokenizerFast"  # a class transformers 4 and 5 both have
    assert config["add_bos_token"] is True and config["add_eos_token"] is False
    assert config["bos_token"] == "<s>" and config["eos_token"] == "</s>" and config["pad_token"] == "<pad>"
    model_config = json.loads((published / "config.json").read_text())
    assert config["model_max_length"] == model_config["max_position_embeddings"] == CONTEXT
    assert model_config["architectures"] == ["LlamaForCausalLM"]
    assert model_config["rope_theta"] == model_config["rope_parameters"]["rope_theta"] == ROPE_THETA
    for report in (transformers4[0], transformers5[0]):
        assert report["tokenizer_class"] in ("PreTrainedTokenizerFast", "TokenizersBackend")  # 5 renamed it
        assert report["model_max_length"] == CONTEXT
        assert report["special_ids"] == {"bos": 1, "eos": 2, "unk": 0, "pad": 3}
        assert set(EXTRA_TOKENS) <= set(report["all_special_tokens"])  # skip_special_tokens drops them
        # BOS in front of every text and no EOS after it: a prompt for the model to continue (training
        # documents are BOS, text, EOS).
        assert all(ids[0] == 1 and ids[-1] != 2 and 1 not in ids[1:] for ids in report["ids"])
        assert all(ids[0] != 1 for ids in report["without_special"])


def gguf_fields(path: Path) -> tuple[dict, dict]:
    import gguf

    reader = gguf.GGUFReader(str(path))
    return ({name: field.contents() for name, field in reader.fields.items()},
            {t.name: (int(t.tensor_type), [int(n) for n in t.shape], np.asarray(t.data)) for t in reader.tensors})


@pytest.mark.parametrize("transformers_env", ["venv", "transformers4"])
def test_llama_cpp_converter_gives_hagane_s_gguf_tensor_for_tensor(published, tmp_path, transformers_env):
    """llama.cpp's convert_hf_to_gguf.py, run as its users run it, under the venv's transformers 5 and under
    the transformers 4.57 its requirements file pins; its file must equal Hagane's own export
    (src/hagane/convert/gguf.py) in every tensor and in the tokenizer metadata llama.cpp acts on."""
    converter = built(LLAMA_CPP, "llama.cpp's converter from the llama-cpp-python sdist") / "convert_hf_to_gguf.py"
    extra = {"PYTHONPATH": str(built(TRANSFORMERS4, "transformers 4"))} if transformers_env == "transformers4" else {}
    theirs = tmp_path / "llama-cpp.gguf"
    run([sys.executable, str(converter), str(published), "--outfile", str(theirs), "--outtype", "f32"],
        client_env(**extra))
    ours = tmp_path / "hagane.gguf"
    write_gguf(published, ours, name="toy-clients")
    their_fields, their_tensors = gguf_fields(theirs)
    our_fields, our_tensors = gguf_fields(ours)
    assert sorted(their_tensors) == sorted(our_tensors)  # the same names; the order in the file may differ
    for name, (kind, shape, data) in our_tensors.items():
        their_kind, their_shape, their_data = their_tensors[name]
        assert (their_kind, their_shape) == (kind, shape), name
        assert np.array_equal(their_data, data), f"{name} differs from llama.cpp's converter"
    # Every key Hagane writes, llama.cpp's converter writes with the same value (it writes more: licence,
    # size label, key/value head sizes); general.name is each writer's choice.
    compared = sorted(set(our_fields) - {"general.name", "GGUF.kv_count", "GGUF.tensor_count"})
    assert {"tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
            "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.add_bos_token",
            "tokenizer.ggml.add_eos_token", "llama.rope.freq_base", "llama.context_length"} <= set(compared)
    mismatched = {key: (their_fields.get(key), our_fields[key]) for key in compared
                  if their_fields.get(key) != our_fields[key]}
    assert not mismatched, {k: (str(a)[:80], str(b)[:80]) for k, (a, b) in mismatched.items()}
    assert our_fields["tokenizer.ggml.add_bos_token"] is True and our_fields["llama.rope.freq_base"] == ROPE_THETA


@pytest.mark.slow
def test_lm_eval_cli_scores_the_published_model_as_hagane_does(published, tmp_path):
    """`lm_eval --model hf --model_args pretrained=DIR` on a task file in the directory given by
    --include_path (no hub): its log-likelihood of every choice equals Hagane's own harness's, which holds
    only if lm-eval adds BOS as training did and cuts context from continuation the same way."""
    import yaml

    from hagane.evaluate.harness import HaganeLM, load_model
    from hagane.evaluate.tasks import continuation_task

    items = [{"context": "日本の首都は", "choices": ["東京です。", "りんごです。"], "label": 0},
             {"context": "鋼は鉄に炭素を", "choices": ["加えた合金。", "空を飛ぶ鳥。", "読む本。"], "label": 0},
             {"context": "辞書を引いて ", "choices": ["言葉を調べる。", "海で泳ぐ。"], "label": 1}]
    (tmp_path / "items.jsonl").write_text("".join(json.dumps(i, ensure_ascii=False) + "\n" for i in items))
    (tmp_path / "tasks").mkdir()
    (tmp_path / "tasks" / "continuation.yaml").write_text(
        yaml.safe_dump(continuation_task(tmp_path / "items.jsonl"), allow_unicode=True))
    lm_eval = Path(sys.executable).with_name("lm_eval")
    run([str(lm_eval), "--model", "hf", "--model_args", f"pretrained={published},dtype=float32", "--device", "cpu",
         "--tasks", "continuation", "--include_path", str(tmp_path / "tasks"), "--batch_size", "2",
         "--output_path", str(tmp_path / "out"), "--log_samples", "--seed", "1"], client_env())
    results = json.loads(next((tmp_path / "out").rglob("results_*.json")).read_text())["results"]["continuation"]
    samples = [json.loads(line) for f in (tmp_path / "out").rglob("samples_continuation_*.jsonl")
               for line in f.read_text().splitlines()]
    assert len(samples) == len(items)
    model, tokenizer = load_model(published)
    lm = HaganeLM(model, tokenizer)
    correct = 0
    for sample in sorted(samples, key=lambda s: s["doc_id"]):
        # Each choice after its context, then alone (acc_mutual_info's unconditional term, after BOS only).
        pairs = [(a["arg_0"], a["arg_1"]) for a in sample["arguments"].values()]
        item = items[sample["doc_id"]]
        assert pairs == [(item["context"], c) for c in item["choices"]] + [("", c) for c in item["choices"]]
        theirs = [float(resp[0][0]) for resp in sample["resps"]]
        ours = [ll for ll, _ in lm.score([lm.pair_tokens(*pair) for pair in pairs], "lm-eval CLI")]
        assert theirs == pytest.approx(ours, abs=1e-4)
        correct += int(np.argmax(ours[:len(item["choices"])]) == item["label"])
    assert results["acc,none"] == pytest.approx(correct / len(items))

"""Hagane ↔ Hugging Face Llama: an exact round trip, and a gate that catches a wrong weight."""

import dataclasses
import json

import pytest
import torch

from hagane.config import ConvertConfig
from hagane.convert import export as export_mod
from hagane.convert.export import (CARD_FACTS, MODEL_DIR, SAFETENSORS_INDEX, convert_checkpoint, load_native,
                                   parse_size, publish_model, shard_plan)
from hagane.convert.llama import args_from_hf_config, from_hf_state_dict
from hagane.errors import HaganeError
from hagane.pretrain.model import Transformer

CFG = ConvertConfig(max_abs_diff=1e-4, gate_prompts=4, gate_prompt_tokens=32)


@pytest.mark.parametrize("tie", [True, False])
def test_round_trip_through_hf_is_exact(tmp_path, toy_corpus, random_checkpoint, tie):
    from transformers import AutoModelForCausalLM

    ckpt, model = random_checkpoint(tmp_path / "ckpt", tie=tie)
    counts = convert_checkpoint(CFG, ckpt, toy_corpus / "tokenizer" / "hf", toy_corpus / "tokenizer" / "spm.model",
                                [toy_corpus / "tokens" / "valid"], tmp_path / "out")
    assert counts["max_abs_logit_diff"] <= 1e-4 and counts["gate_prompts"] == 4
    hf = AutoModelForCausalLM.from_pretrained(str(tmp_path / "out" / MODEL_DIR), local_files_only=True)
    assert type(hf).__name__ == "LlamaForCausalLM"
    config = json.loads((tmp_path / "out" / MODEL_DIR / "config.json").read_text())
    assert config["tie_word_embeddings"] is tie and config["num_key_value_heads"] == 2
    args = args_from_hf_config(hf.config)
    assert args == model.args
    back = Transformer(args)
    back.load_state_dict(from_hf_state_dict(hf.state_dict(), args))
    original = load_native(ckpt).state_dict()
    assert original.keys() == back.state_dict().keys()
    assert all(torch.equal(original[k], back.state_dict()[k]) for k in original)
    assert (tmp_path / "out" / MODEL_DIR / "tokenizer.json").is_file()
    assert (tmp_path / "out" / "_manifest.json").is_file()


def test_a_corrupted_weight_fails_the_gate(tmp_path, toy_corpus, random_checkpoint, monkeypatch):
    ckpt, _ = random_checkpoint(tmp_path / "ckpt")
    read = export_mod.read_model_tensor

    def corrupted(ckpt, key, shape, dtype):
        tensor = read(ckpt, key, shape, dtype)
        return tensor * 1.01 if key == "layers.1.feed_forward.w2.weight" else tensor

    monkeypatch.setattr(export_mod, "read_model_tensor", corrupted)
    with pytest.raises(HaganeError, match=r"conversion gate failed .* differ from the native model's by"):
        convert_checkpoint(CFG, ckpt, toy_corpus / "tokenizer" / "hf", toy_corpus / "tokenizer" / "spm.model",
                           [toy_corpus / "tokens" / "valid"], tmp_path / "out")
    assert not (tmp_path / "out" / MODEL_DIR).exists()  # nothing half-written is left behind


def test_large_models_are_written_in_shards_one_tensor_at_a_time(tmp_path, toy_corpus, random_checkpoint, monkeypatch):
    from transformers import AutoModelForCausalLM

    ckpt, model = random_checkpoint(tmp_path / "ckpt", tie=False)
    reads = []
    read = export_mod.read_model_tensor
    monkeypatch.setattr(export_mod, "read_model_tensor",
                        lambda c, key, shape, dtype: reads.append(key) or read(c, key, shape, dtype))
    cfg = dataclasses.replace(CFG, max_shard_size="200KB")
    counts = convert_checkpoint(cfg, ckpt, toy_corpus / "tokenizer" / "hf", toy_corpus / "tokenizer" / "spm.model",
                                [toy_corpus / "tokens" / "valid"], tmp_path / "out")
    out = tmp_path / "out" / MODEL_DIR
    index = json.loads((out / SAFETENSORS_INDEX).read_text())
    files = sorted(out.glob("model-*-of-*.safetensors"))
    assert counts["weight_files"] == len(files) == len(set(index["weight_map"].values())) > 2
    held = {f.name: sum(v == f.name for v in index["weight_map"].values()) for f in files}
    # A shard stays under the limit (plus its JSON header) unless it holds one larger tensor alone.
    assert all(f.stat().st_size <= 200_000 + 10_000 or held[f.name] == 1 for f in files)
    assert sorted(reads) == sorted(model.state_dict())  # each tensor read alone, once
    hf = AutoModelForCausalLM.from_pretrained(str(out), local_files_only=True)
    back = from_hf_state_dict(hf.state_dict(), model.args)
    assert all(torch.equal(back[k], v) for k, v in load_native(ckpt).state_dict().items())
    assert json.loads((out / "generation_config.json").read_text())["eos_token_id"] == hf.config.eos_token_id


def test_shard_plan_and_sizes():
    assert parse_size("5GB") == 5 * 10**9 and parse_size("2GiB") == 2 * 2**30 and parse_size(1024) == 1024
    assert parse_size("500MB") == 500 * 10**6
    with pytest.raises(HaganeError, match="max_shard_size 'five' is not a size"):
        parse_size("five")
    assert shard_plan([("a", 4), ("b", 4), ("c", 9), ("d", 1)], 8) == [["a", "b"], ["c"], ["d"]]


def test_model_card_states_data_config_tokenizer_and_evaluation(tmp_path, toy_corpus, random_checkpoint):
    ckpt, _ = random_checkpoint(tmp_path / "ckpt")
    provenance = {"data": {"pretrain_manifest": "results/pretrain/_manifest.json", "pretrain_manifest_sha256": "ab" * 32,
                           "sources": {"wiki": {"shards": 2, "documents": 10, "tokens": 1234}}, "training_shards": 2},
                  "training": {"steps": 6, "lr": 0.003}, "tokens_per_step": 100,
                  "tokenizer": {"model_type": "unigram", "vocab_size": 1200}, "code": {"version": "0.1.0", "git_commit": "c0ffee"}}
    convert_checkpoint(dataclasses.replace(CFG, model_name="toy-ja", license="apache-2.0"), ckpt,
                       toy_corpus / "tokenizer" / "hf", toy_corpus / "tokenizer" / "spm.model",
                       [toy_corpus / "tokens" / "valid"], tmp_path / "out", provenance=provenance)
    card = (tmp_path / "out" / MODEL_DIR / "README.md").read_text()
    # The licence is the published card's: editing it must rerun no conversion.
    assert card.startswith("---\nlanguage:\n- ja\nlibrary_name: transformers\n")
    assert "Not stated in this intermediate directory" in card
    assert "license" not in json.loads((tmp_path / "out" / CARD_FACTS).read_text())
    assert "# toy-ja" in card and "step 3 of 6, 300 training tokens seen" in card
    assert "| wiki | 10 | 1,234 | 2 |" in card and "ab" * 32 in card
    assert '"vocab_size": 1200' in card and "c0ffee" in card
    assert "Not evaluated in this directory" in card
    # Its data section names manifests this test does not make: the chain is tested in test_card.py.
    facts = json.loads((tmp_path / "out" / CARD_FACTS).read_text())
    (tmp_path / "out" / CARD_FACTS).write_text(json.dumps({k: v for k, v in facts.items() if k != "data"}))
    metrics = {"step": 3, "held_out": {"loss_nats_per_token": 5.0, "perplexity": 148.4, "bits_per_char": 2.5,
                                       "bits_per_byte": 1.2, "validation_documents": 7},
               "tasks": {"continuation": {"acc": 0.5, "acc_stderr": 0.1, "acc_mutual_info": 0.75, "samples": 8}}}
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    publish_model(tmp_path / "out" / MODEL_DIR, tmp_path / "out" / CARD_FACTS, tmp_path / "metrics.json",
                  tmp_path / "pub", dataclasses.replace(CFG, license="apache-2.0"))
    published = (tmp_path / "pub" / MODEL_DIR / "README.md").read_text()
    assert published.startswith("---\nlanguage:\n- ja\nlicense: apache-2.0\n")
    assert "| continuation | acc_mutual_info | 0.7500 | ± 0.1000 | 8 | — | — |" not in published  # its stderr is acc's
    assert "| continuation | acc | 0.5000 | ± 0.1000 | 8 | — | — |" in published and "acc_stderr" not in published
    assert "| continuation | acc_mutual_info | 0.7500 |  | 8 | — | — |" in published
    assert "| bits/character | 2.5000 |" in published and "**Held-out text.** 7 documents" in published
    weights = tmp_path / "pub" / MODEL_DIR / "model.safetensors"
    assert weights.read_bytes() == (tmp_path / "out" / MODEL_DIR / "model.safetensors").read_bytes()
    metrics["step"] = 4
    (tmp_path / "metrics.json").write_text(json.dumps(metrics))
    with pytest.raises(HaganeError, match="evaluates step 4, but .* is step 3"):
        publish_model(tmp_path / "out" / MODEL_DIR, tmp_path / "out" / CARD_FACTS, tmp_path / "metrics.json",
                      tmp_path / "pub2")


def test_a_missing_checkpoint_is_named(tmp_path, toy_corpus):
    with pytest.raises(HaganeError, match=r"no complete checkpoint at .*step_0000100 \(removed by pretrain.keep_last"):
        convert_checkpoint(CFG, tmp_path / "step_0000100", toy_corpus / "tokenizer" / "hf",
                           toy_corpus / "tokenizer" / "spm.model", [toy_corpus / "tokens" / "valid"], tmp_path / "out")

"""Hagane ↔ Hugging Face Llama: an exact round trip, and a gate that catches a wrong weight."""

import json

import pytest
import torch

from hagane.config import ConvertConfig
from hagane.convert import export as export_mod
from hagane.convert.export import MODEL_DIR, convert_checkpoint, load_native
from hagane.convert.llama import args_from_hf_config, from_hf_state_dict, to_hf_state_dict
from hagane.errors import HaganeError
from hagane.pretrain.checkpoint import save_checkpoint
from hagane.pretrain.model import ModelArgs, Transformer

CFG = ConvertConfig(max_abs_diff=1e-4, gate_prompts=4, gate_prompt_tokens=32)


def make_checkpoint(root, tie=True):
    args = ModelArgs(vocab_size=1200, dim=64, n_layers=2, n_heads=4, n_kv_heads=2, ffn_dim=160, max_seq_len=64,
                     tie_embeddings=tie)
    torch.manual_seed(0)
    model = Transformer(args)
    # Scale weights up so the logits are far from uniform and a small error shows.
    with torch.no_grad():
        for p in model.parameters():
            p.mul_(5.0)
    optimizer = torch.optim.AdamW(model.parameters())
    return save_checkpoint(root, 3, model, optimizer, model_args=args, fingerprint="x", is_main=True), model


@pytest.mark.parametrize("tie", [True, False])
def test_round_trip_through_hf_is_exact(tmp_path, toy_corpus, tie):
    from transformers import AutoModelForCausalLM

    ckpt, model = make_checkpoint(tmp_path / "ckpt", tie)
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


def test_a_corrupted_weight_fails_the_gate(tmp_path, toy_corpus, monkeypatch):
    ckpt, _ = make_checkpoint(tmp_path / "ckpt")

    def corrupted(state, args):
        out = to_hf_state_dict(state, args)
        out["model.layers.1.mlp.down_proj.weight"] = out["model.layers.1.mlp.down_proj.weight"] * 1.01
        return out

    monkeypatch.setattr(export_mod, "to_hf_state_dict", corrupted)
    with pytest.raises(HaganeError, match=r"conversion gate failed .* differ from the native model's by"):
        convert_checkpoint(CFG, ckpt, toy_corpus / "tokenizer" / "hf", toy_corpus / "tokenizer" / "spm.model",
                           [toy_corpus / "tokens" / "valid"], tmp_path / "out")
    assert not (tmp_path / "out" / MODEL_DIR).exists()  # nothing half-written is left behind

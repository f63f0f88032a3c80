"""Adapter between Hagane's Transformer and transformers' LlamaForCausalLM.

Names map one to one, and the rotary layout is already Hugging Face's half-split one, so no tensor is
permuted: conversion is a renaming in both directions.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import torch

from hagane.errors import HaganeError
from hagane.pretrain.model import ModelArgs

_LAYER_MAP = {
    "attention.wq.weight": "self_attn.q_proj.weight",
    "attention.wk.weight": "self_attn.k_proj.weight",
    "attention.wv.weight": "self_attn.v_proj.weight",
    "attention.wo.weight": "self_attn.o_proj.weight",
    "feed_forward.w1.weight": "mlp.gate_proj.weight",
    "feed_forward.w3.weight": "mlp.up_proj.weight",
    "feed_forward.w2.weight": "mlp.down_proj.weight",
    "attention_norm.weight": "input_layernorm.weight",
    "ffn_norm.weight": "post_attention_layernorm.weight",
}
_TOP_MAP = {"tok_embeddings.weight": "model.embed_tokens.weight", "norm.weight": "model.norm.weight",
            "output.weight": "lm_head.weight"}
_LAYER_KEY = re.compile(r"^layers\.(\d+)\.(.+)$")
_HF_LAYER_KEY = re.compile(r"^model\.layers\.(\d+)\.(.+)$")


def hf_name(key: str, args: ModelArgs) -> str | None:
    """The transformers name of native tensor `key`; None for the output head of a tied model (transformers
    rebuilds lm_head from embed_tokens)."""
    if args.tie_embeddings and key == "output.weight":
        return None
    if m := _LAYER_KEY.match(key):
        return f"model.layers.{m.group(1)}.{_LAYER_MAP[m.group(2)]}"
    if key not in _TOP_MAP:
        raise HaganeError(f"native tensor {key!r} has no Llama counterpart")
    return _TOP_MAP[key]


def hf_order(name: str) -> tuple:
    """transformers' own order of a Llama state dict: embeddings, then layer by layer, then norm and head."""
    if m := _HF_LAYER_KEY.match(name):
        return (1, int(m.group(1)), name)
    return (0 if "embed_tokens" in name else 2, 0, name)


def from_hf_state_dict(state: dict[str, torch.Tensor], args: ModelArgs) -> dict[str, torch.Tensor]:
    inverse_layer = {v: k for k, v in _LAYER_MAP.items()}
    inverse_top = {v: k for k, v in _TOP_MAP.items()}
    out = {}
    for key, tensor in state.items():
        if m := _HF_LAYER_KEY.match(key):
            out[f"layers.{m.group(1)}.{inverse_layer[m.group(2)]}"] = tensor
        elif key in inverse_top:
            out[inverse_top[key]] = tensor
    if args.tie_embeddings:
        out["output.weight"] = out["tok_embeddings.weight"]
    return out


def hf_config(args: ModelArgs, *, bos_id: int, eos_id: int, pad_id: int):
    from transformers import LlamaConfig

    return LlamaConfig(
        vocab_size=args.vocab_size, hidden_size=args.dim, intermediate_size=args.ffn_dim,
        num_hidden_layers=args.n_layers, num_attention_heads=args.n_heads, num_key_value_heads=args.n_kv_heads,
        head_dim=args.head_dim, max_position_embeddings=args.max_seq_len, rms_norm_eps=args.norm_eps,
        rope_theta=args.rope_theta, tie_word_embeddings=args.tie_embeddings, hidden_act="silu",
        attention_bias=False, mlp_bias=False, bos_token_id=bos_id, eos_token_id=eos_id, pad_token_id=pad_id,
        # llama.cpp's convert_hf_to_gguf.py (and vLLM, TGI) pick the model class from `architectures`, not
        # `model_type`: without it the converter stops with "Failed to detect model architecture".
        architectures=["LlamaForCausalLM"], torch_dtype="float32")


def write_hf_config(config, out: Path) -> None:
    """config.json that transformers 5 and 4 read alike. transformers 5 writes the rotary base only inside
    `rope_parameters`; transformers 4 reads only a top-level `rope_theta` and, finding none, silently
    uses 10000: the base is written in both places so that no reader falls back to a default."""
    import json

    config.save_pretrained(str(out))
    path = Path(out) / "config.json"
    data = json.loads(path.read_text())
    rope = data.get("rope_parameters") or {}
    if "rope_theta" in rope:
        data["rope_theta"] = rope["rope_theta"]
    path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n")


def args_from_hf_config(config) -> ModelArgs:
    # transformers 5 keeps the rotary base in `rope_parameters`; 4.x had a `rope_theta` attribute.
    rope = getattr(config, "rope_parameters", None) or {"rope_theta": config.rope_theta}
    return ModelArgs(vocab_size=config.vocab_size, dim=config.hidden_size, n_layers=config.num_hidden_layers,
                     n_heads=config.num_attention_heads, n_kv_heads=config.num_key_value_heads,
                     ffn_dim=config.intermediate_size, max_seq_len=config.max_position_embeddings,
                     rope_theta=float(rope["rope_theta"]), norm_eps=config.rms_norm_eps,
                     tie_embeddings=config.tie_word_embeddings)


def load_hf_checkpoint(hf_dir, *, max_seq_len: int) -> tuple[ModelArgs, dict[str, torch.Tensor]]:
    """A transformers LlamaForCausalLM directory (config.json and one or more .safetensors files) as
    Hagane's model arguments and state dict: the start of continual pretraining."""
    from safetensors.torch import load_file
    from transformers import AutoConfig

    hf_dir = Path(hf_dir)
    if not (hf_dir / "config.json").is_file():
        raise HaganeError(f"pretrain.init_from: {hf_dir} has no config.json (expected a Hugging Face model directory)")
    config = AutoConfig.from_pretrained(str(hf_dir), local_files_only=True)
    if config.model_type != "llama":
        raise HaganeError(f"pretrain.init_from: {hf_dir} holds a {config.model_type!r} model; only Llama models convert")
    files = sorted(hf_dir.glob("*.safetensors"))
    if not files:
        raise HaganeError(f"pretrain.init_from: no .safetensors weights in {hf_dir}")
    hf_state = {}
    for f in files:  # every shard of a sharded checkpoint
        hf_state.update(load_file(str(f)))
    args = dataclasses.replace(args_from_hf_config(config), max_seq_len=max_seq_len)
    state = from_hf_state_dict(hf_state, args)
    return args, state

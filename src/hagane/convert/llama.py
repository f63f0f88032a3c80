"""Adapter between Hagane's Transformer and transformers' LlamaForCausalLM.

Names map one to one, and the rotary layout is already Hugging Face's half-split one, so no tensor is
permuted: conversion is a renaming in both directions.
"""

from __future__ import annotations

import re

import torch

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


def to_hf_state_dict(state: dict[str, torch.Tensor], args: ModelArgs) -> dict[str, torch.Tensor]:
    out = {}
    for key, tensor in state.items():
        if args.tie_embeddings and key == "output.weight":
            continue  # tied: transformers rebuilds lm_head from embed_tokens
        if m := _LAYER_KEY.match(key):
            out[f"model.layers.{m.group(1)}.{_LAYER_MAP[m.group(2)]}"] = tensor
        else:
            out[_TOP_MAP[key]] = tensor
    return out


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
        torch_dtype="float32")


def args_from_hf_config(config) -> ModelArgs:
    # transformers 5 keeps the rotary base in `rope_parameters`; 4.x had a `rope_theta` attribute.
    rope = getattr(config, "rope_parameters", None) or {"rope_theta": config.rope_theta}
    return ModelArgs(vocab_size=config.vocab_size, dim=config.hidden_size, n_layers=config.num_hidden_layers,
                     n_heads=config.num_attention_heads, n_kv_heads=config.num_key_value_heads,
                     ffn_dim=config.intermediate_size, max_seq_len=config.max_position_embeddings,
                     rope_theta=float(rope["rope_theta"]), norm_eps=config.rms_norm_eps,
                     tie_embeddings=config.tie_word_embeddings)

"""GGUF export for llama.cpp users, written with the `gguf` package from a converted (gated) model.

llama.cpp's Llama graph applies rotary embeddings to interleaved pairs (dimensions 2i, 2i+1), the
layout of Meta's original weights; Hugging Face (and Hagane) rotate halves (i, i + head_dim/2). The
query and key projections are therefore permuted, head by head, into the interleaved order, as
llama.cpp's own converter does. The vocabulary is SentencePiece's, with its scores and piece types, so
llama.cpp's SentencePiece tokenizer reproduces it (exactly for BPE models, the default).

The check loads the file with llama-cpp-python, compares its tokenisation of the gate prompts with
SentencePiece's and its next-token predictions with the transformers model's.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from hagane.errors import HaganeError
from hagane.io import atomic_path

GGUF_FILE = "model.gguf"
GGUF_LAYER_NAMES = {
    "input_layernorm.weight": "attn_norm.weight",
    "self_attn.q_proj.weight": "attn_q.weight",
    "self_attn.k_proj.weight": "attn_k.weight",
    "self_attn.v_proj.weight": "attn_v.weight",
    "self_attn.o_proj.weight": "attn_output.weight",
    "post_attention_layernorm.weight": "ffn_norm.weight",
    "mlp.gate_proj.weight": "ffn_gate.weight",
    "mlp.up_proj.weight": "ffn_up.weight",
    "mlp.down_proj.weight": "ffn_down.weight",
}
GGUF_TOP_NAMES = {"model.embed_tokens.weight": "token_embd.weight", "model.norm.weight": "output_norm.weight",
                  "lm_head.weight": "output.weight"}


def interleave_rotary(weight: np.ndarray, n_heads: int) -> np.ndarray:
    """Rows of a q or k projection from half-split rotary order to interleaved order, per head."""
    rows = weight.shape[0]
    return weight.reshape(n_heads, 2, rows // n_heads // 2, *weight.shape[1:]).swapaxes(1, 2).reshape(weight.shape)


def gguf_name(hf_name: str) -> str:
    if hf_name in GGUF_TOP_NAMES:
        return GGUF_TOP_NAMES[hf_name]
    _, _, layer, rest = hf_name.split(".", 3)  # model.layers.N.rest
    return f"blk.{layer}.{GGUF_LAYER_NAMES[rest]}"


def _vocabulary(spm_model: Path):
    import gguf
    import sentencepiece as spm

    from hagane.tokenizer.train import user_defined_ids

    sp = spm.SentencePieceProcessor(model_file=str(spm_model))
    user_defined = user_defined_ids(sp)
    pieces, scores, types = [], [], []
    for i in range(sp.get_piece_size()):
        pieces.append(sp.id_to_piece(i).encode("utf-8"))
        scores.append(sp.get_score(i))
        types.append(gguf.TokenType.UNKNOWN if sp.is_unknown(i) else gguf.TokenType.CONTROL if sp.is_control(i)
                     else gguf.TokenType.BYTE if sp.is_byte(i) else gguf.TokenType.UNUSED if sp.is_unused(i)
                     else gguf.TokenType.USER_DEFINED if i in user_defined else gguf.TokenType.NORMAL)
    return sp, pieces, scores, types


def write_gguf(model_dir: Path, out: Path, *, name: str) -> dict:
    """`model_dir` (a converted LlamaForCausalLM directory with `tokenizer.model`) → one fp32 GGUF file
    at `out` (the caller makes it appear whole)."""
    import gguf
    from safetensors import safe_open

    config = json.loads((model_dir / "config.json").read_text())
    spm_model = model_dir / "tokenizer.model"
    if not spm_model.is_file():
        raise HaganeError(f"{model_dir} has no tokenizer.model (the SentencePiece model GGUF needs)")
    sp, pieces, scores, types = _vocabulary(spm_model)
    if len(pieces) != config["vocab_size"]:
        raise HaganeError(f"{spm_model} has {len(pieces)} pieces, {model_dir}/config.json says {config['vocab_size']}")
    n_heads, n_kv = config["num_attention_heads"], config["num_key_value_heads"]
    head_dim = config.get("head_dim") or config["hidden_size"] // n_heads
    rope = config.get("rope_parameters") or {"rope_theta": config.get("rope_theta", 10000.0)}
    writer = gguf.GGUFWriter(str(out), arch="llama")
    writer.add_name(name)
    writer.add_context_length(config["max_position_embeddings"])
    writer.add_embedding_length(config["hidden_size"])
    writer.add_block_count(config["num_hidden_layers"])
    writer.add_feed_forward_length(config["intermediate_size"])
    writer.add_head_count(n_heads)
    writer.add_head_count_kv(n_kv)
    writer.add_rope_dimension_count(head_dim)
    writer.add_rope_freq_base(float(rope["rope_theta"]))
    writer.add_layer_norm_rms_eps(config["rms_norm_eps"])
    writer.add_vocab_size(config["vocab_size"])
    writer.add_file_type(gguf.LlamaFileType.ALL_F32)
    writer.add_tokenizer_model("llama")
    writer.add_tokenizer_pre("default")
    writer.add_token_list(pieces)
    writer.add_token_scores(scores)
    writer.add_token_types(types)
    writer.add_bos_token_id(config["bos_token_id"])
    writer.add_eos_token_id(config["eos_token_id"])
    writer.add_unk_token_id(sp.unk_id())
    if config.get("pad_token_id") is not None:
        writer.add_pad_token_id(config["pad_token_id"])
    writer.add_add_bos_token(True)
    writer.add_add_eos_token(False)
    n_tensors = 0
    for file in sorted(model_dir.glob("*.safetensors")):
        with safe_open(str(file), framework="numpy") as f:
            for key in sorted(f.keys()):
                tensor = f.get_tensor(key).astype(np.float32)
                if key.endswith("q_proj.weight"):
                    tensor = interleave_rotary(tensor, n_heads)
                elif key.endswith("k_proj.weight"):
                    tensor = interleave_rotary(tensor, n_kv)
                writer.add_tensor(gguf_name(key), np.ascontiguousarray(tensor))
                n_tensors += 1
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()
    return {"gguf_tensors": n_tensors, "gguf_bytes": out.stat().st_size}


def check_gguf(path: Path, model_dir: Path, prompts: list[list[int]]) -> dict:
    """llama.cpp (through llama-cpp-python) tokenises each prompt's text as SentencePiece does, and its
    next-token predictions agree with transformers' at every position of every prompt; the largest
    logit difference is reported (fp32 both sides)."""
    import torch
    from transformers import AutoModelForCausalLM

    try:
        from llama_cpp import Llama
    except ImportError as err:
        raise HaganeError("convert.gguf needs llama-cpp-python to check the file it writes: "
                          "`pip install llama-cpp-python` (it builds llama.cpp, ~8 minutes on 2 cores)") from err
    hf = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32, local_files_only=True).eval()
    n_ctx = max(len(p) for p in prompts)
    # An fp32 KV cache (type 0): the default f16 cache alone moves logits by ~1e-2.
    llm = Llama(model_path=str(path), n_ctx=n_ctx, logits_all=True, verbose=False, n_threads=2, seed=0,
                type_k=0, type_v=0)
    import sentencepiece as spm

    sp = spm.SentencePieceProcessor(model_file=str(model_dir / "tokenizer.model"))
    # llama.cpp's SentencePiece tokenizer merges pieces by score, which reproduces BPE models; a unigram
    # model's best segmentation can differ, so only BPE vocabularies are held to the same ids.
    bpe = is_bpe(model_dir / "tokenizer.model")
    worst, positions = 0.0, 0
    for ids in prompts:
        text = sp.decode(ids[1:])
        if bpe and llm.tokenize(text.encode("utf-8"), add_bos=True, special=False) != [sp.bos_id(), *sp.encode(text)]:
            raise HaganeError(f"GGUF check failed for {path}: llama.cpp tokenises the gate prompt {text[:40]!r} "
                              "differently from SentencePiece")
        llm.reset()
        llm.eval(ids)
        ours = np.array(llm.scores[:len(ids)], dtype=np.float32)
        with torch.no_grad():
            theirs = hf(input_ids=torch.tensor([ids])).logits[0].numpy()
        # A disagreement is llama.cpp's choice scoring clearly below transformers' best (not a near tie).
        picked = theirs[np.arange(len(ids)), ours.argmax(-1)]
        disagree = np.flatnonzero(picked < theirs.max(-1) - 1e-3)
        if len(disagree):
            k = int(disagree[0])
            raise HaganeError(f"GGUF check failed for {path}: at position {k} of a gate prompt llama.cpp predicts "
                              f"token {int(ours[k].argmax())}, transformers {int(theirs[k].argmax())}")
        worst = max(worst, float(np.abs(ours - theirs).max()))
        positions += len(ids)
    return {"gguf_checked_positions": positions, "gguf_max_abs_logit_diff": worst,
            "gguf_tokenizer_checked": bpe}


def is_bpe(spm_model: Path) -> bool:
    from sentencepiece import sentencepiece_model_pb2

    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(Path(spm_model).read_bytes())
    return proto.trainer_spec.model_type == sentencepiece_model_pb2.TrainerSpec.BPE


def export_gguf(cfg, model_dir: Path, valid_prefixes: list[Path], out_dir: Path) -> dict:
    """`out_dir/model.gguf` from a converted model, kept only if llama.cpp agrees with transformers."""
    from hagane.convert.export import gate_prompts
    from hagane.manifest import now, write_manifest

    started = now()
    prompts = gate_prompts(valid_prefixes, cfg.gate_prompts, cfg.gate_prompt_tokens)
    with atomic_path(out_dir / GGUF_FILE) as tmp:
        counts = write_gguf(model_dir, tmp, name=cfg.model_name)
        counts.update(check_gguf(tmp, model_dir, prompts))
    write_manifest(out_dir, stage="publish", config={"convert": vars(cfg)},
                   inputs=[model_dir, *[p.with_suffix(s) for p in sorted(valid_prefixes) for s in (".bin", ".idx.parquet")]],
                   outputs=[out_dir / GGUF_FILE], counts=counts, started_at=started)
    print(f"wrote {out_dir / GGUF_FILE}: llama.cpp and transformers agree on the next token at "
          f"{counts['gguf_checked_positions']} positions (max |Δlogit| {counts['gguf_max_abs_logit_diff']:.2e})")
    return counts

"""Write a LlamaForCausalLM directory from a native checkpoint, then prove it matches."""

from __future__ import annotations

import shutil
from pathlib import Path

import torch

from hagane.config import ConvertConfig
from hagane.errors import HaganeError
from hagane.io import atomic_path
from hagane.manifest import now, write_manifest
from hagane.pretrain.checkpoint import load_model_weights, read_state
from hagane.pretrain.model import ModelArgs, Transformer
from hagane.tokenize.shards import TokenShard
from hagane.tokenizer.train import BOS, EOS, PAD
from hagane.convert.llama import hf_config, to_hf_state_dict

MODEL_DIR = "model"


def load_native(ckpt: Path) -> Transformer:
    args = ModelArgs(**read_state(ckpt)["model_args"])
    model = Transformer(args)
    load_model_weights(ckpt, model)
    return model.eval()


def gate_prompts(valid_prefixes: list[Path], n: int, n_tokens: int) -> list[list[int]]:
    """Fixed prompts: the first tokens of the first held-out documents (in sorted shard order)."""
    prompts = []
    for prefix in sorted(valid_prefixes):
        shard = TokenShard.open(prefix)
        for offset, length in zip(shard.index["offset"], shard.index["n_tokens"]):
            take = min(int(length), n_tokens)  # each document starts with BOS in the shards
            if take >= 2:
                prompts.append(list(map(int, shard.tokens[offset:offset + take])))
            if len(prompts) == n:
                return prompts
    if not prompts:
        raise HaganeError("no held-out documents to build the conversion gate's prompts from")
    return prompts


@torch.no_grad()
def logits_gap(native: Transformer, hf_model, prompts: list[list[int]]) -> float:
    worst = 0.0
    for ids in prompts:
        x = torch.tensor([ids])
        a = native(x)
        b = hf_model(input_ids=x).logits
        worst = max(worst, (a - b).abs().max().item())
    return worst


def check_tokenizer(hf_dir: Path, spm_model: Path, prompts: list[list[int]]) -> None:
    import sentencepiece as spm
    from transformers import AutoTokenizer

    sp = spm.SentencePieceProcessor(model_file=str(spm_model))
    tok = AutoTokenizer.from_pretrained(str(hf_dir))
    for ids in prompts:
        text = sp.decode(ids[1:])
        if tok.encode(text) != [BOS, *sp.encode(text)]:
            raise HaganeError(f"tokenizer in {hf_dir} disagrees with {spm_model} on the gate prompt {text[:40]!r}")


def convert_checkpoint(cfg: ConvertConfig, ckpt: Path, tokenizer_dir: Path, spm_model: Path,
                       valid_prefixes: list[Path], out_dir: Path) -> dict:
    from transformers import AutoModelForCausalLM, LlamaForCausalLM

    started = now()
    native = load_native(ckpt)
    args = native.args
    with atomic_path(out_dir / MODEL_DIR) as tmp:
        config = hf_config(args, bos_id=BOS, eos_id=EOS, pad_id=PAD)
        hf = LlamaForCausalLM(config)
        missing, unexpected = hf.load_state_dict(to_hf_state_dict(native.state_dict(), args), strict=False)
        real_missing = [k for k in missing if not (args.tie_embeddings and k == "lm_head.weight")]
        if real_missing or unexpected:
            raise HaganeError(f"adapter mismatch: missing {real_missing}, unexpected {unexpected}")
        hf.save_pretrained(str(tmp), safe_serialization=True)
        for f in sorted(tokenizer_dir.iterdir()):
            shutil.copyfile(f, tmp / f.name)
        # The gate reads back what was written, exactly as a user would load it: offline, fp32.
        reloaded = AutoModelForCausalLM.from_pretrained(str(tmp), dtype=torch.float32, local_files_only=True).eval()
        prompts = gate_prompts(valid_prefixes, cfg.gate_prompts, cfg.gate_prompt_tokens)
        gap = logits_gap(native, reloaded, prompts)
        if not gap <= cfg.max_abs_diff:
            raise HaganeError(f"conversion gate failed for {ckpt}: converted logits differ from the native "
                              f"model's by {gap:.3e} > convert.max_abs_diff {cfg.max_abs_diff:.1e}")
        check_tokenizer(tmp, spm_model, prompts)
    counts = {"max_abs_logit_diff": gap, "gate_prompts": len(prompts), "parameters": native.num_parameters()}
    write_manifest(out_dir, stage="convert", config={"convert": vars(cfg)},
                   inputs=[ckpt, tokenizer_dir, spm_model, *[p.with_suffix(s) for p in sorted(valid_prefixes)
                                                             for s in (".bin", ".idx.parquet")]],
                   outputs=[out_dir / MODEL_DIR], counts=counts, started_at=started)
    print(f"converted {ckpt} → {out_dir / MODEL_DIR}; max |Δlogit| = {gap:.3e} on {len(prompts)} prompts")
    return counts

"""The tokenizer stage: train SentencePiece, export the HF directory, verify it on held-out documents."""

from __future__ import annotations

from pathlib import Path

from hagane.config import SplitConfig, TokenizerConfig
from hagane.io import atomic_path, read_jsonl_zst, write_json
from hagane.manifest import now, write_manifest
from hagane.split import is_validation
from hagane.tokenizer.export import export_hf_tokenizer, verify_hf_tokenizer
from hagane.tokenizer.train import train_sentencepiece

MODEL, HF_DIR, VERIFY = "spm.model", "hf", "verification.json"


def held_out_texts(shards: list[Path], split: SplitConfig):
    for shard in shards:
        for doc in read_jsonl_zst(shard):
            if is_validation(doc["id"], split):
                yield doc["text"]


def build_tokenizer(cfg: TokenizerConfig, split: SplitConfig, shards: list[Path], out_dir: Path) -> dict:
    started = now()
    shards = sorted(shards)
    model = out_dir / MODEL
    n_lines = train_sentencepiece(cfg, split, shards, model)
    with atomic_path(out_dir / HF_DIR) as tmp:
        export_hf_tokenizer(model, tmp)
        check = verify_hf_tokenizer(model, tmp, held_out_texts(shards, split))
    write_json(out_dir / VERIFY, check)
    counts = {"training_lines": n_lines, "vocab_size": cfg.vocab_size, **check}
    write_manifest(out_dir, stage="tokenizer", config={"tokenizer": vars(cfg), "split": vars(split)},
                   inputs=shards, outputs=[model, model.with_suffix(".vocab"), out_dir / HF_DIR, out_dir / VERIFY],
                   counts=counts, started_at=started)
    print(f"tokenizer: {counts}")
    return counts

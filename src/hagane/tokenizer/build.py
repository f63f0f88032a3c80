"""The tokenizer stage: train SentencePiece, export the HF directory, verify it on held-out documents."""

from __future__ import annotations

from pathlib import Path

from hagane.config import SplitConfig, TokenizerConfig
from hagane.io import atomic_path, read_jsonl_zst, write_json
from hagane.manifest import now, write_manifest
from hagane.split import validation_test
from hagane.sudachi import versions
from hagane.tokenizer.export import export_hf_tokenizer, verify_hf_tokenizer
from hagane.tokenizer.report import tokenizer_report
from hagane.tokenizer.train import train_sentencepiece

MODEL, HF_DIR, VERIFY, REPORT = "spm.model", "hf", "verification.json", "report.json"


def held_out_documents(shards: list[Path], split: SplitConfig):
    """(source, text) of every held-out document."""
    held_out = validation_test(split)
    for shard in shards:
        for doc in read_jsonl_zst(shard):
            if held_out(doc["id"]):
                yield doc["source"], doc["text"]


def held_out_texts(shards: list[Path], split: SplitConfig):
    return (text for _, text in held_out_documents(shards, split))


def build_tokenizer(cfg: TokenizerConfig, split: SplitConfig, shards: list[Path], out_dir: Path) -> dict:
    started = now()
    shards = sorted(shards)
    model = out_dir / MODEL
    training = train_sentencepiece(cfg, split, shards, model)
    with atomic_path(out_dir / HF_DIR) as tmp:
        export_hf_tokenizer(model, tmp)
        check = verify_hf_tokenizer(model, tmp, held_out_texts(shards, split))
    write_json(out_dir / VERIFY, check)
    report = tokenizer_report(model, held_out_documents(shards, split))
    write_json(out_dir / REPORT, report)
    overall = report["held_out"].get("all", {})
    counts = {**training, "vocab_size": cfg.vocab_size, **check,
              **{k: overall[k] for k in ("characters_per_token", "bytes_per_token", "byte_fallback_rate") if k in overall}}
    config = {"tokenizer": vars(cfg), "split": vars(split)}
    if cfg.pretokenize == "sudachi":
        config["sudachi"] = versions()  # another dictionary splits differently
    write_manifest(out_dir, stage="tokenizer", config=config,
                   inputs=shards, outputs=[model, model.with_suffix(".vocab"), out_dir / HF_DIR, out_dir / VERIFY,
                                           out_dir / REPORT],
                   counts=counts, started_at=started)
    print(f"tokenizer: {counts}")
    return counts

"""Encode one deduplicated shard into train and validation token shards."""

from __future__ import annotations

from pathlib import Path

import sentencepiece as spm

from hagane.config import SplitConfig, TokenizeConfig
from hagane.io import read_jsonl_zst
from hagane.manifest import now, write_manifest
from hagane.split import is_validation
from hagane.tokenize.shards import write_token_shard
from hagane.tokenizer.train import BOS, EOS

SPLITS = ("train", "valid")


def tokenize_shard(cfg: TokenizeConfig, split: SplitConfig, documents: Path, model_file: Path,
                   out_dir: Path) -> dict:
    started = now()
    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    docs = {name: [] for name in SPLITS}
    all_docs = list(read_jsonl_zst(documents))
    # SentencePiece's batch encode spreads documents over threads; order of results is preserved.
    ids = sp.encode([d["text"] for d in all_docs], num_threads=cfg.num_threads)
    for doc, doc_ids in zip(all_docs, ids):
        docs["valid" if is_validation(doc["id"], split) else "train"].append((doc["id"], doc_ids, doc["text"]))
    counts = {}
    outputs = []
    for name in SPLITS:
        counts[name] = write_token_shard(out_dir / name, docs[name], vocab_size=sp.get_piece_size(),
                                         bos_id=BOS, eos_id=EOS)
        outputs += [out_dir / f"{name}.bin", out_dir / f"{name}.idx.parquet"]
    write_manifest(out_dir, stage="tokenize", config={"tokenize": vars(cfg), "split": vars(split)},
                   inputs=[documents, model_file], outputs=outputs, counts=counts, started_at=started)
    print(f"tokenize {documents}: {counts}")
    return counts

"""Encode one deduplicated shard into train and validation token shards."""

from __future__ import annotations

from pathlib import Path

import sentencepiece as spm

from hagane.collector import collector_paused
from hagane.config import SplitConfig, TokenizeConfig
from hagane.errors import HaganeError
from hagane.io import read_jsonl_zst
from hagane.manifest import now, write_manifest
from hagane.split import validation_test
from hagane.tokenize.shards import write_token_shard
from hagane.tokenizer.train import BOS, EOS

SPLITS = ("train", "valid")
TOO_LONG = "document_too_long"


def tokenize_shard(cfg: TokenizeConfig, split: SplitConfig, documents: Path, model_file: Path,
                   out_dir: Path) -> dict:
    started = now()
    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    with collector_paused():
        doc_ids, texts, skipped = [], [], []
        for n, doc in enumerate(read_jsonl_zst(documents), start=1):
            text = doc.get("text")
            if not isinstance(text, str) or not isinstance(doc.get("id"), str):
                raise HaganeError(f"{documents}:{n}: a document record needs string 'id' and 'text' fields "
                                  f"(got {sorted(doc)})")
            if len(text) > cfg.max_document_chars:
                skipped.append(doc["id"])
                continue
            doc_ids.append(doc["id"])
            texts.append(text)
        # SentencePiece's batch encode spreads documents over threads (the order of results is kept) and
        # hands each document's ids over as one int32 array: no Python int per token to make and free.
        ids = sp.encode(texts, num_threads=cfg.num_threads, out_type="numpy")
        docs = {name: [] for name in SPLITS}
        held_out = validation_test(split)
        for doc_id, token_ids, text in zip(doc_ids, ids, texts):
            docs["valid" if held_out(doc_id) else "train"].append((doc_id, token_ids, text))
        counts: dict = {}
        outputs = []
        for name in SPLITS:
            counts[name] = write_token_shard(out_dir / name, docs[name], vocab_size=sp.get_piece_size(),
                                             bos_id=BOS, eos_id=EOS)
            outputs += [out_dir / f"{name}.bin", out_dir / f"{name}.idx.parquet"]
    if skipped:
        # Counted and named, never silently lost; the limit is tokenize.max_document_chars.
        counts["skipped"] = {TOO_LONG: len(skipped)}
        counts["skipped_ids"] = {TOO_LONG: skipped}
        print(f"tokenize {documents}: skipped {len(skipped)} document(s) over {cfg.max_document_chars} characters "
              f"(tokenize.max_document_chars): {skipped[:10]}")
    write_manifest(out_dir, stage="tokenize", config={"tokenize": vars(cfg), "split": vars(split)},
                   inputs=[documents, model_file], outputs=outputs, counts=counts, started_at=started)
    print(f"tokenize {documents}: { {k: counts[k] for k in SPLITS} }")
    return counts

"""Exact deduplication: the first document (in shard order, then document order) with a given normalised
text is kept; later ones are dropped with reason `exact_duplicate` and the id of the one kept.

Memory holds, per distinct document, its 16-byte digest and the id of its first copy in a dict: ~170
bytes measured (benchmarks/scale.py, 10^6 documents), so 10^8 need ~17 GB; dropped documents are written as they
are met. Splitting the digests by prefix across jobs is the way past one node's memory (not done yet).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

from tqdm import tqdm

from hagane.config import ExactDedupConfig
from hagane.io import jsonl_zst_writer, read_jsonl_zst, write_json, write_jsonl_zst
from hagane.manifest import now, write_manifest

DROPPED, COUNTS = "dropped.jsonl.zst", "counts.json"
_WHITESPACE = re.compile(r"\s+")


def dedup_key(text: str, cfg: ExactDedupConfig) -> bytes:
    if cfg.ignore_whitespace:
        text = _WHITESPACE.sub("", text)
    if cfg.casefold:
        text = text.casefold()
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).digest()


def dedup_exact(cfg: ExactDedupConfig, shards: dict[str, Path], outputs: dict[str, Path], out_dir: Path) -> dict:
    """`shards` and `outputs` map the same shard names to input and output document files. Dropped
    documents are written as they are met: the job holds the first id per distinct text, nothing more."""
    started = now()
    first_id: dict[bytes, str] = {}
    per_shard: dict[str, dict] = {}
    with jsonl_zst_writer(out_dir / DROPPED) as write_dropped:
        for name in tqdm(sorted(shards), desc="dedup exact", unit="shard", mininterval=10):
            kept = dropped = 0

            def unique(name=name):
                nonlocal kept, dropped
                for doc in read_jsonl_zst(shards[name]):
                    key = dedup_key(doc["text"], cfg)
                    if key in first_id:
                        write_dropped({**doc, "drop_reason": "exact_duplicate", "duplicate_of": first_id[key]})
                        dropped += 1
                        continue
                    first_id[key] = doc["id"]
                    kept += 1
                    yield doc

            write_jsonl_zst(outputs[name], unique())
            per_shard[name] = {"kept": kept, "dropped": dropped}
    n_dropped = sum(s["dropped"] for s in per_shard.values())
    reasons = {"exact_duplicate": n_dropped} if n_dropped else {}
    counts = {"documents_in": sum(s["kept"] + s["dropped"] for s in per_shard.values()),
              "kept": sum(s["kept"] for s in per_shard.values()), "dropped": reasons, "shards": per_shard}
    write_json(out_dir / COUNTS, counts)
    write_manifest(out_dir, stage="dedup", config={"exact": vars(cfg)}, inputs=[shards[n] for n in sorted(shards)],
                   outputs=[*(outputs[n] for n in sorted(outputs)), out_dir / DROPPED, out_dir / COUNTS],
                   counts=counts, started_at=started)
    print(f"dedup: {counts['documents_in']} in, {counts['kept']} kept, {reasons}")
    return counts

"""The train/validation split: a document's side depends only on its id and the split salt, so it never
changes when shards, job counts or other documents change."""

from __future__ import annotations

import hashlib

from hagane.config import SplitConfig


def is_validation(doc_id: str, cfg: SplitConfig) -> bool:
    digest = hashlib.sha256(f"{cfg.salt}\x00{doc_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") < cfg.validation_fraction * 2**64

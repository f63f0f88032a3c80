"""The train/validation split: a document's side depends only on its id and the split salt, so it never
changes when shards, job counts or other documents change."""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from hagane.config import SplitConfig


def validation_test(cfg: SplitConfig) -> Callable[[str], bool]:
    """`is_validation` for one split, the salt hashed once: the tokenize stage asks for every document.
    A document is held out when the first 8 bytes of sha256(salt NUL id), big-endian, fall below
    validation_fraction × 2⁶⁴."""
    salted = hashlib.sha256(f"{cfg.salt}\x00".encode())
    bound = cfg.validation_fraction * 2**64

    def held_out(doc_id: str) -> bool:
        digest = salted.copy()
        digest.update(doc_id.encode())
        return int.from_bytes(digest.digest()[:8], "big") < bound

    return held_out


def is_validation(doc_id: str, cfg: SplitConfig) -> bool:
    return validation_test(cfg)(doc_id)

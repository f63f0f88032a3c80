"""Document records (DESIGN.md): stable ids and origin locators, and the per-file accounting."""

from __future__ import annotations

import dataclasses
from collections import Counter

from hagane.io import sha256_text

# 128 bits of sha256: collisions are out of reach for any corpus, and ids stay short in every index.
ID_HEX_CHARS = 32


def document_id(source: str, rel_path: str, locator: str) -> str:
    """Stable id: a hash of the source name and the origin locator, never a counter."""
    return sha256_text(source, rel_path, locator)[:ID_HEX_CHARS]


@dataclasses.dataclass
class Accounting:
    """records seen = documents written + Σ skipped(reason) + Σ quarantined(reason)."""

    records_seen: int = 0
    documents: int = 0
    skipped: Counter = dataclasses.field(default_factory=Counter)
    quarantined: Counter = dataclasses.field(default_factory=Counter)
    # One FileRead.as_dict() per input file: whether each was read whole (bytes read, damaged, cut).
    files: list = dataclasses.field(default_factory=list)

    def balanced(self) -> bool:
        return self.records_seen == self.documents + sum(self.skipped.values()) + sum(self.quarantined.values())

    def as_dict(self) -> dict:
        return {"records_seen": self.records_seen, "documents": self.documents,
                "skipped": dict(sorted(self.skipped.items())),
                "quarantined": dict(sorted(self.quarantined.items()))}

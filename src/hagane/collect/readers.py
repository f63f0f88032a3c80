"""What a reader yields: a raw document with its locator, or a record it rejected and why."""

from __future__ import annotations

import dataclasses


@dataclasses.dataclass(frozen=True)
class RawDocument:
    text: str
    locator: str  # unique within the file: the id is derived from it
    origin: dict  # reader-specific origin fields (record id, offset, URL, title, line …)


@dataclasses.dataclass(frozen=True)
class Rejected:
    kind: str  # "skipped" (not a document, by design) or "quarantined" (a fault in the record)
    reason: str  # stable snake_case
    locator: str
    detail: str = ""

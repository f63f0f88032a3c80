"""Multistream Wikipedia dumps: where their page streams start, from the index published beside them, so
that one dump can be read by many jobs. Kept apart from the reader (no parser imports): the workflow
plans its jobs with it when it loads."""

from __future__ import annotations

import bz2
from pathlib import Path

from hagane.errors import HaganeError


def multistream_index(dump: Path) -> Path | None:
    """The index published beside a multistream dump, if it is there:
    jawiki-…-pages-articles-multistream.xml.bz2 → jawiki-…-pages-articles-multistream-index.txt.bz2."""
    if not dump.name.endswith("-multistream.xml.bz2"):
        return None
    index = dump.with_name(dump.name.removesuffix(".xml.bz2") + "-index.txt.bz2")
    return index if index.is_file() else None


def stream_offsets(index: Path) -> list[int]:
    """Byte offsets of a multistream dump's page streams, in order (index lines are offset:page_id:title)."""
    offsets: list[int] = []
    try:
        with bz2.open(index, "rt", encoding="utf-8") as f:
            for line_no, line in enumerate(f, start=1):
                head, sep, _ = line.partition(":")
                if not sep or not head.isdigit():
                    raise HaganeError(f"{index}: line {line_no} is not offset:page_id:title")
                offset = int(head)
                if not offsets or offset != offsets[-1]:
                    if offsets and offset < offsets[-1]:
                        raise HaganeError(f"{index}: line {line_no}: offsets go backwards")
                    offsets.append(offset)
    except (EOFError, OSError) as err:
        raise HaganeError(f"{index}: unreadable multistream index ({err})") from err
    return offsets


def split_multistream(dump: Path, index: Path, target_bytes: int) -> list[tuple[int, int]]:
    """Byte ranges of consecutive page streams, about `target_bytes` of compressed dump each. Ranges
    start at stream boundaries, so each one is read on its own; the last runs to the end of the file
    (its last stream holds the closing tag)."""
    offsets = stream_offsets(index)
    if not offsets:
        raise HaganeError(f"{index}: empty multistream index")
    ranges: list[tuple[int, int]] = []
    start = offsets[0]
    for offset in offsets[1:]:
        if offset - start >= target_bytes:
            ranges.append((start, offset))
            start = offset
    ranges.append((start, dump.stat().st_size))
    return ranges

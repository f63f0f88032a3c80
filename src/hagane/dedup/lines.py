"""Corpus-wide line dedup (CCNet's paragraph dedup): a line found in at least `min_documents` documents of
the whole corpus is boilerplate — a site's header, footer, cookie notice, "前のページ / 次のページ" — and is
removed from every document that has it.

The unit is the line, the text between two "\\n": collect writes one block of extracted HTML (a paragraph, a
heading, a list item, a table row) per line, so lines are what CCNet calls paragraphs in its WET files.
Larger units would miss boilerplate that shares a paragraph with content in plain-text sources; smaller
ones (sentences) would remove common sentences of real prose.

A line's key is the line with surrounding whitespace trimmed and inner runs of whitespace made one space;
a key shorter than `min_line_chars` is never counted nor removed ("はい", "}", a lone "注記" carry too little
to call boilerplate and repeat as content). Keys are hashed to 8 bytes (blake2b): at 10^9 distinct lines
about 0.03 collisions are expected, and one only matters if its partner is itself common.

Three passes, memory bounded at any corpus size:
1. `hash_shard`, per shard (pack jobs): each key counted once per document, then per shard: `line_hashes.npy`,
   a (2, n) uint64 array, row 0 the distinct hashes sorted, row 1 how many of the shard's documents have it.
   Memory: one shard's distinct lines.
2. `count_partition`, `partitions` jobs: partition p owns the hashes in [p·2^64/P, (p+1)·2^64/P). It reads
   from every shard's file only its slice (memory-mapped, found by binary search), sums the document counts
   of equal hashes and writes `common.npy`, the sorted hashes counted in at least `min_documents` documents.
   Memory: the partition's distinct hashes (16 bytes each, ~3× while merging), i.e. distinct lines / P.
3. `remove_shard`, per shard (pack jobs): every common line removed from every document (the first copy
   too: boilerplate has no original). Exact accounting per document in `lines.parquet` (lines and
   characters removed); a document that removal leaves shorter than `min_document_chars` goes to
   `dropped.jsonl.zst` with reason `line_dedup_too_short`. Memory: the common hashes (8 bytes each) and
   one shard.

Place in the chain: after exact dedup, before MinHash. After exact dedup, because an exact copy would count
its own lines again: a page crawled five times would lose every line, and all five copies would be dropped
instead of one kept. Before MinHash, because shared boilerplate makes distinct pages look alike to it.
After PII redaction (which comes before exact dedup), because a footer that differs only in an address is
one line once the address reads <EMAIL>.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from hagane.config import LineDedupConfig
from hagane.errors import HaganeError
from hagane.io import atomic_path, jsonl_zst_writer, read_jsonl_zst, write_json
from hagane.manifest import now, write_manifest

HASHES, COMMON, DOCUMENTS, DROPPED, LINES, COUNTS = (
    "line_hashes.npy", "common.npy", "documents.jsonl.zst", "dropped.jsonl.zst", "lines.parquet", "counts.json")
TOO_SHORT = "line_dedup_too_short"
_SPACES = re.compile(r"\s+")
# Hashes merged at once in a partition job at least: fewer merges of a small running set, a fixed cost in
# memory (16 bytes each, a few times over while sorting).
MERGE_AT_LEAST = 1 << 20


def line_key(line: str, cfg: LineDedupConfig) -> str | None:
    key = _SPACES.sub(" ", line.strip())
    return key if len(key) >= cfg.min_line_chars else None


def line_hash(key: str) -> int:
    return int.from_bytes(hashlib.blake2b(key.encode("utf-8"), digest_size=8).digest(), "little")


def _line_hashes(lines: list[str], cfg: LineDedupConfig) -> list[int | None]:
    return [None if (key := line_key(line, cfg)) is None else line_hash(key) for line in lines]


def _save(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as out:
        np.save(out, array, allow_pickle=False)


# ---------------------------------------------------------------------------------------- pass 1

def hash_shard(cfg: LineDedupConfig, documents: Path, out_dir: Path) -> dict:
    """The shard's distinct line hashes and, for each, the number of its documents that have it."""
    started = now()
    per_document: list[np.ndarray] = []
    n_docs = n_lines = 0
    for doc in read_jsonl_zst(documents):
        n_docs += 1
        hashes = {h for h in _line_hashes(doc["text"].split("\n"), cfg) if h is not None}  # once per document
        n_lines += len(hashes)
        per_document.append(np.fromiter(hashes, dtype=np.uint64, count=len(hashes)))
    every = np.concatenate(per_document) if per_document else np.empty(0, np.uint64)
    hashes, docs = np.unique(every, return_counts=True)
    _save(out_dir / HASHES, np.stack([hashes, docs.astype(np.uint64)]))
    counts = {"documents": n_docs, "line_occurrences": n_lines, "distinct_lines": int(len(hashes))}
    write_json(out_dir / COUNTS, counts)
    write_manifest(out_dir, stage="dedup.lines.hash", config={"line_dedup": _settings(cfg)}, inputs=[documents],
                   outputs=[out_dir / HASHES, out_dir / COUNTS], counts=counts, started_at=started)
    print(f"line hashes {documents}: {counts}")
    return counts


def _settings(cfg: LineDedupConfig) -> dict:
    return {"min_documents": cfg.min_documents, "min_line_chars": cfg.min_line_chars,
            "min_document_chars": cfg.min_document_chars, "partitions": cfg.partitions}


# ---------------------------------------------------------------------------------------- pass 2

def partition_bounds(partition: int, partitions: int) -> tuple[int, int]:
    """[low, high) of the hashes partition `partition` of `partitions` owns; high may be 2^64."""
    if not 0 <= partition < partitions:
        raise HaganeError(f"partition {partition} is not one of 0…{partitions - 1} (line_dedup.partitions)")
    return partition * 2**64 // partitions, (partition + 1) * 2**64 // partitions


def _slice(path: Path, low: int, high: int) -> np.ndarray:
    """The (2, m) columns of a shard's hash file whose hash lies in [low, high), read through a memory map:
    a binary search finds the ends, and only the slice's pages are read."""
    try:
        table = np.load(path, mmap_mode="r")
    except (OSError, ValueError) as err:
        raise HaganeError(f"{path}: not a line hash file ({err}); rerun the line hash pass") from err
    if table.ndim != 2 or table.shape[0] != 2 or table.dtype != np.uint64:
        raise HaganeError(f"{path}: expected a (2, n) uint64 array of line hashes, got {table.shape} {table.dtype}")
    hashes = table[0]
    start = int(np.searchsorted(hashes, np.uint64(low), side="left"))
    stop = len(hashes) if high >= 2**64 else int(np.searchsorted(hashes, np.uint64(high), side="left"))
    return np.array(table[:, start:stop])


def _merge(parts: list[np.ndarray]) -> np.ndarray:
    """(2, n) columns of hash and count → one (2, m) array, hashes sorted and distinct, counts summed."""
    both = np.concatenate(parts, axis=1)
    order = np.argsort(both[0], kind="stable")
    hashes, counts = both[0][order], both[1][order]
    if len(hashes) == 0:
        return both
    starts = np.flatnonzero(np.concatenate(([True], hashes[1:] != hashes[:-1])))
    return np.stack([hashes[starts], np.add.reduceat(counts, starts)])


def count_partition(cfg: LineDedupConfig, hash_files: list[Path], partition: int, out_dir: Path) -> dict:
    """The hashes of partition `partition` found in at least `min_documents` documents over every shard."""
    started = now()
    low, high = partition_bounds(partition, cfg.partitions)
    running = np.empty((2, 0), np.uint64)
    pending: list[np.ndarray] = []
    pending_size = peak = 0
    for path in tqdm(hash_files, desc=f"line counts {partition}", unit="shard", mininterval=10):
        part = _slice(path, low, high)
        pending.append(part)
        pending_size += part.shape[1]
        # Merging when the pending slices outgrow the running set keeps the work linear in the corpus
        # (each hash is merged O(log) times) and the memory within a few times the partition's distinct lines.
        if pending_size >= max(running.shape[1], MERGE_AT_LEAST):
            running = _merge([running, *pending])
            pending, pending_size = [], 0
        peak = max(peak, running.shape[1] + pending_size)
    running = _merge([running, *pending])
    common_mask = running[1] >= cfg.min_documents
    common = np.ascontiguousarray(running[0][common_mask])
    _save(out_dir / COMMON, common)
    counts = {"partition": partition, "partitions": cfg.partitions, "shards": len(hash_files),
              "distinct_lines": int(running.shape[1]), "common_lines": int(len(common)),
              "documents_with_common_lines": int(running[1][common_mask].sum()),
              "peak_hashes_held": int(max(peak, running.shape[1]))}
    write_json(out_dir / COUNTS, counts)
    write_manifest(out_dir, stage="dedup.lines.count", config={"line_dedup": _settings(cfg), "partition": partition},
                   inputs=hash_files, outputs=[out_dir / COMMON, out_dir / COUNTS], counts=counts, started_at=started)
    print(f"line counts, partition {partition} of {cfg.partitions}: {counts}")
    return counts


# ---------------------------------------------------------------------------------------- pass 3

def load_common(common_files: list[Path]) -> np.ndarray:
    """Every partition's common hashes, sorted (the partitions own disjoint ranges)."""
    parts = []
    for path in common_files:
        try:
            parts.append(np.load(path, allow_pickle=False))
        except (OSError, ValueError) as err:
            raise HaganeError(f"{path}: not a common-line hash file ({err}); rerun the line count pass") from err
    return np.sort(np.concatenate(parts)) if parts else np.empty(0, np.uint64)


def remove_common(text: str, common: np.ndarray, cfg: LineDedupConfig) -> tuple[str, int]:
    """The text without its common lines, and how many lines were removed."""
    lines = text.split("\n")
    hashes = _line_hashes(lines, cfg)
    candidates = [i for i, h in enumerate(hashes) if h is not None]
    if not candidates or len(common) == 0:
        return text, 0
    wanted = np.fromiter((hashes[i] for i in candidates), dtype=np.uint64, count=len(candidates))
    at = np.minimum(np.searchsorted(common, wanted), len(common) - 1)
    hit = common[at] == wanted
    if not hit.any():
        return text, 0
    removed = {candidates[i] for i in np.flatnonzero(hit)}
    return "\n".join(line for i, line in enumerate(lines) if i not in removed), len(removed)


def _remaining(docs: Iterator[dict], common: np.ndarray, cfg: LineDedupConfig, table: dict, tally: dict,
               write_dropped) -> Iterator[dict]:
    minimum = max(cfg.min_document_chars, 1)  # a document with no text left is dropped whatever the minimum
    for doc in docs:
        text, lines_removed = remove_common(doc["text"], common, cfg)
        chars_removed = len(doc["text"]) - len(text)
        too_short = lines_removed > 0 and len(text.strip()) < minimum
        table["id"].append(doc["id"])
        table["lines_removed"].append(lines_removed)
        table["chars_removed"].append(chars_removed)
        table["kept"].append(not too_short)
        tally["documents_in"] += 1
        tally["lines_in"] += doc["text"].count("\n") + 1
        tally["chars_in"] += len(doc["text"])
        tally["lines_removed"] += lines_removed
        tally["chars_removed"] += chars_removed
        tally["documents_changed"] += lines_removed > 0
        if too_short:
            tally["too_short"] += 1
            write_dropped({**doc, "text": text, "drop_reason": TOO_SHORT, "lines_removed": lines_removed,
                           "chars_removed": chars_removed})
        else:
            yield {**doc, "text": text}


def remove_shard(cfg: LineDedupConfig, documents: Path, common_files: list[Path], out_dir: Path) -> dict:
    """Remove the common lines from one shard's documents; drop those left too short."""
    started = now()
    common = load_common(common_files)
    table = {"id": [], "lines_removed": [], "chars_removed": [], "kept": []}
    tally = dict.fromkeys(("documents_in", "lines_in", "chars_in", "lines_removed", "chars_removed",
                           "documents_changed", "too_short"), 0)
    kept = 0
    with jsonl_zst_writer(out_dir / DOCUMENTS) as write, jsonl_zst_writer(out_dir / DROPPED) as write_dropped:
        for doc in _remaining(read_jsonl_zst(documents), common, cfg, table, tally, write_dropped):
            write(doc)
            kept += 1
    with atomic_path(out_dir / LINES) as tmp:
        pq.write_table(pa.table({"id": pa.array(table["id"], pa.string()),
                                 "lines_removed": pa.array(table["lines_removed"], pa.int32()),
                                 "chars_removed": pa.array(table["chars_removed"], pa.int64()),
                                 "kept": pa.array(table["kept"], pa.bool_())}), tmp)
    too_short = tally.pop("too_short")
    counts = {"documents_in": tally.pop("documents_in"), "kept": kept,
              "dropped": {TOO_SHORT: too_short} if too_short else {}, **tally, "common_lines": int(len(common))}
    assert counts["documents_in"] == kept + too_short
    write_json(out_dir / COUNTS, counts)
    write_manifest(out_dir, stage="dedup.lines.remove", config={"line_dedup": _settings(cfg)},
                   inputs=[documents, *common_files],
                   outputs=[out_dir / DOCUMENTS, out_dir / DROPPED, out_dir / LINES, out_dir / COUNTS],
                   counts=counts, started_at=started)
    print(f"line dedup {documents}: {counts}")
    return counts

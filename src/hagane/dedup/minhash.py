"""Near-duplicate removal: MinHash over character n-grams, LSH banding, connected components.

Three kinds of job, so that no job holds more than one band of the corpus at a time:

1. `signatures`, one job per shard: every document's MinHash signature (bands × rows values) over the
   character n-grams of its text (simplified first with `normalize`: lower case, numbers as 0, no
   punctuation), reduced at once to one 64-bit key per band, written as Parquet (`id` and `band_000`,
   `band_001`, …) — memory: one document's shingles × hash functions in blocks, plus 8 bytes per band and
   the id of each document of the shard.
2. `buckets`, one job per group of bands: for each band in turn, the keys of every shard are read (one
   column), sorted, and each run of equal keys becomes edges from its first document to the others —
   memory: 16 bytes per document of the corpus, for one band at a time.
3. `clusters`, one job: the edges of all bands joined into connected components (scipy); the
   representative of a component is its first document (shards in name order, documents in file
   order — the order exact dedup keeps, too); memory: a few integers per document plus the edges.
4. `apply`, one job per shard: drops every document that is not its component's representative, with
   reason `near_duplicate`, the representative's id and the component's size.

A document is a candidate of another when all rows of one band agree; candidates are not re-checked
against a Jaccard threshold (as in Swallow's and datatrove's pipelines): the bands × rows choice sets
the similarity at which duplicates are caught (the S-curve 1 − (1 − s^rows)^bands).
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from hagane.errors import HaganeError
from hagane.io import atomic_path, read_jsonl_zst, write_json, write_jsonl_zst
from hagane.manifest import now, write_manifest

SIGNATURES, EDGES, CLUSTERS = "signatures.parquet", "edges.npz", "clusters.parquet"
_WHITESPACE = re.compile(r"\s+")
_SHINGLE_BLOCK = 2048  # shingles hashed against all permutations at once (bounds memory on long documents)


# Arrow columns are made from buffers and read back as buffers or Python lists: pa.array(), to_numpy() and
# read_table() import pandas (and pyarrow.dataset) to inspect their arguments, half a second per job, which
# was half of a 2,000-document job's time.

def _int_column(values: np.ndarray) -> pa.Array:
    values = np.ascontiguousarray(values)
    kind = {np.dtype(np.uint64): pa.uint64(), np.dtype(np.int64): pa.int64()}[values.dtype]
    return pa.Array.from_buffers(kind, len(values), [None, pa.py_buffer(values)])


def _string_column(values: list[str]) -> pa.Array:
    encoded = [v.encode("utf-8") for v in values]
    offsets = np.zeros(len(encoded) + 1, dtype=np.int64)
    np.cumsum([len(e) for e in encoded], out=offsets[1:])
    return pa.LargeStringArray.from_buffers(len(encoded), pa.py_buffer(offsets), pa.py_buffer(b"".join(encoded)))


def _read_column(path: Path, name: str) -> pa.ChunkedArray:
    return pq.ParquetFile(path).read(columns=[name]).column(0)


def _read_uint64(path: Path, name: str) -> np.ndarray:
    chunks = [np.frombuffer(c.buffers()[1], dtype=np.uint64)[c.offset:c.offset + len(c)]
              for c in _read_column(path, name).chunks]
    return np.concatenate(chunks) if chunks else np.zeros(0, np.uint64)


def permutations(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """The (a, b) of n multiply-shift hash functions h(x) = (a·x + b mod 2^64) >> 32, a odd, fixed by
    the seed. (The often-seen (a·x + b) mod (2^61 − 1) with a, x < 2^32 never wraps, so it is monotone
    in x: every function would pick the same least shingle.)"""
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1 << 63, size=n, dtype=np.uint64) * np.uint64(2) + np.uint64(1)
    b = rng.integers(0, 1 << 63, size=n, dtype=np.uint64)
    return a, b


def _simplifying_table() -> dict[int, int | None]:
    """str.translate's table for `simplify`: digits to '0', punctuation dropped. The Basic Multilingual
    Plane only (20 ms to build, where all of Unicode takes 0.3 s a job): it holds the digits and
    punctuation of Japanese and every modern script."""
    table = {}
    for code in range(0x10000):
        category = unicodedata.category(chr(code))
        if category == "Nd":
            table[code] = ord("0")
        elif category[0] == "P":
            table[code] = None
    return table


_SIMPLIFY: dict[int, int | None] = {}
_DIGIT_RUN = re.compile("0{2,}")


def simplify(text: str) -> str:
    """Lower case, every number (run of decimal digits) one '0', punctuation dropped: near-duplicate
    detection should not care whether a copy changed a date, a count or a comma."""
    if not _SIMPLIFY:
        _SIMPLIFY.update(_simplifying_table())
    return _DIGIT_RUN.sub("0", text.lower().translate(_SIMPLIFY))


def shingle_hashes(text: str, n: int, normalize: bool = False) -> np.ndarray:
    """64-bit hashes of the distinct character n-grams of `text` (whitespace runs count as one space),
    of its `simplify`d form when `normalize`."""
    text = _WHITESPACE.sub(" ", simplify(text) if normalize else text).strip()
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    if len(codes) < n:
        codes = np.pad(codes, (0, n - len(codes)))  # a short document is one (padded) shingle
    # Polynomial hash of each window, modulo 2^64 by wraparound, then mixed (splitmix64's finaliser).
    h = np.zeros(len(codes) - n + 1, dtype=np.uint64)
    with np.errstate(over="ignore"):
        for k in range(n):
            h = h * np.uint64(1_000_003) + codes[k:len(codes) - n + 1 + k]
        h ^= h >> np.uint64(30)
        h *= np.uint64(0xBF58476D1CE4E5B9)
        h ^= h >> np.uint64(27)
        h *= np.uint64(0x94D049BB133111EB)
        h ^= h >> np.uint64(31)
    return np.unique(h)


def signature(shingles: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The MinHash signature: for each hash function, the least hash over the shingles (32-bit values)."""
    out = np.full(len(a), np.iinfo(np.uint64).max, dtype=np.uint64)
    block = np.empty((min(len(shingles), _SHINGLE_BLOCK), len(a)), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for start in range(0, len(shingles), _SHINGLE_BLOCK):
            x = shingles[start:start + _SHINGLE_BLOCK, None]
            h = block[:len(x)]
            np.multiply(x, a, out=h)
            h += b
            np.minimum(out, h.min(axis=0), out=out)
    return out >> np.uint64(32)  # the shift is monotone: the least 32-bit value is the least 64-bit one's


def band_keys(sig: np.ndarray, bands: int, rows: int) -> np.ndarray:
    """One 64-bit key per band, a hash of that band's rows (signatures: [documents, bands·rows])."""
    view = sig.reshape(len(sig), bands, rows)
    key = np.zeros((len(sig), bands), dtype=np.uint64)
    with np.errstate(over="ignore"):
        for r in range(rows):
            key = key * np.uint64(0x100000001B3) + view[:, :, r]
        key ^= key >> np.uint64(31)
    return key


def band_column(b: int) -> str:
    return f"band_{b:03d}"


def shard_signatures(cfg, documents: Path, out_dir: Path) -> dict:
    """Job 1: the band keys of every document of one shard."""
    started = now()
    a, b = permutations(cfg.bands * cfg.rows, cfg.seed)
    ids, keys = [], []
    for doc in read_jsonl_zst(documents):
        ids.append(doc["id"])
        # Only the band keys are kept: 8 bytes per band, not per hash function (20 × 40: 160 bytes, not 6,400).
        sig = signature(shingle_hashes(doc["text"], cfg.ngram, cfg.normalize), a, b)
        keys.append(band_keys(sig[None], cfg.bands, cfg.rows)[0])
    keys = np.stack(keys) if keys else np.zeros((0, cfg.bands), dtype=np.uint64)
    table = pa.Table.from_arrays([_string_column(ids), *(_int_column(keys[:, k]) for k in range(cfg.bands))],
                                 names=["id", *map(band_column, range(cfg.bands))])
    with atomic_path(out_dir / SIGNATURES) as tmp:
        pq.write_table(table, tmp, compression="zstd")
    counts = {"documents": len(ids)}
    write_manifest(out_dir, stage="dedup", config={"near": vars(cfg)}, inputs=[documents],
                   outputs=[out_dir / SIGNATURES], counts=counts, started_at=started)
    print(f"minhash signatures: {len(ids)} documents of {documents}")
    return counts


def _shard_offsets(signature_files: list[Path]) -> np.ndarray:
    sizes = [pq.ParquetFile(f).metadata.num_rows for f in signature_files]
    return np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)


def band_edges(signature_files: list[Path], band: int) -> np.ndarray:
    """Edges [k, 2] (global document ordinals) from the first document of each bucket to the others."""
    keys = np.concatenate([_read_uint64(f, band_column(band)) for f in signature_files]) \
        if signature_files else np.zeros(0, np.uint64)
    order = np.argsort(keys, kind="stable")  # ties keep document order: the first is the smallest
    sorted_keys = keys[order]
    starts = np.flatnonzero(np.concatenate([[True], sorted_keys[1:] != sorted_keys[:-1]])) if len(keys) else []
    first = np.repeat(order[starts], np.diff(np.concatenate([starts, [len(keys)]]))) if len(keys) else order
    edges = np.stack([first, order], axis=1)
    return edges[edges[:, 0] != edges[:, 1]].astype(np.int64)


def bucket_bands(cfg, signature_files: list[Path], bands: list[int], out_dir: Path) -> dict:
    """Job 2: the candidate edges of a group of bands."""
    started = now()
    files = sorted(signature_files)
    per_band = {band_column(b): band_edges(files, b) for b in bands}
    with atomic_path(out_dir / EDGES) as tmp, open(tmp, "wb") as f:
        np.savez_compressed(f, **per_band)
    counts = {"bands": len(bands), "edges": {k: int(len(v)) for k, v in per_band.items()}}
    write_manifest(out_dir, stage="dedup", config={"near": vars(cfg), "bands": bands}, inputs=files,
                   outputs=[out_dir / EDGES], counts=counts, started_at=started)
    print(f"minhash buckets: bands {bands[0]}–{bands[-1]}, {sum(counts['edges'].values())} candidate edges")
    return counts


def cluster(cfg, signature_files: dict[str, Path], edge_files: list[Path], out_dir: Path) -> dict:
    """Job 3: connected components over all bands' edges; one row per document in a component of two or
    more: shard, row, id, representative id, component size."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    started = now()
    names = sorted(signature_files)
    files = [signature_files[n] for n in names]
    offsets = _shard_offsets(files)
    n = int(offsets[-1])
    edges = []
    for f in sorted(edge_files):
        with np.load(f) as bands:
            edges.extend(bands[name] for name in sorted(bands.files))
    edges = np.concatenate(edges) if edges else np.zeros((0, 2), np.int64)
    graph = coo_matrix((np.ones(len(edges), np.int8), (edges[:, 0], edges[:, 1])), shape=(n, n))
    _, label = connected_components(graph, directed=False)
    size = np.bincount(label)
    representative = np.full(len(size), n, dtype=np.int64)
    np.minimum.at(representative, label, np.arange(n))
    members = np.flatnonzero(size[label] > 1)
    # Ids only of the documents in clusters, taken shard by shard (Arrow holds a shard's ids compactly).
    wanted = np.unique(np.concatenate([members, representative[label[members]]]))
    ids = {}
    for k, f in enumerate(files):
        rows = wanted[(wanted >= offsets[k]) & (wanted < offsets[k + 1])]
        column = _read_column(f, "id")
        ids.update(zip(rows.tolist(), (column[int(r - offsets[k])].as_py() for r in rows)))
    shard_of = np.searchsorted(offsets, members, side="right") - 1
    table = pa.Table.from_arrays([
        _string_column([names[s] for s in shard_of]),
        _int_column((members - offsets[shard_of]).astype(np.int64)),
        _string_column([ids[m] for m in members.tolist()]),
        _string_column([ids[r] for r in representative[label[members]].tolist()]),
        _int_column(size[label[members]].astype(np.int64)),
    ], names=["shard", "row", "id", "representative", "cluster_size"])
    # One row group per shard (members are in shard order): each shard's filter job reads its own rows
    # only, so its memory does not grow with the corpus.
    bounds = np.searchsorted(shard_of, np.arange(len(names) + 1))
    with atomic_path(out_dir / CLUSTERS) as tmp, pq.ParquetWriter(tmp, table.schema, compression="zstd") as writer:
        for k in range(len(names)):
            if bounds[k + 1] > bounds[k]:
                writer.write_table(table.slice(int(bounds[k]), int(bounds[k + 1] - bounds[k])))
    clusters = int((size > 1).sum())
    counts = {"documents": n, "candidate_edges": int(len(edges)), "clusters": clusters,
              "documents_in_clusters": int(len(members)), "near_duplicates": int(len(members)) - clusters}
    write_manifest(out_dir, stage="dedup", config={"near": vars(cfg)}, inputs=[*files, *sorted(edge_files)],
                   outputs=[out_dir / CLUSTERS], counts=counts, started_at=started)
    print(f"minhash clusters: {clusters} clusters hold {len(members)} of {n} documents; "
          f"{counts['near_duplicates']} near duplicates to drop")
    return counts


def shard_cluster_rows(clusters: Path, shard: str) -> list[dict]:
    """This shard's rows of clusters.parquet. Row groups whose shard statistics rule the shard out are not
    read (the cluster job writes one per shard; a file with one row group for all is read and filtered)."""
    parquet = pq.ParquetFile(clusters)
    rows = []
    for i in range(parquet.num_row_groups):
        stats = parquet.metadata.row_group(i).column(0).statistics  # column 0: shard
        if stats is not None and stats.has_min_max and not stats.min <= shard <= stats.max:
            continue
        rows += [r for r in parquet.read_row_group(i).to_pylist() if r["shard"] == shard]
    return rows


def apply_clusters(cfg, shard: str, documents: Path, clusters: Path | None, out_dir: Path) -> dict:
    """Job 4: one shard's documents without their near duplicates (representatives stay). Without
    `clusters` (dedup.near.enabled false) every document is kept."""
    started = now()
    drop = {r["row"]: r for r in shard_cluster_rows(clusters, shard) if r["id"] != r["representative"]} if clusters else {}
    kept, dropped = 0, []

    def survivors():
        nonlocal kept
        for row, doc in enumerate(read_jsonl_zst(documents)):
            if row in drop:
                entry = drop.pop(row)
                if entry["id"] != doc["id"]:
                    raise HaganeError(f"{clusters} says row {row} of shard {shard} is {entry['id']}, but "
                                      f"{documents} has {doc['id']} there (signatures are stale)")
                dropped.append({**doc, "drop_reason": "near_duplicate", "duplicate_of": entry["representative"],
                                "cluster_size": entry["cluster_size"]})
                continue
            kept += 1
            yield doc

    write_jsonl_zst(out_dir / "documents.jsonl.zst", survivors())
    if drop:
        raise HaganeError(f"{clusters} names {len(drop)} rows beyond the end of {documents} (signatures are stale)")
    write_jsonl_zst(out_dir / "dropped.jsonl.zst", dropped)
    counts = {"documents_in": kept + len(dropped), "kept": kept,
              "dropped": dict(Counter(d["drop_reason"] for d in dropped))}
    write_json(out_dir / "counts.json", counts)
    write_manifest(out_dir, stage="dedup", config={"near": vars(cfg)}, inputs=[documents, *([clusters] if clusters else [])],
                   outputs=[out_dir / "documents.jsonl.zst", out_dir / "dropped.jsonl.zst", out_dir / "counts.json"],
                   counts=counts, started_at=started)
    print(f"near dedup {shard}: {counts['documents_in']} in, {kept} kept, {len(dropped)} near duplicates")
    return counts

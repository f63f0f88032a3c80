"""Token shards (DESIGN.md): a flat binary array of token ids and an index that traces every token to its
document.

`NAME.bin` holds the ids, little-endian uint16 when the vocabulary fits, else uint32; documents follow
one another, each as BOS, its tokens, EOS (the Llama convention, so that a converted model used through
Hugging Face, which adds BOS, sees what it was trained on). `NAME.idx.parquet` has one row per
document: `doc_id`, `offset` and `n_tokens` (BOS and EOS included) into the `.bin`, and
`n_chars`/`n_bytes` of its text (for bits per character and per byte). The Parquet schema metadata key
`hagane` holds dtype, vocab size, BOS and EOS ids.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from hagane.errors import HaganeError
from hagane.io import atomic_path

META_KEY = b"hagane"


def token_dtype(vocab_size: int) -> np.dtype:
    return np.dtype("<u2") if vocab_size <= 2**16 else np.dtype("<u4")


def write_token_shard(prefix: Path, docs: list[tuple[str, Sequence[int], str]], *, vocab_size: int, bos_id: int,
                      eos_id: int) -> dict:
    """Write `prefix.bin` and `prefix.idx.parquet` from (doc_id, ids without BOS/EOS, text) triples; the
    ids a list or a NumPy array."""
    dtype = token_dtype(vocab_size)
    doc_ids, token_ids, texts = (list(column) for column in zip(*docs)) if docs else ([], [], [])
    lengths = np.fromiter(map(len, token_ids), dtype=np.int64, count=len(docs)) + 2
    offsets = np.concatenate(([0], np.cumsum(lengths)[:-1])) if len(docs) else np.empty(0, np.int64)
    # All documents in one buffer: every document's ids joined in one go, put around the BOS and EOS
    # positions by one mask, and written at once.
    tokens = np.empty(int(lengths.sum()), dtype=dtype)
    ends = offsets + lengths - 1
    body = np.ones(len(tokens), dtype=bool)
    body[offsets], body[ends] = False, False
    if len(docs):
        tokens[body] = np.concatenate(token_ids)
    tokens[offsets], tokens[ends] = bos_id, eos_id
    with atomic_path(prefix.with_suffix(".bin")) as tmp, open(tmp, "wb") as f:
        f.write(memoryview(tokens))  # the array's own buffer: no copy
    offset = len(tokens)
    table = pa.table({
        "doc_id": doc_ids,
        "offset": pa.array(offsets, pa.int64()),
        "n_tokens": pa.array(lengths, pa.int64()),
        "n_chars": pa.array(list(map(len, texts)), pa.int64()),
        "n_bytes": pa.array(list(map(len, map(str.encode, texts))), pa.int64()),
    })
    meta = {"dtype": dtype.str, "vocab_size": vocab_size, "bos_id": bos_id, "eos_id": eos_id}
    table = table.replace_schema_metadata({META_KEY: json.dumps(meta).encode()})
    with atomic_path(prefix.with_suffix(".idx.parquet")) as tmp:
        pq.write_table(table, tmp)
    return {"documents": len(docs), "tokens": offset}


@dataclasses.dataclass
class TokenShard:
    """A read-only view of one shard: `tokens` is memory-mapped."""

    prefix: Path
    tokens: np.ndarray
    index: pd.DataFrame
    vocab_size: int
    bos_id: int
    eos_id: int

    @classmethod
    def open(cls, prefix: str | Path) -> TokenShard:
        prefix = Path(prefix)
        idx_path = prefix.with_suffix(".idx.parquet")
        if not idx_path.is_file():
            raise HaganeError(f"token shard {prefix}: index {idx_path} not found (expected a prefix such as "
                              "results/tokenize/<source>/<file>/train)")
        table = pq.read_table(idx_path)
        raw = (table.schema.metadata or {}).get(META_KEY)
        if raw is None:
            raise HaganeError(f"{idx_path}: not a Hagane token index (no '{META_KEY.decode()}' metadata)")
        meta = json.loads(raw)
        bin_path = prefix.with_suffix(".bin")
        size = bin_path.stat().st_size
        dtype = np.dtype(meta["dtype"])
        tokens = (np.memmap(bin_path, dtype=dtype, mode="r") if size else np.zeros(0, dtype=dtype))
        index = table.to_pandas()
        expected = int(index["n_tokens"].sum())
        if len(tokens) != expected:
            raise HaganeError(f"{bin_path}: holds {len(tokens)} tokens but its index counts {expected}; "
                              "the shard is truncated or stale — rerun tokenize")
        return cls(prefix, tokens, index, meta["vocab_size"], meta["bos_id"], meta["eos_id"])

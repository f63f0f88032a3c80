"""Atomic file output, zstd JSON Lines document shards and hashing, shared by every stage."""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import orjson
import zstandard

from hagane.errors import HaganeError

# Level 3 is zstd's default: ~4x on Japanese text at hundreds of MB/s. Single-threaded compression keeps
# the bytes identical from run to run.
ZSTD_LEVEL = 3
READ_BLOCK = 1 << 20  # decompressed bytes per read: smaller blocks cost more calls, larger more copying


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it onto `path` only if the block succeeds.

    Works for files and directories alike, so that outputs appear whole or not at all.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f".{final.name}.tmp-{os.getpid()}")
    _remove(tmp)
    try:
        yield tmp
        if final.is_dir() and not final.is_symlink():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        _remove(tmp)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


@contextlib.contextmanager
def jsonl_zst_writer(path: str | os.PathLike) -> Iterator[Callable[[dict], None]]:
    """Yield `write(record)` appending to a zstd JSON Lines file that appears, whole, when the block ends:
    for a stage that writes records as it meets them instead of holding them."""
    with atomic_path(path) as tmp, open(tmp, "wb") as raw:
        compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        with compressor.stream_writer(raw, closefd=False) as writer:
            def write(record: dict) -> None:
                line = json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
                writer.write(line.encode("utf-8") + b"\n")

            yield write


def write_jsonl_zst(path: str | os.PathLike, records: Iterable[dict]) -> int:
    """Write records as zstd-compressed JSON Lines, atomically. Returns the number written."""
    n = 0
    with jsonl_zst_writer(path) as write:
        for record in records:
            write(record)
            n += 1
    return n


def _parse_line(line: bytes, path: str | os.PathLike, line_no: int) -> dict:
    try:
        return orjson.loads(line)
    except orjson.JSONDecodeError:
        pass
    # orjson refuses what the standard parser reads (NaN, integers over 64 bits), and says less when a line
    # is broken: json decides, and names the place.
    try:
        return json.loads(line)
    except json.JSONDecodeError as err:
        raise HaganeError(f"{path}:{line_no}: not a JSON record ({err.msg}, column {err.colno})") from err
    except UnicodeDecodeError as err:
        raise HaganeError(f"{path}:{line_no}: not UTF-8 at byte {err.start} of the line ({err.reason}: "
                          f"{err.object[err.start:err.start + 4]!r})") from err


def read_jsonl_zst(path: str | os.PathLike) -> Iterator[dict]:
    """Yield the records of a zstd JSON Lines shard; a malformed line, bytes that are not UTF-8 or a
    broken zstd stream fail naming the file and the line."""
    if os.path.getsize(path) == 0:
        # Shards are written atomically and even an empty one is a zstd frame: 0 bytes is a broken copy.
        raise HaganeError(f"{path}: empty file, not a zstd JSON Lines shard (a shard of no records is a "
                          "zstd frame of its own); rerun the stage that wrote it")
    line_no = 0
    try:
        with open(path, "rb") as raw:
            lines = io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw), READ_BLOCK)
            for line_no, line in enumerate(lines, start=1):
                yield _parse_line(line, path, line_no)
    except zstandard.ZstdError as err:
        raise HaganeError(f"{path}: not a readable zstd stream after line {line_no} ({err})") from err


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def sha256_text(*parts: str) -> str:
    """A stable hash of strings joined by NUL (which cannot occur inside a path or a record id)."""
    return hashlib.sha256("\x00".join(parts).encode("utf-8")).hexdigest()


def write_json(path: str | os.PathLike, data: object) -> None:
    """Write pretty, key-sorted JSON atomically (stable bytes for stable data)."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=2, sort_keys=True) + "\n", encoding="utf-8")

"""Atomic file output, zstd JSON Lines document shards and hashing, shared by every stage."""

from __future__ import annotations

import contextlib
import errno
import hashlib
import io
import json
import os
import shutil
import socket
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import orjson
import zstandard

from hagane.errors import HaganeError

# Level 3 is zstd's default: ~4x on Japanese text at hundreds of MB/s. Single-threaded compression keeps
# the bytes identical from run to run.
ZSTD_LEVEL = 3
READ_BLOCK = 1 << 20  # decompressed bytes per read: smaller blocks cost more calls, larger more copying


# A temporary name says which host and process write it: `.<name>.tmp-<host>-<pid>`. A killed job's leftover
# is then recognised by the next writer of the same path: on this host, by a pid that no longer runs; from
# another node (whose pids mean nothing here), by age alone.
TMP_MARK = ".tmp-"
# A leftover of another host is removed once nothing in it has changed for this long. No Hagane job runs for
# a week (the longest rule asks for hours), so such a file cannot belong to a live writer; the only cost of
# the wait is disk space reclaimed late. A live writer losing its file would fail its job, not corrupt data.
FOREIGN_TMP_AGE_S = 7 * 24 * 3600
# Errors that mean the output cannot be written where it goes, whatever the stage: the user fixes the disk or
# the folder's permissions, and no traceback about a temporary name helps them.
_WRITE_ERRNOS = {errno.ENOSPC: "no space left on the file system (free some, or point results/ elsewhere)",
                 errno.EDQUOT: "disk quota exceeded (free some space, or ask for a larger quota)",
                 errno.EACCES: "permission denied (make the folder writable, or run as its owner)",
                 errno.EPERM: "operation not permitted (make the folder writable, or run as its owner)",
                 errno.EROFS: "the file system is read-only (write results/ to a writable one)"}


def _host() -> str:
    # A path separator cannot appear in a file name; the pid is what follows the last "-", so a host name
    # with dashes still parses.
    return socket.gethostname().replace(os.sep, "_") or "localhost"


def tmp_name(final: Path) -> Path:
    return final.with_name(f".{final.name}{TMP_MARK}{_host()}-{os.getpid()}")


def _pid_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # a live process of another user
        return True
    except OverflowError:  # not a pid this kernel could have given
        return False
    return True


def _newest_mtime(path: Path) -> float:
    # A directory's own time stamp moves only when its entries do; a writer filling a file inside it shows
    # on that file.
    newest = path.lstat().st_mtime
    if path.is_dir() and not path.is_symlink():
        for sub in path.rglob("*"):
            with contextlib.suppress(OSError):
                newest = max(newest, sub.lstat().st_mtime)
    return newest


def is_stale_tmp(tmp: Path, *, now: float | None = None) -> bool:
    """Whether `tmp` (a `.<name>.tmp-…` sibling) was left by a writer that is gone: one of this host whose
    process no longer runs, or any (another host's, or an older Hagane's `.tmp-<pid>`) untouched for
    FOREIGN_TMP_AGE_S."""
    suffix = tmp.name.rpartition(TMP_MARK)[2]
    host, _, pid = suffix.rpartition("-")
    if host == _host() and pid.isdigit():
        return not _pid_alive(int(pid))
    try:
        age = (time.time() if now is None else now) - _newest_mtime(tmp)
    except FileNotFoundError:
        return False  # removed meanwhile by someone else
    return age > FOREIGN_TMP_AGE_S


# Folder → names of the temporary leftovers in it, listed once per process: a stage writing thousands of
# files into one folder (the plan, a shard's outputs) lists it once, not once per file.
_LEFTOVERS: dict[Path, list[str]] = {}


def remove_stale_tmps(final: Path) -> list[Path]:
    """Remove the leftovers of killed writers of `final` (see is_stale_tmp); return what was removed."""
    folder = final.parent
    if folder not in _LEFTOVERS:
        try:
            with os.scandir(folder) as entries:
                _LEFTOVERS[folder] = [e.name for e in entries if e.name.startswith(".") and TMP_MARK in e.name]
        except FileNotFoundError:
            _LEFTOVERS[folder] = []
    prefix = f".{final.name}{TMP_MARK}"
    removed = []
    for name in _LEFTOVERS[folder]:
        if name.startswith(prefix) and is_stale_tmp(folder / name):
            with contextlib.suppress(FileNotFoundError):
                _remove(folder / name)
            removed.append(folder / name)
    _LEFTOVERS[folder] = [n for n in _LEFTOVERS[folder] if folder / n not in removed]
    return removed


def _write_error(err: OSError, final: Path, tmp: Path) -> HaganeError | None:
    """The one-line error for a write that failed for a reason the user must fix, naming the output (not the
    temporary file); None when `err` is about something else (a file the block was reading, say)."""
    if err.errno not in _WRITE_ERRNOS:
        return None
    # Only a write fills a disk, and shutil names the source it copied from: those two are ours whatever the
    # file name says. Permission errors are ours only when they name the output, its temporary or its folder.
    if err.errno not in (errno.ENOSPC, errno.EDQUOT):
        named = [Path(os.fsdecode(f)) for f in (err.filename, err.filename2) if f is not None]
        if named and not any(f in (final, tmp) or tmp in f.parents or f in final.parents for f in named):
            return None
    return HaganeError(f"cannot write {final}: {_WRITE_ERRNOS[err.errno]} [{errno.errorcode[err.errno]}]")


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary sibling of `path`; rename it onto `path` only if the block succeeds.

    Works for files and directories alike, so that outputs appear whole or not at all. Leftovers of earlier
    writers of `path` that were killed are removed first. A full disk or a folder that cannot be written
    raises a HaganeError naming `path`.
    """
    final = Path(path)
    tmp = tmp_name(final)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_tmps(final)
        _remove(tmp)
        try:
            yield tmp
            if final.is_dir() and not final.is_symlink():
                shutil.rmtree(final)
            os.replace(tmp, final)
        finally:
            _remove(tmp)
    except OSError as err:
        if (mapped := _write_error(err, final, tmp)) is None:
            raise
        raise mapped from None


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

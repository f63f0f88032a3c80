"""Plain-text corpora: CC-100 style (documents separated by blank lines) or one document per line."""

from __future__ import annotations

import bz2
import gzip
import lzma
from collections.abc import Iterator
from pathlib import Path

from hagane.collect.readers import RawDocument, Rejected
from hagane.errors import HaganeError

_OPENERS = {".gz": gzip.open, ".xz": lzma.open, ".bz2": bz2.open}


def open_maybe_compressed(path: Path, raw=None):
    """Binary stream of a file, decompressed by its suffix (.gz, .xz, .bz2). With `raw`, an open binary
    file of `path`, decompress from it, so that the caller can tell the compressed position."""
    if raw is None:
        return _OPENERS.get(path.suffix, open)(path, "rb")
    opener = _OPENERS.get(path.suffix)
    return opener(raw, "rb") if opener else raw


def bounded_lines(stream, max_bytes: int) -> Iterator[tuple[int, bytes | None]]:
    """(line number, line) of a binary stream. A line longer than `max_bytes` comes as None, having been
    read through in pieces: one 100 MB line never sits in memory whole."""
    line_no = 0
    while line := stream.readline(max_bytes + 1):
        line_no += 1
        if len(line) > max_bytes and not line.endswith(b"\n"):
            while line and not line.endswith(b"\n"):
                line = stream.readline(1 << 20)
            yield line_no, None
        else:
            yield line_no, line


def too_long(locator: str, max_bytes: int) -> Rejected:
    return Rejected("quarantined", "record_too_long", locator, f"{locator}: more than {max_bytes} bytes "
                    "(max_record_mb of the source)")


def read_text(path: Path, separator: str, max_bytes: int) -> Iterator[RawDocument | Rejected]:
    block: list[bytes] = []
    block_bytes = 0
    overflow = False  # the current block passed max_bytes: its lines are read through, not kept
    start = 0
    line_no = 0

    def emit() -> Iterator[RawDocument | Rejected]:
        locator = f"line:{start}"
        if overflow:
            yield too_long(locator, max_bytes)
            return
        try:
            text = b"".join(block).decode("utf-8")
        except UnicodeDecodeError as err:
            yield Rejected("quarantined", "invalid_utf8", locator, f"line {start}: byte {err.start} of the document")
            return
        yield RawDocument(text=text, locator=locator, origin={"line": start})

    try:
        with open_maybe_compressed(path) as f:
            for line_no, line in bounded_lines(f, max_bytes):
                is_blank = line is not None and not line.strip()
                if is_blank or separator == "line":
                    if block or overflow:
                        yield from emit()
                    block, block_bytes, overflow = [], 0, False
                    if is_blank:
                        continue
                if not block and not overflow:
                    start = line_no
                if line is None or block_bytes + len(line) > max_bytes:
                    block, block_bytes, overflow = [], 0, True
                elif not overflow:
                    block.append(line)
                    block_bytes += len(line)
                if separator == "line":
                    yield from emit()
                    block, block_bytes, overflow = [], 0, False
            if block or overflow:
                yield from emit()
    except (EOFError, OSError, lzma.LZMAError) as err:
        raise HaganeError(f"{path}: compressed stream broken after line {line_no} ({err}); "
                          "the file is truncated or corrupt") from err

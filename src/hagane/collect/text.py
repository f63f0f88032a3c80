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


def open_maybe_compressed(path: Path):
    """Binary stream of a file, decompressed by its suffix (.gz, .xz, .bz2)."""
    return _OPENERS.get(path.suffix, open)(path, "rb")


def read_text(path: Path, separator: str) -> Iterator[RawDocument | Rejected]:
    block: list[bytes] = []
    start = 0
    line_no = 0

    def emit() -> Iterator[RawDocument | Rejected]:
        locator = f"line:{start}"
        try:
            text = b"".join(block).decode("utf-8")
        except UnicodeDecodeError as err:
            yield Rejected("quarantined", "invalid_utf8", locator, f"line {start}: byte {err.start} of the document")
            return
        yield RawDocument(text=text, locator=locator, origin={"line": start})

    try:
        with open_maybe_compressed(path) as f:
            for line_no, line in enumerate(f, start=1):
                is_blank = not line.strip()
                if separator == "line":
                    if not is_blank:
                        block, start = [line], line_no
                        yield from emit()
                        block = []
                    continue
                if is_blank:
                    if block:
                        yield from emit()
                        block = []
                    continue
                if not block:
                    start = line_no
                block.append(line)
            if block:
                yield from emit()
    except (EOFError, OSError, lzma.LZMAError) as err:
        raise HaganeError(f"{path}: compressed stream broken after line {line_no} ({err}); "
                          "the file is truncated or corrupt") from err

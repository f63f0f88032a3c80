"""Pausing Python's cyclic garbage collector while a stage works through a shard.

A stage that keeps one container per document (records, id lists) until it writes them makes the
collector walk all of them again at every full collection and free nothing: nothing in these loops makes
reference cycles, and reference counting frees everything as usual. Measured: about a tenth of the
tokenize stage (benchmarks/tokenize_encode.py). The score stage holds one row group of documents at a
time, but its scorers make containers by the thousand per document, which keeps the collector busy too.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def collector_paused() -> Iterator[None]:
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()

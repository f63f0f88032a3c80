"""Pausing Python's cyclic garbage collector while a stage holds a shard's worth of records.

A stage that keeps one container per document (records, score rows, id lists) until it writes them makes
the collector walk all of them again at every full collection and free nothing: nothing in these loops
makes reference cycles, and reference counting frees everything as usual. Measured: about a tenth of
the tokenize stage (benchmarks/tokenize_encode.py) and 5–10 % of the score stage.
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

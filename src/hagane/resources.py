"""Memory and time of a pack job (src/hagane/packs.py), computed from what its shards read.

A site's scheduler kills a job that passes its memory or time request, and charges for what was asked.
So each per-shard stage has a small linear model, fitted to measurements on this machine (see FITTED_ON):

    memory  = PARENT_MB + workers × (base_mb + mem_per_mb × largest shard's input MB)
    runtime = start_s + input MB / (mb_per_s × workers) + largest shard's input MB / mb_per_s

(the last term is the tail: the pack's largest shard runs on one worker, however many there are). Both are
multiplied by HEADROOM, and by GROWTH for every retry (Snakemake's `attempt`): a job killed for memory or
time comes back bigger, never the same. A stage's input is what it reads: the raw files for collect, the
previous stage's shard outputs (zstd JSON Lines, Parquet) for the others, as the previous pack's record
counts them.
"""

from __future__ import annotations

import dataclasses
import math

MB = 1024 * 1024
PARENT_MB = 300        # the job's own process: the interpreter, Hagane, the pack's bookkeeping
HEADROOM = 1.5         # measured figures vary by machine and by document mix
GROWTH = 2.0           # per retry
MIN_RUNTIME_MIN = 5
FITTED_ON = ("benchmarks/scale.py fits (this machine, 2 cores): the Debian corpus of "
             "benchmarks/corpus_debian_ja.py cut into shards")


@dataclasses.dataclass(frozen=True)
class StageModel:
    base_mb: float      # one worker's memory before any document: libraries and models
    mem_per_mb: float   # its growth per MB of the shard it works on
    mb_per_s: float     # input MB one worker gets through per second
    start_s: float      # the job's start: interpreter, imports, workers spawned, models loaded


STAGES = {
    "collect": StageModel(base_mb=250, mem_per_mb=0.5, mb_per_s=0.8, start_s=20),
    "score": StageModel(base_mb=600, mem_per_mb=0.5, mb_per_s=0.4, start_s=30),
    "select": StageModel(base_mb=250, mem_per_mb=2.0, mb_per_s=8.0, start_s=15),
    "signatures": StageModel(base_mb=250, mem_per_mb=1.0, mb_per_s=1.0, start_s=15),
    "near": StageModel(base_mb=250, mem_per_mb=0.5, mb_per_s=10.0, start_s=15),
    "tokenize": StageModel(base_mb=300, mem_per_mb=12.0, mb_per_s=0.8, start_s=20),
}


def _model(stage: str) -> StageModel:
    try:
        return STAGES[stage]
    except KeyError:
        raise ValueError(f"no resource model for stage {stage!r}; stages: {', '.join(STAGES)}") from None


def job_memory_mb(stage: str, total_bytes: int, max_shard_bytes: int, workers: int, attempt: int = 1) -> int:
    m = _model(stage)
    per_worker = m.base_mb + m.mem_per_mb * max_shard_bytes / MB
    return math.ceil((PARENT_MB + max(workers, 1) * per_worker) * HEADROOM * GROWTH ** (max(attempt, 1) - 1))


def job_runtime_min(stage: str, total_bytes: int, max_shard_bytes: int, workers: int, attempt: int = 1) -> int:
    m = _model(stage)
    seconds = m.start_s + total_bytes / MB / (m.mb_per_s * max(workers, 1)) + max_shard_bytes / MB / m.mb_per_s
    minutes = seconds / 60 * HEADROOM * GROWTH ** (max(attempt, 1) - 1)
    return max(MIN_RUNTIME_MIN, math.ceil(minutes))

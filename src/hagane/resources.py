"""Memory and time of a pack job (src/hagane/packs.py), computed from what its shards read.

A site's scheduler kills a job that passes its memory or time request, and charges for what was asked.
So each per-shard stage has a small linear model, fitted to measurements (STAGES_FITTED_ON):

    memory  = PARENT_MB + workers × (base_mb + mem_per_mb × largest shard's input MB)
    runtime = start_s + input MB / (mb_per_s × workers) + largest shard's input MB / mb_per_s

(the last term is the tail: the pack's largest shard runs on one worker, however many there are). Both are
multiplied by HEADROOM, and by GROWTH for every retry (Snakemake's `attempt`): a job killed for memory or
time comes back bigger, never the same. Measured on a 2-core AMD EPYC: an A64FX core is slower (Fugaku's
profile leaves room in time, and a retry doubles it). A stage's input is what it reads: the raw files for collect, the
previous stage's shard outputs (zstd JSON Lines, Parquet) for the others, as the previous pack's record
counts them.
"""

from __future__ import annotations

import dataclasses
import math

MB = 1024 * 1024
PARENT_MB = 150        # a pool's parent process: the interpreter, Hagane and the stage's imports, no model
HEADROOM = 1.5         # measured figures vary with the machine and the documents
GROWTH = 2.0           # per retry
MIN_RUNTIME_MIN = 5

# Fitted on this machine (AMD EPYC, 2 cores) from the pack jobs of `benchmarks/scale.py` (10,000-document
# shards: 15.5 MB raw JSON Lines, 4.8 MB of zstd documents; see the "fitted to" lines of
# benchmarks/scale.results.md) and of the demo (0.2–1.7 MB raw, 0.2–0.6 MB zstd): the rate is input MB
# per CPU second of one worker; the base is the peak RSS at the small shards less the slope's share; the
# slope is the peak RSS's growth between the two shard sizes per MB of the largest shard. Input is raw
# files for collect, zstd document shards for the rest (score and select read the collected shard).
STAGES_FITTED_ON = "benchmarks/scale.results.md"


@dataclasses.dataclass(frozen=True)
class StageModel:
    base_mb: float      # one worker's peak memory apart from its shard: libraries and models
    mem_per_mb: float   # its growth per MB of the largest shard of the pack
    mb_per_s: float     # input MB one worker gets through per CPU second
    start_s: float      # the job's start: interpreter, imports, workers spawned (a cluster's file system is slow)


STAGES = {
    "collect": StageModel(base_mb=150, mem_per_mb=0.5, mb_per_s=9.5, start_s=30),
    "score": StageModel(base_mb=200, mem_per_mb=9.0, mb_per_s=0.57, start_s=30),
    "select": StageModel(base_mb=100, mem_per_mb=18.0, mb_per_s=4.9, start_s=30),
    "signatures": StageModel(base_mb=95, mem_per_mb=4.0, mb_per_s=1.1, start_s=30),
    "near": StageModel(base_mb=100, mem_per_mb=2.0, mb_per_s=8.1, start_s=30),
    "tokenize": StageModel(base_mb=130, mem_per_mb=13.0, mb_per_s=2.9, start_s=30),
    # Streams its shards into one Parquet file a row group (4,096 documents) at a time. A row group can be a
    # whole shard (one of fewer documents): its text, ~3× the compressed MB, held twice (Python strings,
    # Arrow). Measured on a 9.8 MB shard (random kana, poorly compressible): 9.7 MB/s; real text
    # compresses ~3×, so the rate per compressed MB is taken at 4.
    "dataset": StageModel(base_mb=250, mem_per_mb=6.0, mb_per_s=4.0, start_s=30),
    # PII redaction and line dedup (rules/clean.smk), fitted like the others between a 0.26 MB and a 3.1 MB
    # zstd shard of the Debian benchmark corpus (1,000 and 12,705 documents; benchmarks/line_dedup.py's
    # corpus, CPU seconds and peak RSS of `hagane pii redact` / `dedup line-hashes|line-counts|lines`). Redaction
    # and removal hold the shard's per-document counts and Parquet table (pyarrow is most of the base); the
    # hash pass holds the shard's distinct line hashes; a partition job's input is its share of every shard's
    # hash file (1/partitions of their bytes), held ~3× while merging.
    "redact": StageModel(base_mb=130, mem_per_mb=6.0, mb_per_s=1.5, start_s=30),
    "line_hashes": StageModel(base_mb=80, mem_per_mb=2.5, mb_per_s=3.0, start_s=30),
    "line_counts": StageModel(base_mb=80, mem_per_mb=4.0, mb_per_s=10.0, start_s=30),
    "lines": StageModel(base_mb=130, mem_per_mb=7.0, mb_per_s=1.5, start_s=30),
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

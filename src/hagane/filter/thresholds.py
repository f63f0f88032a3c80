"""The thresholds step: percentiles of the score distribution over the whole corpus, computed once after
every shard is scored and before any is selected, so a percentile bound means the same value in every
shard's select job (a per-shard percentile would keep a different share of each shard).

It reads only the bounded metrics' columns of every scores.parquet, holding 8 bytes per document per
such metric (100 million documents, one metric: 800 MB). Values that are not finite (the perplexity of
an empty document) take no part. Percentiles interpolate linearly between the two nearest values
(NumPy's default), so the same scores give the same thresholds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from hagane.config import SelectConfig
from hagane.errors import HaganeError
from hagane.filter.presets import CCNET_BUCKETS, SCORED_ONLY_WITH, percentile_bounds, resolve
from hagane.io import write_json
from hagane.manifest import now, write_manifest

THRESHOLDS = "thresholds.json"


def needs_thresholds(cfg: SelectConfig) -> bool:
    """Whether selecting with `cfg` needs the corpus's percentiles (a percentile bound, or cc_net's buckets)."""
    return bool(percentile_bounds(resolve(cfg.preset, cfg.thresholds))) or cfg.preset == "ccnet"


def corpus_thresholds(cfg: SelectConfig, scores: list[Path], out_dir: Path) -> dict:
    started = now()
    wanted = percentile_bounds(resolve(cfg.preset, cfg.thresholds))
    buckets = {"kenlm_ppl": {f"{name}_max_percentile": p for name, p in CCNET_BUCKETS.items()}} \
        if cfg.preset == "ccnet" else {}
    metrics = sorted(set(wanted) | set(buckets))
    columns: dict[str, list[np.ndarray]] = {m: [] for m in metrics}
    documents = 0
    for path in scores:
        schema = pq.read_schema(path)
        if missing := [m for m in metrics if m not in schema.names]:
            raise HaganeError(f"{path} has no {missing[0]!r} column to take a percentile of: {SCORED_ONLY_WITH}")
        table = pq.read_table(path, columns=metrics)
        documents += table.num_rows
        for metric in metrics:
            values = np.asarray(table.column(metric).to_numpy(zero_copy_only=False), dtype=np.float64)
            columns[metric].append(values[np.isfinite(values)])
    result: dict = {"documents": documents, "values": {}}
    for metric in metrics:
        values = np.concatenate(columns[metric]) if columns[metric] else np.empty(0)
        if len(values) == 0:
            raise HaganeError(f"no finite {metric} among the {documents} scored documents of {len(scores)} shards: "
                              "no percentile to take")
        resolved = {}
        for key, percentile in {**wanted.get(metric, {}), **buckets.get(metric, {})}.items():
            resolved[key] = percentile
            resolved[key.removesuffix("_percentile")] = float(np.percentile(values, percentile))
        result["values"][metric] = {"finite_documents": len(values), **resolved}
    write_json(out_dir / THRESHOLDS, result)
    write_manifest(out_dir, stage="filter.thresholds", config={"select": vars(cfg)}, inputs=list(scores),
                   outputs=[out_dir / THRESHOLDS], counts={"documents": documents}, started_at=started)
    print(f"thresholds over {documents} documents: {result['values']}")
    return result


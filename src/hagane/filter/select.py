"""Selecting: the cheap pass. Thresholds on stored scores; reruns alone when only thresholds change.

Each rule is a named predicate on a document's scores; the first rule a document fails is its drop
reason, a stable snake_case string that tests assert exactly.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from hagane.config import SelectConfig
from hagane.errors import HaganeError
from hagane.filter.presets import PRESETS, drop_reason_name, resolve
from hagane.io import read_jsonl_zst, write_json, write_jsonl_zst
from hagane.manifest import now, write_manifest

KEPT, DROPPED, COUNTS = "kept.jsonl.zst", "dropped.jsonl.zst", "counts.json"

Rule = tuple[str, Callable[[dict], bool]]  # (drop reason, predicate that is True when the document passes)


def rules(cfg: SelectConfig) -> list[Rule]:
    """Language first, then the preset's bounds with the config's on top, in the order of METRICS."""
    min_score = cfg.min_language_score
    if min_score is None:
        min_score = PRESETS[cfg.preset]["min_language_score"] if cfg.preset in PRESETS else 0.5
    active: list[Rule] = [
        (f"lang_not_{cfg.language}", lambda s: s["language"] == cfg.language),
        ("lang_score_low", lambda s: s["language_score"] >= min_score),
    ]
    for metric, bounds in resolve(cfg.preset, cfg.thresholds).items():
        if "min" in bounds:
            active.append((drop_reason_name(metric, "min"), lambda s, m=metric, v=bounds["min"]: s[m] >= v))
        if "max" in bounds:
            active.append((drop_reason_name(metric, "max"), lambda s, m=metric, v=bounds["max"]: s[m] <= v))
    return active


def drop_reason(scores: dict, active: list[Rule]) -> str | None:
    return next((reason for reason, passes in active if not passes(scores)), None)


def select_shard(cfg: SelectConfig, documents: Path, scores: Path, out_dir: Path) -> dict:
    started = now()
    table = pd.read_parquet(scores).set_index("id")
    if table.index.has_duplicates:
        dup = table.index[table.index.duplicated()][0]
        raise HaganeError(f"{scores}: document id {dup} appears more than once; ids must be unique per shard")
    active = rules(cfg)
    bounded = resolve(cfg.preset, cfg.thresholds)
    if missing := [m for m in bounded if m not in table.columns]:
        raise HaganeError(f"filter.select.thresholds bound {missing[0]!r}, which {scores} does not hold: "
                          "kenlm_ppl is scored only with filter.kenlm.reference_sources, quality_prob only with "
                          "filter.quality.reference_sources")
    kept: list[dict] = []
    dropped: list[dict] = []
    reasons: Counter = Counter()
    n_in = 0
    for doc in read_jsonl_zst(documents):
        n_in += 1
        if doc["id"] not in table.index:
            raise HaganeError(f"{scores}: no scores for document {doc['id']} of {documents}; "
                              "the scores are stale — rerun the score step")
        reason = drop_reason(table.loc[doc["id"]].to_dict(), active)
        if reason is None:
            kept.append(doc)
        else:
            reasons[reason] += 1
            dropped.append({**doc, "drop_reason": reason})
    if n_in != len(table):
        raise HaganeError(f"{scores} has {len(table)} rows but {documents} has {n_in} documents; rescore")
    counts = {"documents_in": n_in, "kept": len(kept), "dropped": dict(sorted(reasons.items()))}
    assert counts["documents_in"] == counts["kept"] + sum(reasons.values())
    write_jsonl_zst(out_dir / KEPT, kept)
    write_jsonl_zst(out_dir / DROPPED, dropped)
    write_json(out_dir / COUNTS, counts)
    write_manifest(out_dir, stage="filter.select", config={"select": vars(cfg), "bounds": bounded},
                   inputs=[documents, scores],
                   outputs=[out_dir / KEPT, out_dir / DROPPED, out_dir / COUNTS], counts=counts,
                   started_at=started)
    print(f"select {documents}: {counts}")
    return counts

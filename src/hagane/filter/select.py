"""Selecting: the cheap pass. Thresholds on stored scores; reruns alone when only thresholds change.

Each rule is a bound on one score column; the first rule a document fails is its drop reason, a stable
snake_case string that tests assert exactly. A shard's rules are checked column by column over its whole
score table at once, not document by document.
"""

from __future__ import annotations

import dataclasses
import json
import operator
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from hagane.config import SelectConfig
from hagane.errors import HaganeError
from hagane.filter.presets import (PRESETS, SCORED_ONLY_WITH, absolute_bounds, drop_reason_name, percentile_bounds,
                                   resolve)
from hagane.io import read_jsonl_zst, write_json, write_jsonl_zst
from hagane.manifest import now, write_manifest

KEPT, DROPPED, COUNTS = "kept.jsonl.zst", "dropped.jsonl.zst", "counts.json"

_PASSES = {"==": operator.eq, ">=": operator.ge, "<=": operator.le}


@dataclasses.dataclass(frozen=True)
class Rule:
    """A document passes when `scores[column] <op> value` holds (a missing score, NaN, fails)."""

    reason: str  # the drop reason of a document that fails it
    column: str
    op: str  # "==", ">=" or "<="
    value: object

    def passes(self, scores: dict) -> bool:
        return bool(_PASSES[self.op](scores[self.column], self.value))


def bounds_in_force(cfg: SelectConfig, corpus: dict | None = None) -> dict:
    """The preset's bounds with the config's on top, percentiles replaced by their values over the corpus
    (`corpus`: what the thresholds step wrote; needed only when a bound is a percentile)."""
    bounds = resolve(cfg.preset, cfg.thresholds)
    if percentile_bounds(bounds):
        if corpus is None:
            metric, given = next(iter(percentile_bounds(bounds).items()))
            raise HaganeError(f"filter.select bounds {metric} by {', '.join(given)}: a percentile of the whole "
                              "corpus, which the thresholds step computes (hagane filter thresholds; select --thresholds)")
        bounds = absolute_bounds(bounds, corpus["values"])
    return bounds


def rules(cfg: SelectConfig, corpus: dict | None = None) -> list[Rule]:
    """Language first, then the preset's bounds with the config's on top, in the order of METRICS."""
    min_score = cfg.min_language_score
    if min_score is None:
        min_score = PRESETS[cfg.preset]["min_language_score"] if cfg.preset in PRESETS else 0.5
    active = [Rule(f"lang_not_{cfg.language}", "language", "==", cfg.language),
              Rule("lang_score_low", "language_score", ">=", min_score)]
    for metric, bounds in bounds_in_force(cfg, corpus).items():
        if "min" in bounds:
            active.append(Rule(drop_reason_name(metric, "min"), metric, ">=", bounds["min"]))
        if "max" in bounds:
            active.append(Rule(drop_reason_name(metric, "max"), metric, "<=", bounds["max"]))
    return active


def drop_reason(scores: dict, active: list[Rule]) -> str | None:
    """The reason of the first rule one document's scores fail, or None when it passes them all."""
    return next((rule.reason for rule in active if not rule.passes(scores)), None)


def drop_reasons(table: pd.DataFrame, active: list[Rule]) -> np.ndarray:
    """drop_reason for every row of a score table, one rule (one column) at a time."""
    reasons = np.full(len(table), None, dtype=object)
    undecided = np.ones(len(table), dtype=bool)
    for rule in active:
        fails = undecided & ~np.asarray(_PASSES[rule.op](table[rule.column].to_numpy(), rule.value), dtype=bool)
        reasons[fails] = rule.reason
        undecided &= ~fails
    return reasons


def select_shard(cfg: SelectConfig, documents: Path, scores: Path, out_dir: Path,
                 thresholds: Path | None = None) -> dict:
    """Kept and dropped documents of one shard; `thresholds` (the thresholds step's JSON) resolves
    percentile bounds and cc_net's buckets."""
    started = now()
    table = pd.read_parquet(scores)
    if table["id"].duplicated().any():
        dup = table["id"][table["id"].duplicated()].iloc[0]
        raise HaganeError(f"{scores}: document id {dup} appears more than once; ids must be unique per shard")
    corpus = json.loads(thresholds.read_text()) if thresholds is not None else None
    active = rules(cfg, corpus)
    bounded = bounds_in_force(cfg, corpus)
    if missing := [m for m in bounded if m not in table.columns]:
        raise HaganeError(f"filter.select.thresholds bound {missing[0]!r}, which {scores} does not hold: "
                          f"{SCORED_ONLY_WITH}")
    reason_of = dict(zip(table["id"], drop_reasons(table, active)))
    kept: list[dict] = []
    dropped: list[dict] = []
    reasons: Counter = Counter()
    n_in = 0
    for doc in read_jsonl_zst(documents):
        n_in += 1
        if doc["id"] not in reason_of:
            raise HaganeError(f"{scores}: no scores for document {doc['id']} of {documents}; "
                              "the scores are stale — rerun the score step")
        reason = reason_of[doc["id"]]
        if reason is None:
            kept.append(doc)
        else:
            reasons[reason] += 1
            dropped.append({**doc, "drop_reason": reason})
    if n_in != len(table):
        raise HaganeError(f"{scores} has {len(table)} rows but {documents} has {n_in} documents; rescore")
    counts = {"documents_in": n_in, "kept": len(kept), "dropped": dict(sorted(reasons.items()))}
    assert counts["documents_in"] == counts["kept"] + sum(reasons.values())
    if cfg.preset == "ccnet":
        counts["kenlm_buckets"] = ccnet_buckets(table["kenlm_ppl"].to_numpy(), corpus)
    write_jsonl_zst(out_dir / KEPT, kept)
    write_jsonl_zst(out_dir / DROPPED, dropped)
    write_json(out_dir / COUNTS, counts)
    write_manifest(out_dir, stage="filter.select", config={"select": vars(cfg), "bounds": bounded},
                   inputs=[documents, scores, *([thresholds] if thresholds is not None else [])],
                   outputs=[out_dir / KEPT, out_dir / DROPPED, out_dir / COUNTS], counts=counts,
                   started_at=started)
    print(f"select {documents}: {counts}")
    return counts


def ccnet_buckets(perplexity: np.ndarray, corpus: dict | None) -> dict[str, int]:
    """How many of a shard's documents fall in cc_net's head, middle and tail (by the corpus's perplexity
    percentiles; a document without a finite perplexity is in none)."""
    if corpus is None or "head_max" not in corpus["values"].get("kenlm_ppl", {}):
        raise HaganeError("the ccnet preset's buckets need the corpus thresholds (select --thresholds)")
    cut = corpus["values"]["kenlm_ppl"]
    finite = perplexity[np.isfinite(perplexity)]
    head = int((finite <= cut["head_max"]).sum())
    middle = int((finite <= cut["middle_max"]).sum()) - head
    return {"head": head, "middle": middle, "tail": len(finite) - head - middle}

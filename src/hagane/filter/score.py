"""Scoring: the expensive pass, once per shard. One Parquet row per document id (DESIGN.md)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
from tqdm import tqdm

from hagane.config import ScoreConfig
from hagane.filter.heuristics import METRICS, heuristic_scores
from hagane.filter.langid import LanguageIdentifier
from hagane.io import atomic_path, read_jsonl_zst
from hagane.manifest import now, write_manifest

SCORES = "scores.parquet"


def score_shard(cfg: ScoreConfig, documents: Path, out_dir: Path) -> int:
    started = now()
    identify = LanguageIdentifier(cfg.langid_model)
    rows = []
    for doc in tqdm(read_jsonl_zst(documents), desc=f"score {documents}", unit="doc", mininterval=5):
        language, language_score = identify(doc["text"])
        rows.append({"id": doc["id"], "language": language, "language_score": language_score,
                     **heuristic_scores(doc["text"])})
    columns = ["id", "language", "language_score", *METRICS]
    frame = pd.DataFrame(rows, columns=columns)
    with atomic_path(out_dir / SCORES) as tmp:
        frame.to_parquet(tmp, index=False)
    write_manifest(out_dir, stage="filter.score", config={"score": vars(cfg)}, inputs=[documents],
                   outputs=[out_dir / SCORES], counts={"documents": len(frame)}, started_at=started)
    print(f"scored {len(frame)} documents from {documents}")
    return len(frame)

"""Scoring: the expensive pass, once per shard. One Parquet row per document id (DESIGN.md)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
from tqdm import tqdm

from hagane.collector import collector_paused
from hagane.config import ScoreConfig
from hagane.filter.heuristics import BATCH_DOCUMENTS, METRICS, heuristic_scores_batch
from hagane.filter.langid import LanguageIdentifier
from hagane.filter.lm import PerplexityScorer, model_files
from hagane.filter.ngwords import COLUMNS as NG_COLUMNS
from hagane.filter.ngwords import NgWordCounter
from hagane.filter.quality import MODEL as QUALITY_MODEL
from hagane.filter.quality import QualityScorer
from hagane.filter.words import WORD_METRICS, WordScorer
from hagane.io import atomic_path, read_jsonl_zst
from hagane.manifest import now, write_manifest
from hagane.sudachi import versions as sudachi_versions

SCORES = "scores.parquet"


def score_shard(cfg: ScoreConfig, documents: Path, out_dir: Path, kenlm_dir: Path | None = None,
                quality_dir: Path | None = None) -> int:
    """Language ID and heuristics for every document of a shard; with `kenlm_dir` (a model made by
    `hagane filter kenlm`), also its perplexity, as a whole (kenlm_ppl) and per paragraph; with
    `quality_dir` (`hagane filter quality`), the quality classifier's probability (quality_prob); with
    `cfg.ng_words`, the NG-word count and character ratio; with `cfg.word_metrics`, FineWeb-2's word-level
    metrics over Sudachi words."""
    started = now()
    identify = LanguageIdentifier(cfg.langid_model)
    perplexity = PerplexityScorer(kenlm_dir) if kenlm_dir is not None else None
    quality = QualityScorer(quality_dir) if quality_dir is not None else None
    ng_lists = [Path(path) for path in cfg.ng_words]
    ng_words = NgWordCounter(ng_lists) if ng_lists else None
    words = WordScorer() if cfg.word_metrics else None
    rows = []
    with collector_paused():  # one row per document is held until the end
        for batch in _batches(tqdm(read_jsonl_zst(documents), desc=f"score {documents}", unit="doc", mininterval=5)):
            for doc, heuristics in zip(batch, heuristic_scores_batch([doc["text"] for doc in batch])):
                language, language_score = identify(doc["text"])
                row = {"id": doc["id"], "language": language, "language_score": language_score, **heuristics}
                if perplexity is not None:
                    row["kenlm_ppl"], row["kenlm_paragraph_ppl"] = perplexity(doc["text"])
                if quality is not None:
                    row["quality_prob"] = quality(doc["text"])
                if ng_words is not None:
                    row["ng_word_count"], row["ng_word_char_ratio"] = ng_words(doc["text"])
                if words is not None:
                    row.update(words(doc["text"]))
                rows.append(row)
    columns = ["id", "language", "language_score", *METRICS]
    if perplexity is not None:
        columns += ["kenlm_ppl", "kenlm_paragraph_ppl"]
    if quality is not None:
        columns += ["quality_prob"]
    if ng_words is not None:
        columns += list(NG_COLUMNS)
    if words is not None:
        columns += list(WORD_METRICS)
    frame = pd.DataFrame(rows, columns=columns)
    with atomic_path(out_dir / SCORES) as tmp:
        frame.to_parquet(tmp, index=False)
    model_inputs = model_files(kenlm_dir) if kenlm_dir is not None else []
    model_inputs += [quality_dir / QUALITY_MODEL] if quality_dir is not None else []
    model_inputs += ng_lists
    config = {"score": vars(cfg)}
    if words is not None:  # another dictionary splits words differently
        config["sudachi"] = sudachi_versions()
    write_manifest(out_dir, stage="filter.score", config=config, inputs=[documents, *model_inputs],
                   outputs=[out_dir / SCORES], counts={"documents": len(frame)}, started_at=started)
    print(f"scored {len(frame)} documents from {documents}")
    return len(frame)


def _batches(documents: Iterable[dict]) -> Iterator[list[dict]]:
    """The documents in lists of BATCH_DOCUMENTS (the heuristics measure a batch at a time)."""
    batch: list[dict] = []
    for doc in documents:
        batch.append(doc)
        if len(batch) == BATCH_DOCUMENTS:
            yield batch
            batch = []
    if batch:
        yield batch

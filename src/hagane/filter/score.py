"""Scoring: the expensive pass, once per shard. One Parquet row per document id (DESIGN.md)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from tqdm import tqdm

from hagane.collector import collector_paused
from hagane.config import ScoreConfig
from hagane.filter.heuristics import METRICS, heuristic_scores_batch
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
ROW_GROUP = 4096  # documents scored together and written as one Parquet row group
# The columns that count things (integers); every other score is a float.
_COUNTS = frozenset({"n_chars", "n_japanese_chars", "max_sentence_chars", "ng_word_count", "gopher_words",
                     "gopher_stop_words"})


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
    columns = ["id", "language", "language_score", *METRICS]
    if perplexity is not None:
        columns += ["kenlm_ppl", "kenlm_paragraph_ppl"]
    if quality is not None:
        columns += ["quality_prob"]
    if ng_words is not None:
        columns += list(NG_COLUMNS)
    if words is not None:
        columns += list(WORD_METRICS)
    schema = pa.schema([(name, _column_type(name)) for name in columns])
    n_documents = 0
    # A row group at a time: the stage holds ROW_GROUP documents and their scores whatever the shard's
    # size. The scorers make many short-lived containers and no cycles: the collector is paused.
    with atomic_path(out_dir / SCORES) as tmp, pq.ParquetWriter(tmp, schema) as writer, collector_paused():
        docs = iter(tqdm(read_jsonl_zst(documents), desc=f"score {documents}", unit="doc", mininterval=5))
        while group := list(itertools.islice(docs, ROW_GROUP)):
            texts = [doc["text"] for doc in group]
            scores = {"id": [doc["id"] for doc in group]}
            # Scorer by scorer over the group, not document by document: each model then stays in the
            # CPU's caches for the whole group instead of evicting the others at every document.
            scores["language"], scores["language_score"] = _columns(map(identify, texts), 2)
            scores.update(_dict_columns(heuristic_scores_batch(texts), METRICS))
            if perplexity is not None:
                scores["kenlm_ppl"], scores["kenlm_paragraph_ppl"] = _columns(map(perplexity, texts), 2)
            if quality is not None:
                scores["quality_prob"] = list(map(quality, texts))
            if ng_words is not None:
                scores.update(zip(NG_COLUMNS, _columns(map(ng_words, texts), len(NG_COLUMNS))))
            if words is not None:
                scores.update(_dict_columns(map(words, texts), WORD_METRICS))
            writer.write_table(pa.Table.from_pydict(scores, schema=schema))
            n_documents += len(group)
    model_inputs = model_files(kenlm_dir) if kenlm_dir is not None else []
    model_inputs += [quality_dir / QUALITY_MODEL] if quality_dir is not None else []
    model_inputs += ng_lists
    config = {"score": vars(cfg)}
    if words is not None:  # another dictionary splits words differently
        config["sudachi"] = sudachi_versions()
    write_manifest(out_dir, stage="filter.score", config=config, inputs=[documents, *model_inputs],
                   outputs=[out_dir / SCORES], counts={"documents": n_documents}, started_at=started)
    print(f"scored {n_documents} documents from {documents}")
    return n_documents


def _column_type(name: str) -> pa.DataType:
    """Each score column's Parquet type, fixed up front so that every row group has the same schema."""
    if name in ("id", "language"):
        return pa.string()
    if name == "kenlm_paragraph_ppl":
        return pa.list_(pa.float64())
    return pa.int64() if name in _COUNTS else pa.float64()


def _columns(rows: Iterable[tuple], width: int) -> list[list]:
    """Tuples of `width` scores, one per document → `width` columns."""
    columns: list[list] = [[] for _ in range(width)]
    for row in rows:
        for column, value in zip(columns, row):
            column.append(value)
    return columns


def _dict_columns(rows: Iterable[dict], names: Iterable[str]) -> dict[str, list]:
    """Dicts of scores, one per document → a column per name."""
    rows = list(rows)
    return {name: [row[name] for row in rows] for name in names}

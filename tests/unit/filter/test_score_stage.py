"""The score stage's Parquet: row groups scored scorer by scorer give the scores that one group gives, and
an empty shard gets an empty table with every column."""

import pandas as pd
import pyarrow.parquet as pq

import hagane.filter.score as score
from conftest import EN_PARAGRAPH, ja_document
from hagane.config import ScoreConfig
from hagane.filter.heuristics import METRICS
from hagane.io import write_jsonl_zst

DOCS = [{"id": f"d{i}", "text": text, "source": "s", "origin": {}} for i, text in enumerate(
    [ja_document(0, 3), EN_PARAGRAPH * 2, "短い文です。", "", ja_document(1, 2), "メニュー\n" * 5, ja_document(2, 1)])]


def test_row_groups_of_any_size_give_the_same_scores(tmp_path, monkeypatch):
    write_jsonl_zst(tmp_path / "docs.jsonl.zst", DOCS)
    assert score.score_shard(ScoreConfig("lid.176"), tmp_path / "docs.jsonl.zst", tmp_path / "one") == 7
    monkeypatch.setattr(score, "ROW_GROUP", 2)
    assert score.score_shard(ScoreConfig("lid.176"), tmp_path / "docs.jsonl.zst", tmp_path / "four") == 7
    assert pq.ParquetFile(tmp_path / "one" / score.SCORES).metadata.num_row_groups == 1
    assert pq.ParquetFile(tmp_path / "four" / score.SCORES).metadata.num_row_groups == 4
    one, four = (pd.read_parquet(tmp_path / name / score.SCORES) for name in ("one", "four"))
    pd.testing.assert_frame_equal(one, four)
    assert list(one["id"]) == [doc["id"] for doc in DOCS]
    assert list(one["language"][:2]) == ["ja", "en"]
    assert one["n_chars"].tolist() == [len(doc["text"]) for doc in DOCS]


def test_an_empty_shard_gets_every_column_and_no_row(tmp_path):
    write_jsonl_zst(tmp_path / "docs.jsonl.zst", [])
    assert score.score_shard(ScoreConfig("lid.176"), tmp_path / "docs.jsonl.zst", tmp_path / "out") == 0
    scores = pd.read_parquet(tmp_path / "out" / score.SCORES)
    assert list(scores.columns) == ["id", "language", "language_score", *METRICS] and len(scores) == 0
    assert str(pq.read_schema(tmp_path / "out" / score.SCORES).field("n_chars").type) == "int64"

import json

import pandas as pd

from conftest import EN_PARAGRAPH, ja_document
from hagane.config import ScoreConfig, stage_config
from hagane.filter.score import SCORES, score_shard
from hagane.filter.select import COUNTS, DROPPED, KEPT, drop_reason, drop_reasons, rules, select_shard
from hagane.io import read_jsonl_zst, write_jsonl_zst

CFG = stage_config("filter", {"select": {"thresholds": {
    "n_chars": {"min": 200}, "hiragana_ratio": {"min": 0.2}, "duplicate_line_ratio": {"max": 0.3}}}}, origin="test").select
GOOD = {"language": "ja", "language_score": 0.99, "n_chars": 500, "hiragana_ratio": 0.3, "duplicate_line_ratio": 0.0}


def test_each_rule_at_its_threshold():
    active = rules(CFG)
    assert drop_reason(GOOD, active) is None
    assert drop_reason({**GOOD, "language": "en"}, active) == "lang_not_ja"
    assert drop_reason({**GOOD, "language_score": 0.5}, active) is None
    assert drop_reason({**GOOD, "language_score": 0.4999}, active) == "lang_score_low"
    assert drop_reason({**GOOD, "n_chars": 200}, active) is None
    assert drop_reason({**GOOD, "n_chars": 199}, active) == "too_short"
    assert drop_reason({**GOOD, "hiragana_ratio": 0.1999}, active) == "hiragana_ratio_low"
    assert drop_reason({**GOOD, "duplicate_line_ratio": 0.3}, active) is None
    assert drop_reason({**GOOD, "duplicate_line_ratio": 0.31}, active) == "duplicate_lines_high"
    # The first failing rule is the reason.
    assert drop_reason({**GOOD, "language": "en", "n_chars": 10}, active) == "lang_not_ja"


def test_a_whole_table_gets_the_reasons_each_row_gets_alone():
    rows = [GOOD, {**GOOD, "language": "en"}, {**GOOD, "language_score": 0.4999}, {**GOOD, "n_chars": 199},
            {**GOOD, "hiragana_ratio": float("nan")}, {**GOOD, "duplicate_line_ratio": 0.3},
            {**GOOD, "duplicate_line_ratio": 0.31, "n_chars": 10}]
    active = rules(CFG)
    assert list(drop_reasons(pd.DataFrame(rows), active)) == [drop_reason(row, active) for row in rows] == [
        None, "lang_not_ja", "lang_score_low", "too_short", "hiragana_ratio_low", None, "too_short"]


def test_score_then_select_accounts_for_every_document(tmp_path):
    docs = [
        {"id": "a", "text": ja_document(0, 3), "source": "s", "origin": {}},
        {"id": "b", "text": EN_PARAGRAPH * 3, "source": "s", "origin": {}},
        {"id": "c", "text": "短い文です。", "source": "s", "origin": {}},
        {"id": "d", "text": "\n".join(["メニュー"] * 10 + [ja_document(1, 3)]), "source": "s", "origin": {}},
        {"id": "e", "text": "データベース管理システム設定手順：サーバー起動、ネットワーク接続確認、ログ出力先変更。" * 10,
         "source": "s", "origin": {}},
    ]
    write_jsonl_zst(tmp_path / "docs.jsonl.zst", docs)
    score_shard(ScoreConfig("lid.176"), tmp_path / "docs.jsonl.zst", tmp_path / "score")
    scores = pd.read_parquet(tmp_path / "score" / SCORES)
    assert list(scores["id"]) == ["a", "b", "c", "d", "e"]
    counts = select_shard(CFG, tmp_path / "docs.jsonl.zst", tmp_path / "score" / SCORES, tmp_path / "sel")
    assert counts == {"documents_in": 5, "kept": 1, "dropped": {"duplicate_lines_high": 1, "hiragana_ratio_low": 1,
                                                               "lang_not_ja": 1, "too_short": 1}}
    assert [d["id"] for d in read_jsonl_zst(tmp_path / "sel" / KEPT)] == ["a"]
    dropped = {d["id"]: d["drop_reason"] for d in read_jsonl_zst(tmp_path / "sel" / DROPPED)}
    assert dropped == {"b": "lang_not_ja", "c": "too_short", "d": "duplicate_lines_high", "e": "hiragana_ratio_low"}
    assert json.loads((tmp_path / "sel" / COUNTS).read_text()) == counts

"""NG-word counts: the lists, the matching rules, and the columns the score step adds."""

import pandas as pd
import pytest

from hagane.config import ScoreConfig
from hagane.errors import HaganeError
from hagane.filter.ngwords import NgWordCounter, read_word_list
from hagane.filter.score import SCORES, score_shard
from hagane.io import write_jsonl_zst


def word_list(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_counts_occurrences_and_their_characters(tmp_path):
    counter = NgWordCounter([word_list(tmp_path, "a.txt", "# spam\n無料\n無料登録\n\nカジノ\n"),
                             word_list(tmp_path, "b.txt", "カジノ\nＰＲ\n")])  # full-width ＰＲ: NFKC makes it PR
    assert counter.n_words == 4
    text = "今すぐ無料登録。無料でカジノ！PRです"  # 19 characters
    # 無料登録 is matched whole (longest first), then 無料, カジノ and PR: 4 words, 4+2+3+2 characters.
    assert counter(text) == (4, 11 / 19)
    assert counter("") == (0, 0.0) and counter("ふつうの文章です。") == (0, 0.0)
    assert counter("pr") == (0, 0.0)  # case-sensitive


def test_bad_lists_are_named(tmp_path):
    with pytest.raises(HaganeError, match=r"empty\.txt: no words"):
        read_word_list(word_list(tmp_path, "empty.txt", "# nothing\n\n"))
    (tmp_path / "latin1.txt").write_bytes("ok\ncaf\xe9\n".encode("latin-1"))
    with pytest.raises(HaganeError, match=r"latin1\.txt:2: not UTF-8"):
        read_word_list(tmp_path / "latin1.txt")
    with pytest.raises(HaganeError, match=r"cannot read .*missing\.txt"):
        read_word_list(tmp_path / "missing.txt")


def test_the_shipped_example_list_loads(repo):
    assert NgWordCounter([repo / "config" / "ng_words" / "spam_ja.txt"]).n_words == 10


def test_score_adds_the_columns_and_records_the_lists(tmp_path):
    lists = [word_list(tmp_path, "ng.txt", "無料登録\n")]
    write_jsonl_zst(tmp_path / "docs.jsonl.zst", [
        {"id": "a", "text": "無料登録はこちら。無料登録！", "source": "s", "origin": {}},
        {"id": "b", "text": "静かな朝の公園を散歩した。", "source": "s", "origin": {}}])
    score_shard(ScoreConfig("lid.176", ng_words=tuple(map(str, lists))), tmp_path / "docs.jsonl.zst", tmp_path / "out")
    scores = pd.read_parquet(tmp_path / "out" / SCORES)
    assert list(scores["ng_word_count"]) == [2, 0]
    assert list(scores["ng_word_char_ratio"]) == [8 / 14, 0.0]
    manifest = (tmp_path / "out" / "_manifest.json").read_text()
    assert "ng.txt" in manifest

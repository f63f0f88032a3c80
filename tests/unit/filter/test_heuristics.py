import pytest
import yaml

from hagane.filter.heuristics import BATCH_DOCUMENTS, METRICS, SELECTABLE, duplicate_line_ratio, duplicate_ngram_share, \
    heuristic_scores, heuristic_scores_batch, hiragana_ratio, top_ngram_share

# 70 characters (65 without whitespace). Japanese characters in Swallow's sense: 21 hiragana, 4 katakana
# (ー is not one), 11 kanji, 2 × 。 = 38.
SAMPLE = "東京の天気は晴れです。明日は雨が降るでしょう…\nホーム\nホーム\n詳しくは https://example.jp/tenki を見てください。"


def test_hiragana_ratio_ignores_whitespace():
    assert hiragana_ratio("あい うえ\nカキ") == pytest.approx(4 / 6)
    assert hiragana_ratio("   ") == 0.0


def test_duplicate_line_ratio_counts_repeats_of_earlier_lines():
    assert duplicate_line_ratio("ホーム\n本文です。\nホーム\n\nホーム\n") == pytest.approx(2 / 4)
    assert duplicate_line_ratio("") == 0.0


def test_every_metric_on_a_hand_counted_sample():
    s = heuristic_scores(SAMPLE)
    assert tuple(s) == METRICS
    assert s["n_chars"] == 70 and s["n_japanese_chars"] == 38
    assert s["hiragana_ratio"] == pytest.approx(21 / 65)
    assert s["hiragana_share"] == pytest.approx(21 / 38) and s["katakana_share"] == pytest.approx(4 / 38)
    assert s["japanese_ratio"] == pytest.approx(38 / 70)
    # Sentences: 東京の天気は晴れです。(11) 明日は雨が降るでしょう…(12) ホーム(3) ホーム(3) 詳しくは…。(38)
    assert s["mean_sentence_chars"] == pytest.approx(67 / 5) and s["max_sentence_chars"] == 38
    assert s["ellipsis_sentence_ratio"] == pytest.approx(1 / 5)
    assert s["duplicate_line_ratio"] == pytest.approx(1 / 4) and s["duplicate_sentence_ratio"] == pytest.approx(1 / 5)
    assert s["duplicate_line_char_ratio"] == pytest.approx(3 / 67) == s["duplicate_sentence_char_ratio"]
    # n-grams run over the text as it is, line breaks included: ホー, ホーム and \nホーム occur twice.
    assert s["top_2gram_share"] == pytest.approx(2 / 69)
    assert s["top_3gram_share"] == pytest.approx(2 / 68)
    assert s["top_4gram_share"] == pytest.approx(2 / 67)
    assert s["duplicate_5gram_share"] == pytest.approx(1 / 65)  # \nホーム\n, among 65 distinct 5-grams
    assert s["duplicate_6gram_share"] == 0.0
    assert s["url_char_ratio"] == pytest.approx(len("https://example.jp/tenki") / 70)
    assert 0.9 < s["zlib_ratio"] < 1.0 and 0.9 < s["lz4_ratio"] < 1.0  # too short to compress


def test_ngram_shares_on_repetitive_text():
    assert top_ngram_share("ああああい", 2) == pytest.approx(3 / 4)
    assert duplicate_ngram_share("あいうえおかあいうえおき", 5) == pytest.approx(1 / 7)  # あいうえお, of 7 distinct
    assert duplicate_ngram_share("あいうえ", 5) == 0.0
    spam = heuristic_scores("今すぐ登録して無料でもらおう！" * 20)
    assert spam["duplicate_10gram_share"] == 1.0 and spam["zlib_ratio"] < 0.1


def test_the_schema_lists_every_metric(repo):
    schema = yaml.safe_load((repo / "workflow" / "schemas" / "config.schema.yaml").read_text())
    select = schema["properties"]["filter"]["properties"]["select"]["properties"]
    assert tuple(select["thresholds"]["propertyNames"]["enum"]) == SELECTABLE


def test_a_document_scores_the_same_alone_and_in_any_batch():
    # Empty and very short texts (fewer characters than the n-gram sizes), astral kanji, whitespace only,
    # and more documents than one batch holds, so batches end in the middle of the list.
    texts = ["", "あ", "ああ", "𠀋𠀋𠀋𠀋𠀋𠀋", " \n ", SAMPLE, "今すぐ登録して無料でもらおう！" * 20,
             *(f"{i}番目の文書です。" * (i % 7 + 1) for i in range(BATCH_DOCUMENTS + 5))]
    alone = [heuristic_scores(text) for text in texts]
    assert heuristic_scores_batch(texts) == alone
    assert heuristic_scores_batch(texts[3:]) == alone[3:]
    assert alone[0]["top_2gram_share"] == 0.0 and alone[1]["duplicate_5gram_share"] == 0.0
    assert alone[2]["top_2gram_share"] == 1.0  # one 2-gram, ああ
    assert alone[3]["n_japanese_chars"] == 6 and alone[3]["top_2gram_share"] == 1.0

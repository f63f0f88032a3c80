import pytest

from hagane.filter.heuristics import duplicate_line_ratio, heuristic_scores, hiragana_ratio


def test_hiragana_ratio_ignores_whitespace():
    assert hiragana_ratio("あい うえ\nカキ") == pytest.approx(4 / 6)
    assert hiragana_ratio("   ") == 0.0


def test_duplicate_line_ratio_counts_repeats_of_earlier_lines():
    assert duplicate_line_ratio("ホーム\n本文です。\nホーム\n\nホーム\n") == pytest.approx(2 / 4)
    assert duplicate_line_ratio("") == 0.0


def test_scores_have_the_documented_columns():
    assert heuristic_scores("あ\nあ") == {"n_chars": 3, "hiragana_ratio": 1.0, "duplicate_line_ratio": 0.5}

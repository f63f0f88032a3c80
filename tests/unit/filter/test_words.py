"""FineWeb-2's word-level metrics (hagane.filter.words): exact values on a hand-made text, Sudachi's words,
and the fineweb2_ja preset on real documents either side of its thresholds."""

import json
from importlib.metadata import version

import pandas as pd
import pytest

from conftest import JA_PARAGRAPHS
from hagane.config import ScoreConfig, stage_config
from hagane.errors import HaganeError
from hagane.filter.heuristics import heuristic_scores
from hagane.filter.score import SCORES, score_shard
from hagane.filter.select import drop_reason, rules
from hagane.filter.words import WORD_METRICS, WordScorer, word_scores
from hagane.io import write_jsonl_zst

# 21 characters; 4 newlines; two equal lines, a blank line, a bullet line ending in an ellipsis.
TEXT = "猫が好きだ。\n猫が好きだ。\n\n- 犬も…\n"
WORDS = ["猫", "が", "好き", "だ", "。", "猫", "が", "好き", "だ", "。", "-", "犬", "も", "…"]


def test_each_metric_on_a_hand_made_text():
    scores = word_scores(TEXT, WORDS)
    assert tuple(scores) == WORD_METRICS
    expected = {
        # cut at newline runs: 猫が好きだ。 ×2, - 犬も…, '' → one repeat in four
        "gopher_duplicate_line_ratio": 1 / 4,
        # the most frequent word pairs, triples, quadruples all occur twice; the first of them counts,
        # joined by spaces: '猫 が' (3 characters), '猫 が 好き' (6), '猫 が 好き だ' (8)
        "gopher_top_2gram_share": 3 * 2 / 21, "gopher_top_3gram_share": 6 * 2 / 21,
        "gopher_top_4gram_share": 8 * 2 / 21,
        # the 5-gram 猫が好きだ。 repeats at word 5 (6 characters); no longer n-gram repeats
        "gopher_duplicate_5gram_share": 6 / 21, **{f"gopher_duplicate_{n}gram_share": 0.0 for n in range(6, 11)},
        # non-blank lines: two end in 。 (a sentence terminal), … is not one
        "fineweb_line_punct_ratio": 2 / 3, "fineweb_short_line_ratio": 1.0,
        # the repeated line's 6 characters over the 17 that are not newlines
        "fineweb_duplicate_line_char_ratio": 6 / 17,
        "fineweb_newline_word_ratio": 4 / 14,
        # 。 。 - … are symbol words: 10 words left, 12 characters
        "gopher_words": 10, "gopher_mean_word_chars": 1.2,
        "gopher_hash_word_ratio": 0.0, "gopher_ellipsis_word_ratio": 1 / 14,
        # str.splitlines: four lines, the blank one included
        "gopher_bullet_line_ratio": 1 / 4, "gopher_ellipsis_line_ratio": 1 / 4,
        "gopher_alpha_word_ratio": 10 / 14,
        "gopher_stop_words": 1,  # が (twice, counted once); 猫 好き だ 犬 も are not FineWeb-2's stop words
    }
    assert scores == pytest.approx(expected, abs=1e-12)


def test_a_text_without_words_scores_zero_ratios():
    scores = word_scores("", [])
    assert scores["gopher_words"] == 0 and scores["fineweb_newline_word_ratio"] == 0.0
    assert scores["gopher_alpha_word_ratio"] == 0.0 and scores["gopher_top_2gram_share"] == 0.0


def test_hashes_and_three_dot_ellipses_count_per_word():
    scores = word_scores("# 見出し...\n本文", ["#", "見出し", "...", "本文"])
    assert scores["gopher_hash_word_ratio"] == 1 / 4
    assert scores["gopher_ellipsis_word_ratio"] == 1 / 4
    assert scores["gopher_words"] == 2 and scores["gopher_mean_word_chars"] == 2.5


@pytest.fixture(scope="module")
def scorer():
    return WordScorer()


def test_words_are_sudachi_mode_a_surfaces_without_whitespace(scorer):
    assert scorer.words("東京都に行った。\n 本を読む") == ["東京", "都", "に", "行っ", "た", "。", "本", "を", "読む"]


def select(preset):
    return stage_config("filter", {"score": {"word_metrics": True}, "select": {"preset": preset}},
                        origin="test").select


PROSE = "\n".join(JA_PARAGRAPHS + ["夕方になると、町の通りには魚を焼く香ばしいにおいが広がり、子どもたちは家路を急いだ。"])


def fineweb_reason(scorer, text):
    scores = {"language": "ja", "language_score": 0.99, **heuristic_scores(text), **scorer(text)}
    return drop_reason(scores, rules(select("fineweb2_ja")))


ENGLISH = ("Steel is an alloy made by adding carbon to iron, and it has long been used for swords and farm tools. "
           "Japanese swordsmiths folded a pure steel called tamahagane many times over, which gave their blades a "
           "supple edge that would rarely break. Training a language model starts with collecting a large amount of "
           "text and removing duplicated or low quality documents before anything else is done with it.")


def test_fineweb2_on_hand_made_documents(scorer):
    assert fineweb_reason(scorer, PROSE) is None
    # A short text: every 4-gram occurs once, and the first, '鋼 は 鉄 に', is already 17 % of its characters.
    # Gopher's top n-gram rule takes the most frequent n-gram whatever its count, so short documents fail it
    # before the word count is checked (datatrove's order and definition).
    short = PROSE.split("。")[0] + "。"
    assert scorer(short)["gopher_top_4gram_share"] == pytest.approx(7 / 41)
    assert fineweb_reason(scorer, short) == "gopher_top_4gram_share_high"
    menu = PROSE + "\n" + "\n".join(["ホーム", "会社案内", "お問い合わせ"] * 4)
    assert fineweb_reason(scorer, menu) == "gopher_duplicate_line_ratio_high"
    unpunctuated = "\n".join(line.rstrip("。") for line in PROSE.split("。"))
    assert fineweb_reason(scorer, unpunctuated) == "fineweb_line_punct_ratio_low"
    english = scorer(ENGLISH)
    assert english["gopher_words"] == 69 and english["gopher_stop_words"] == 0
    assert fineweb_reason(scorer, ENGLISH) == "gopher_stop_words_low"


def test_a_selection_that_needs_word_metrics_is_refused_without_them():
    with pytest.raises(HaganeError, match=r"preset fineweb2_ja.*filter.score.word_metrics: true"):
        stage_config("filter", {"select": {"preset": "fineweb2_ja"}}, origin="test")
    with pytest.raises(HaganeError, match=r"the bound on gopher_stop_words"):
        stage_config("filter", {"select": {"thresholds": {"gopher_stop_words": {"min": 2}}}}, origin="test")
    assert stage_config("filter", {"select": {"preset": "swallow_v1"}}, origin="test").score.word_metrics is False


def test_score_adds_the_word_metrics_and_records_the_dictionary(tmp_path, scorer):
    texts = [PROSE, "静かな朝の公園を散歩した。"]
    write_jsonl_zst(tmp_path / "docs.jsonl.zst", [{"id": f"d{i}", "text": t, "source": "s", "origin": {}}
                                                  for i, t in enumerate(texts)])
    score_shard(ScoreConfig("lid.176", word_metrics=True), tmp_path / "docs.jsonl.zst", tmp_path / "out")
    scores = pd.read_parquet(tmp_path / "out" / SCORES)
    assert list(scores.columns[-len(WORD_METRICS):]) == list(WORD_METRICS)
    for row, text in zip(scores.to_dict("records"), texts):
        assert {m: row[m] for m in WORD_METRICS} == pytest.approx(scorer(text))
    manifest = json.loads((tmp_path / "out" / "_manifest.json").read_text())
    assert manifest["config"]["sudachi"]["sudachidict_core"] == version("sudachidict_core")


def test_numerals_stay_whole(scorer):
    # Sudachi joins numerals only when the part of speech is loaded (hagane.sudachi); spaCy's tokens, which
    # datatrove's FineWeb-2 rules count, keep them whole too.
    assert scorer.words("7月31日の10:00に") == ["7", "月", "31", "日", "の", "10", ":", "00", "に"]

"""Golden tests of the presets: their published thresholds, the reason each one gives, and hand-made
documents on either side of a threshold."""

import pytest

from conftest import JA_PARAGRAPHS
from hagane.config import stage_config
from hagane.errors import HaganeError
from hagane.filter.heuristics import heuristic_scores
from hagane.filter.presets import PRESETS, resolve
from hagane.filter.select import bounds_in_force, drop_reason, rules

# Each preset's rules in the order they are checked, with the reason each gives (hand-written: the
# table below is the contract, the presets module must match it).
EXPECTED = {
    "swallow_v1": [
        ("n_chars", "min", 400, "too_short"), ("n_japanese_chars", "min", 400, "n_japanese_chars_low"),
        ("hiragana_share", "min", 0.2, "hiragana_share_low"), ("katakana_share", "max", 0.5, "katakana_share_high"),
        ("japanese_ratio", "min", 0.5, "japanese_ratio_low"),
        ("mean_sentence_chars", "min", 20, "mean_sentence_chars_low"),
        ("mean_sentence_chars", "max", 90, "mean_sentence_chars_high"),
        ("max_sentence_chars", "max", 200, "max_sentence_chars_high"),
        ("ellipsis_sentence_ratio", "max", 0.2, "ellipsis_sentence_ratio_high"),
        ("duplicate_line_ratio", "max", 0.30, "duplicate_lines_high"),
        ("duplicate_line_char_ratio", "max", 0.20, "duplicate_line_char_ratio_high"),
        ("duplicate_sentence_ratio", "max", 0.30, "duplicate_sentence_ratio_high"),
        ("duplicate_sentence_char_ratio", "max", 0.20, "duplicate_sentence_char_ratio_high"),
        ("top_2gram_share", "max", 0.20, "top_2gram_share_high"),
        ("top_3gram_share", "max", 0.18, "top_3gram_share_high"),
        ("top_4gram_share", "max", 0.16, "top_4gram_share_high"),
        *[(f"duplicate_{n}gram_share", "max", v, f"duplicate_{n}gram_share_high")
          for n, v in zip(range(5, 11), (0.15, 0.14, 0.13, 0.12, 0.11, 0.10))],
    ],
    "llmjp_v1": [("mean_sentence_chars", "max", 250, "mean_sentence_chars_high"),
                 ("zlib_ratio", "min", 0.30, "zlib_ratio_low"), ("zlib_ratio", "max", 0.70, "zlib_ratio_high")],
    "llmjp_v2": [("n_chars", "min", 200, "too_short"), ("hiragana_ratio", "min", 0.15, "hiragana_ratio_low"),
                 ("lz4_ratio", "min", 0.50, "lz4_ratio_low"), ("lz4_ratio", "max", 0.75, "lz4_ratio_high"),
                 ("url_char_ratio", "max", 0.4, "url_char_ratio_high")],
    "fineweb2_ja": [
        ("gopher_duplicate_line_ratio", "max", 0.375, "gopher_duplicate_line_ratio_high"),
        *[(f"gopher_top_{n}gram_share", "max", v, f"gopher_top_{n}gram_share_high")
          for n, v in ((2, 0.121), (3, 0.129), (4, 0.145))],
        *[(f"gopher_duplicate_{n}gram_share", "max", v, f"gopher_duplicate_{n}gram_share_high")
          for n, v in zip(range(5, 11), (0.307, 0.283, 0.264, 0.248, 0.234, 0.223))],
        ("fineweb_line_punct_ratio", "min", 0.167, "fineweb_line_punct_ratio_low"),
        ("fineweb_duplicate_line_char_ratio", "max", 0.1, "fineweb_duplicate_line_char_ratio_high"),
        ("fineweb_newline_word_ratio", "max", 0.162, "fineweb_newline_word_ratio_high"),
        ("gopher_words", "min", 50, "gopher_words_low"), ("gopher_words", "max", 100_000, "gopher_words_high"),
        ("gopher_mean_word_chars", "min", 1, "gopher_mean_word_chars_low"),
        ("gopher_mean_word_chars", "max", 5, "gopher_mean_word_chars_high"),
        ("gopher_hash_word_ratio", "max", 0.1, "gopher_hash_word_ratio_high"),
        ("gopher_ellipsis_word_ratio", "max", 0.1, "gopher_ellipsis_word_ratio_high"),
        ("gopher_bullet_line_ratio", "max", 0.9, "gopher_bullet_line_ratio_high"),
        ("gopher_ellipsis_line_ratio", "max", 0.3, "gopher_ellipsis_line_ratio_high"),
        ("gopher_alpha_word_ratio", "min", 0.759, "gopher_alpha_word_ratio_low"),
        ("gopher_stop_words", "min", 2, "gopher_stop_words_low"),
    ],
    "ccnet": [("kenlm_ppl", "max", 800.0, "kenlm_ppl_high")],  # the 60th percentile, from CORPUS
    "none": [],
}
# What the thresholds step would write for a corpus whose perplexity has these percentiles.
CORPUS = {"documents": 10, "values": {"kenlm_ppl": {"finite_documents": 10, "max_percentile": 60, "max": 800.0,
                                                    "head_max_percentile": 30, "head_max": 500.0,
                                                    "middle_max_percentile": 60, "middle_max": 800.0}}}


def select(preset, **overrides):
    return stage_config("filter", {"score": {"word_metrics": True}, "select": {"preset": preset, **overrides}},
                        origin="test").select


def passing_scores(preset):
    """Scores strictly inside every bound of the preset."""
    scores = {"language": "ja", "language_score": 0.99}
    for metric, bounds in bounds_in_force(select(preset), CORPUS).items():
        lo, hi = bounds.get("min"), bounds.get("max")
        scores[metric] = (lo + hi) / 2 if lo is not None and hi is not None else (lo * 1.5 if lo is not None else hi / 2)
    return scores


@pytest.mark.parametrize("preset", sorted(PRESETS))
def test_each_bound_of_each_preset_and_its_reason(preset):
    active = rules(select(preset), CORPUS)
    assert [rule.reason for rule in active[2:]] == [e[3] for e in EXPECTED[preset]]
    good = passing_scores(preset)
    assert drop_reason(good, active) is None
    for metric, bound, value, reason in EXPECTED[preset]:
        assert drop_reason({**good, metric: value}, active) is None, (metric, "the bound itself passes")
        beyond = value - 1e-6 if bound == "min" else value + 1e-6
        assert drop_reason({**good, metric: beyond}, active) == reason


def test_language_score_follows_the_preset_unless_set():
    good = passing_scores("fineweb2_ja")
    assert drop_reason({**good, "language_score": 0.88}, rules(select("fineweb2_ja"))) == "lang_score_low"
    assert drop_reason({**good, "language_score": 0.886}, rules(select("fineweb2_ja"))) is None
    assert drop_reason({**good, "language_score": 0.88, "kenlm_ppl": 700.0}, rules(select("ccnet"), CORPUS)) is None
    assert drop_reason({**good, "language_score": 0.6}, rules(select("fineweb2_ja", min_language_score=0.5))) is None


def test_config_thresholds_add_override_and_remove_bounds():
    bounds = resolve("swallow_v1", {"n_chars": {"min": 200}, "hiragana_share": {"min": None},
                                    "zlib_ratio": {"max": 0.7}})
    assert bounds["n_chars"] == {"min": 200} and "hiragana_share" not in bounds and bounds["zlib_ratio"] == {"max": 0.7}
    assert bounds["mean_sentence_chars"] == {"min": 20, "max": 90}  # untouched
    with pytest.raises(HaganeError, match="invalid configuration in test"):
        select("swallow_v1", thresholds={"hiragana": {"min": 0.1}})


def test_a_percentile_fills_its_side_like_an_absolute_bound():
    # A percentile replaces the preset's absolute bound on its side and keeps the other side.
    bounds = resolve("swallow_v1", {"mean_sentence_chars": {"max_percentile": 95}})
    assert bounds["mean_sentence_chars"] == {"min": 20, "max_percentile": 95}
    # An absolute bound replaces a preset's percentile; null removes it.
    assert resolve("ccnet", {"kenlm_ppl": {"max": 1500}})["kenlm_ppl"] == {"max": 1500}
    assert "kenlm_ppl" not in resolve("ccnet", {"kenlm_ppl": {"max_percentile": None}})
    with pytest.raises(HaganeError, match="both max and max_percentile"):
        resolve("none", {"kenlm_ppl": {"max": 1500, "max_percentile": 90}})
    with pytest.raises(HaganeError, match="invalid configuration in test"):
        select("none", thresholds={"kenlm_ppl": {"max_percentile": 101}})


def test_a_percentile_bound_needs_the_corpus_thresholds_and_fresh_ones():
    with pytest.raises(HaganeError, match="percentile of the whole corpus"):
        rules(select("ccnet"))
    stale = {"values": {"kenlm_ppl": {**CORPUS["values"]["kenlm_ppl"], "max_percentile": 50}}}
    with pytest.raises(HaganeError, match="stale"):
        rules(select("ccnet"), stale)


# Hand-made documents, scored for real, on either side of Swallow's thresholds.
PROSE = "\n".join(JA_PARAGRAPHS + ["夕方になると、町の通りには魚を焼く香ばしいにおいが広がり、子どもたちは家路を急いだ。"])


def swallow_reason(text):
    return drop_reason({"language": "ja", "language_score": 0.99, **heuristic_scores(text)}, rules(select("swallow_v1")))


def test_swallow_on_hand_made_documents():
    assert len(PROSE) >= 400 and swallow_reason(PROSE) is None
    assert swallow_reason(PROSE[:399]) == "too_short"
    katakana = "\n".join([
        "データベースサーバーのバックアップをしてから、リストアをためしてみました。",
        "システムアーキテクチャのコンポーネントをリファクタリングして、パフォーマンスをチューニングしました。",
        "ネットワークインターフェースのコンフィギュレーションファイルを、エディタでアップデートしました。",
        "クラウドストレージのアクセスコントロールリストを、セキュリティポリシーにマッチさせました。",
        "インストーラーのダウンロードページから、パッケージのアーカイブをゲットしてみました。",
        "ターミナルのプロンプトで、コマンドラインのオプションをタイプしてみました。",
        "ブラウザのキャッシュをクリアして、ウェブアプリケーションのログインページをリロードしました。",
        "スマートフォンのバッテリーをチャージしながら、メッセージアプリのアップデートをチェックしました。",
        "プリンターのドライバーをアンインストールしてから、メーカーのサポートサイトをブックマークしました。",
        "キーボードのショートカットをカスタマイズして、テキストエディタのマクロをレコーディングしました。",
    ])
    assert len(katakana) >= 400
    assert swallow_reason(katakana) == "katakana_share_high"
    teasers = PROSE + "\n" + "\n".join(f"続きはこちらの記事{i}で詳しく紹介しています…" for i in range(8))
    assert swallow_reason(teasers) == "ellipsis_sentence_ratio_high"
    one_long_sentence = PROSE.replace("。", "、").replace("\n", "").rstrip("、") + "。"
    assert swallow_reason(one_long_sentence) == "mean_sentence_chars_high"
    menu = PROSE + "\n" + "\n".join(["ホーム", "会社案内", "お問い合わせ"] * 4)
    assert swallow_reason(menu) == "duplicate_lines_high"
    spam = PROSE + "\n" + "今なら会員登録だけで豪華なプレゼントを無料でもらおう。" * 7
    assert swallow_reason(spam) == "duplicate_sentence_ratio_high"

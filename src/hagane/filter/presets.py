"""Named selections with their published thresholds (DESIGN.md, "Japanese quality rules, as published").

A preset is a minimum language-ID score and bounds on heuristic metrics. The config may add bounds or
override a preset's (`filter.select.thresholds`); a bound set to null removes it. Rules the presets
need but Hagane does not score yet are listed in MISSING and in config/README.md, never silently
dropped from the documentation.
"""

from __future__ import annotations

from hagane.errors import HaganeError
from hagane.filter.heuristics import DUPLICATE_NGRAM_SIZES, SELECTABLE

Bounds = dict[str, float | None]  # {"min": …, "max": …}; a missing or None bound is open


PRESETS: dict[str, dict] = {
    "none": {"min_language_score": 0.5, "thresholds": {}},
    # Swallow corpus v1 (Okazaki et al., 2024), with its own metric definitions (hagane.filter.heuristics).
    "swallow_v1": {"min_language_score": 0.5, "thresholds": {
        "n_chars": {"min": 400},
        "n_japanese_chars": {"min": 400},
        "hiragana_share": {"min": 0.2},
        "katakana_share": {"max": 0.5},
        "japanese_ratio": {"min": 0.5},
        "mean_sentence_chars": {"min": 20, "max": 90},
        "max_sentence_chars": {"max": 200},
        "ellipsis_sentence_ratio": {"max": 0.2},
        "duplicate_line_ratio": {"max": 0.30},
        "duplicate_line_char_ratio": {"max": 0.20},
        "duplicate_sentence_ratio": {"max": 0.30},
        "duplicate_sentence_char_ratio": {"max": 0.20},
        "top_2gram_share": {"max": 0.20},
        "top_3gram_share": {"max": 0.18},
        "top_4gram_share": {"max": 0.16},
        **{f"duplicate_{n}gram_share": {"max": round(0.15 - 0.01 * (n - 5), 2)} for n in DUPLICATE_NGRAM_SIZES},
    }},
    # LLM-jp corpus v1: compression ratio by zlib; mean sentence length.
    "llmjp_v1": {"min_language_score": 0.5, "thresholds": {
        "mean_sentence_chars": {"max": 250},
        "zlib_ratio": {"min": 0.30, "max": 0.70},
    }},
    # LLM-jp corpus v2 (Uzushio): LZ4 compression ratio; URL characters stand in for link characters.
    "llmjp_v2": {"min_language_score": 0.5, "thresholds": {
        "n_chars": {"min": 200},
        "hiragana_ratio": {"min": 0.15},
        "lz4_ratio": {"min": 0.50, "max": 0.75},
        "url_char_ratio": {"max": 0.4},
    }},
    # FineWeb-2, jpn_Jpan: language score and duplicate lines.
    "fineweb2_ja": {"min_language_score": 0.886, "thresholds": {
        "duplicate_line_ratio": {"max": 0.328},
    }},
    # cc_net: language score; its perplexity buckets need the KenLM scorer (not yet).
    "ccnet": {"min_language_score": 0.5, "thresholds": {}},
}

# Published rules of each preset that are not scored yet, so not applied.
MISSING: dict[str, list[str]] = {
    "llmjp_v1": ["keep only lines with kana; strip URLs and ASCII runs of 100+ (text changes, not filters)",
                 "NG-word counts"],
    "llmjp_v2": ["KenLM perplexity on Sudachi tokens within 7 … 5e5"],
    "fineweb2_ja": ["top 2/3/4-gram ≤ 0.239/0.196/0.172 and duplicate 5…10-gram ≤ 0.243…0.159: Gopher's "
                    "rules over words, which need a Japanese word tokenizer (not yet)"],
    "ccnet": ["perplexity buckets head/middle/tail"],
}

# Drop reasons keep the names they had before presets existed; the rest are <metric>_low / <metric>_high.
_REASONS = {("n_chars", "min"): "too_short", ("n_chars", "max"): "too_long",
            ("duplicate_line_ratio", "max"): "duplicate_lines_high"}


def drop_reason_name(metric: str, bound: str) -> str:
    return _REASONS.get((metric, bound), f"{metric}_{'low' if bound == 'min' else 'high'}")


def resolve(preset: str, thresholds: dict[str, Bounds]) -> dict[str, Bounds]:
    """The preset's bounds with the config's on top, in SELECTABLE order (the order rules are checked)."""
    if preset not in PRESETS:
        raise HaganeError(f"unknown filter preset {preset!r} (presets: {', '.join(PRESETS)})")
    merged: dict[str, Bounds] = {m: dict(b) for m, b in PRESETS[preset]["thresholds"].items()}
    for metric, bounds in thresholds.items():
        if metric not in SELECTABLE:
            raise HaganeError(f"filter.select.thresholds: no metric {metric!r} (metrics: {', '.join(SELECTABLE)})")
        merged.setdefault(metric, {}).update(bounds)
    cleaned = {m: {k: v for k, v in bounds.items() if v is not None} for m, bounds in merged.items()}
    return {m: cleaned[m] for m in SELECTABLE if cleaned.get(m)}

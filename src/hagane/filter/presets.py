"""Named selections with their published thresholds (DESIGN.md, "Japanese quality rules, as published").

A preset is a minimum language-ID score and bounds on heuristic metrics. The config may add bounds or
override a preset's (`filter.select.thresholds`); a bound set to null removes it. A bound is absolute
(`min`, `max`) or a percentile of the metric over the whole corpus (`min_percentile`, `max_percentile`,
0–100), which the thresholds step (hagane.filter.thresholds) turns into an absolute value before any
shard is selected; either kind fills its side, so a config's `max` replaces a preset's `max_percentile`. Rules the presets
need but Hagane does not score yet are listed in MISSING and in config/README.md, never silently
dropped from the documentation.
"""

from __future__ import annotations

from hagane.errors import HaganeError
from hagane.filter.heuristics import DUPLICATE_NGRAM_SIZES, SELECTABLE

Bounds = dict[str, float | None]  # {"min": …, "max_percentile": …}; a missing or None bound is open
# The keys that bound each side of a metric.
SIDES = {"min": ("min", "min_percentile"), "max": ("max", "max_percentile")}
# cc_net's perplexity buckets: head up to the 30th percentile, middle up to the 60th, tail above.
CCNET_BUCKETS = {"head": 30, "middle": 60}


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
    # FineWeb-2, jpn_Jpan (huggingface/fineweb-2: configs/jpn_Jpan.yml at baedee4, and the settings its
    # fineweb-2-pipeline.py gives datatrove's three filters, in their order): Gopher repetition (paragraph and
    # line-character rules off), FineWeb quality (short lines off, duplicate-line characters 0.1), Gopher
    # quality (its defaults but for word length, alphabetic words and stop words) — over Sudachi words
    # (hagane.filter.words, filter.score.word_metrics).
    "fineweb2_ja": {"min_language_score": 0.886, "thresholds": {
        "gopher_duplicate_line_ratio": {"max": 0.375},
        **{f"gopher_top_{n}gram_share": {"max": v} for n, v in ((2, 0.121), (3, 0.129), (4, 0.145))},
        **{f"gopher_duplicate_{n}gram_share": {"max": v}
           for n, v in ((5, 0.307), (6, 0.283), (7, 0.264), (8, 0.248), (9, 0.234), (10, 0.223))},
        "fineweb_line_punct_ratio": {"min": 0.167},
        "fineweb_duplicate_line_char_ratio": {"max": 0.1},
        "fineweb_newline_word_ratio": {"max": 0.162},
        "gopher_words": {"min": 50, "max": 100_000},
        "gopher_mean_word_chars": {"min": 1, "max": 5},
        "gopher_hash_word_ratio": {"max": 0.1},
        "gopher_ellipsis_word_ratio": {"max": 0.1},
        "gopher_bullet_line_ratio": {"max": 0.9},
        "gopher_ellipsis_line_ratio": {"max": 0.3},
        "gopher_alpha_word_ratio": {"min": 0.759},
        "gopher_stop_words": {"min": 2},
    }},
    # cc_net: language score, then perplexity buckets; the tail (above the 60th percentile) is dropped,
    # head and middle are kept (and counted per bucket).
    "ccnet": {"min_language_score": 0.5, "thresholds": {"kenlm_ppl": {"max_percentile": CCNET_BUCKETS["middle"]}}},
}

# Published rules of each preset that are not scored yet, so not applied.
MISSING: dict[str, list[str]] = {
    "llmjp_v1": ["keep only lines with kana; strip URLs and ASCII runs of 100+ (text changes, not filters)",
                 "LLM-jp's NG-word lists and bounds (not shipped; filter.score.ng_words scores any list)"],
    "llmjp_v2": ["KenLM perplexity on Sudachi tokens within 7 … 5e5: not in the preset, since it needs a model of "
                 "your reference; add it with filter.kenlm.tokenizer: sudachi and kenlm_ppl {min: 7, max: 500000}"],
    "fineweb2_ja": ["the language score is lid.176's here, GlotLID's in FineWeb-2 (the same 0.886 bound on a "
                    "different model)"],
}

# Why a score column a bound names may be missing from a shard's scores (said by select and thresholds).
SCORED_ONLY_WITH = ("kenlm_ppl is scored only with filter.kenlm.reference_sources, quality_prob only with "
                    "filter.quality.reference_sources, ng_word_* only with filter.score.ng_words, gopher_* and "
                    "fineweb_* only with filter.score.word_metrics")

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
        for keys in SIDES.values():
            if not any(key in bounds for key in keys):
                continue  # the preset's bound on this side stands
            chosen = {key: bounds[key] for key in keys if bounds.get(key) is not None}
            if len(chosen) > 1:
                raise HaganeError(f"filter.select.thresholds.{metric}: both {' and '.join(chosen)}; give one and "
                                  "set the other to null (a --configfile is merged into the base config key by key)")
            metric_bounds = merged.setdefault(metric, {})
            for key in keys:  # null, or either kind of bound, replaces the preset's bound on this side
                metric_bounds.pop(key, None)
            metric_bounds.update(chosen)
    cleaned = {m: {k: v for k, v in bounds.items() if v is not None} for m, bounds in merged.items()}
    return {m: cleaned[m] for m in SELECTABLE if cleaned.get(m)}


def percentile_bounds(bounds: dict[str, Bounds]) -> dict[str, Bounds]:
    """{metric: {"min_percentile": p, …}}: the bounds among `bounds` that are percentiles of the corpus."""
    found = {m: {k: v for k, v in b.items() if k.endswith("_percentile")} for m, b in bounds.items()}
    return {m: b for m, b in found.items() if b}


def absolute_bounds(bounds: dict[str, Bounds], values: dict[str, dict[str, float]]) -> dict[str, Bounds]:
    """`bounds` with each percentile replaced by its value over the corpus (`values`, as the thresholds
    step wrote them: {metric: {"max_percentile": p, "max": value}})."""
    result: dict[str, Bounds] = {}
    for metric, metric_bounds in bounds.items():
        result[metric] = {}
        for key, value in metric_bounds.items():
            if key.endswith("_percentile"):
                side = key.removesuffix("_percentile")
                resolved = values.get(metric, {})
                if resolved.get(key) != value:
                    raise HaganeError(f"the corpus thresholds hold {metric} {key} {resolved.get(key)}, the config "
                                      f"{value}: they are stale — rerun the thresholds step")
                result[metric][side] = resolved[side]
            else:
                result[metric][key] = value
    return result

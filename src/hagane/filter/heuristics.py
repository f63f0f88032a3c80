"""Japanese heuristic metrics, computed once per document at scoring time. The presets in
`hagane.filter.presets` apply published thresholds to them, so each metric follows the definition of
the corpus whose threshold it serves — a threshold means nothing under another definition:

- Swallow corpus v1 (Okazaki et al., 2024): character classes as shares of the *Japanese* characters
  (hiragana, katakana, kanji, 、。); sentences cut at 。．！？!? within each line; n-gram statistics over
  the characters of the whole text: the top n-gram's share of all n-gram occurrences, and the share of
  distinct n-grams that occur more than once.
- LLM-jp v1/v2 and the demo: hiragana over all non-whitespace characters, zlib and LZ4 compression
  ratios, URL characters over all characters.

Texts are NFKC-normalised before they get here (collect), so full-width ！？， have become !?, and count
as sentence ends but not as Japanese characters; blank lines (paragraph breaks) are not counted as lines.
"""

from __future__ import annotations

import re
import zlib
from collections import Counter

import lz4.block
import numpy as np

_HIRAGANA = re.compile(r"[\u3041-\u3096]")
_KATAKANA = re.compile(r"[\u30a1-\u30fa]")
_KANJI = re.compile(r"[々〇〻\u3400-\u9fff\uf900-\ufaff\U00020000-\U0003134f]")
_JA_PUNCT = re.compile(r"[、。，．！？]")
_WHITESPACE = re.compile(r"\s+")
_SENTENCE = re.compile(r"[^。．！？!?]+[。．！？!?]?")
_URL = re.compile(r"(?:https?|ftp)://[^\s<>\"'、。「」]+|www\.[^\s<>\"'、。「」]+")
# NFKC has turned … into "...": both spellings end a teaser sentence.
_ELLIPSIS_ENDINGS = ("・", "…", "...")

TOP_NGRAM_SIZES = (2, 3, 4)
DUPLICATE_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)

# The columns heuristic_scores returns, in order (also the order selection rules are checked in).
METRICS = ("n_chars", "n_japanese_chars", "hiragana_ratio", "hiragana_share", "katakana_share", "japanese_ratio",
           "mean_sentence_chars", "max_sentence_chars", "ellipsis_sentence_ratio", "duplicate_line_ratio",
           "duplicate_line_char_ratio", "duplicate_sentence_ratio", "duplicate_sentence_char_ratio",
           *(f"top_{n}gram_share" for n in TOP_NGRAM_SIZES),
           *(f"duplicate_{n}gram_share" for n in DUPLICATE_NGRAM_SIZES), "zlib_ratio", "lz4_ratio",
           "url_char_ratio")


# Score columns the select step can bound: the heuristics, and the KenLM perplexity and quality
# classifier's probability when they are scored.
SELECTABLE = (*METRICS, "kenlm_ppl", "quality_prob")


def hiragana_ratio(text: str) -> float:
    """Hiragana among non-whitespace characters (the demo's and LLM-jp v2's rule)."""
    dense = _WHITESPACE.sub("", text)
    return len(_HIRAGANA.findall(dense)) / len(dense) if dense else 0.0


def duplicates(items: list[str]) -> tuple[float, float]:
    """(share of items repeating an earlier one, share of their characters in those repeats)."""
    counts = Counter(items)
    repeats = sum(f - 1 for f in counts.values())
    repeated_chars = sum(len(s) * (f - 1) for s, f in counts.items())
    total_chars = sum(map(len, items))
    return (repeats / len(items) if items else 0.0, repeated_chars / total_chars if total_chars else 0.0)


def duplicate_line_ratio(text: str) -> float:
    return duplicates([line.strip() for line in text.split("\n") if line.strip()])[0]


# n-grams are keyed by a 64-bit polynomial hash of their code points, built for every size in a few
# vector operations; two different n-grams share a key with probability about m²/2⁶⁵ for m n-grams (a
# document of 10,000 characters: ~3e-12), so the statistics are those of the exact n-grams.
_HASH_BASE = np.uint64(0x9E3779B97F4A7C15)


def ngram_keys(text: str, sizes: range) -> dict[int, np.ndarray]:
    """{n: the hash key of every character n-gram, in order} for each n in `sizes` (consecutive from 1 up)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32).astype(np.uint64)
    keys: dict[int, np.ndarray] = {}
    current = codes
    with np.errstate(over="ignore"):  # wrapping around 2⁶⁴ is the hash
        for n in range(1, sizes.stop):
            if n > 1:
                current = current[:-1] * _HASH_BASE + codes[n - 1:]
            if n in sizes:
                keys[n] = current
    return keys


def _top_share(keys: np.ndarray) -> float:
    counts = np.unique(keys, return_counts=True)[1]
    return float(counts.max() / len(keys)) if len(keys) else 0.0


def _duplicate_share(keys: np.ndarray) -> float:
    counts = np.unique(keys, return_counts=True)[1]
    return float((counts > 1).sum() / len(counts)) if len(counts) else 0.0


def top_ngram_share(text: str, n: int) -> float:
    """The most frequent character n-gram's share of all n-gram occurrences (Swallow)."""
    return _top_share(ngram_keys(text, range(n, n + 1))[n])


def duplicate_ngram_share(text: str, n: int) -> float:
    """Share of distinct character n-grams that occur more than once (Swallow)."""
    return _duplicate_share(ngram_keys(text, range(n, n + 1))[n])


def _ngram_stats(text: str) -> dict[str, float]:
    keys = ngram_keys(text, range(min(TOP_NGRAM_SIZES), max(DUPLICATE_NGRAM_SIZES) + 1))
    return {**{f"top_{n}gram_share": _top_share(keys[n]) for n in TOP_NGRAM_SIZES},
            **{f"duplicate_{n}gram_share": _duplicate_share(keys[n]) for n in DUPLICATE_NGRAM_SIZES}}


def compression_ratios(text: str) -> tuple[float, float]:
    """(zlib, LZ4) compressed size over UTF-8 size: low for repetitive text. LLM-jp v1 uses zlib;
    Uzushio (LLM-jp v2) uses LZ4's fast mode, which compresses natural Japanese far less (DESIGN.md)."""
    raw = text.encode("utf-8")
    if not raw:
        return 0.0, 0.0
    return len(zlib.compress(raw)) / len(raw), len(lz4.block.compress(raw, store_size=False)) / len(raw)


def heuristic_scores(text: str) -> dict:
    dense_len = len(_WHITESPACE.sub("", text))
    hiragana = len(_HIRAGANA.findall(text))
    katakana = len(_KATAKANA.findall(text))
    japanese = hiragana + katakana + len(_KANJI.findall(text)) + len(_JA_PUNCT.findall(text))
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    sentences = [s.strip() for line in lines for s in _SENTENCE.findall(line) if s.strip()]
    line_dup, line_dup_chars = duplicates(lines)
    sentence_dup, sentence_dup_chars = duplicates(sentences)
    zlib_ratio, lz4_ratio = compression_ratios(text)
    scores = {
        "n_chars": len(text),
        "n_japanese_chars": japanese,
        "hiragana_ratio": hiragana / dense_len if dense_len else 0.0,
        "hiragana_share": hiragana / japanese if japanese else 0.0,
        "katakana_share": katakana / japanese if japanese else 0.0,
        "japanese_ratio": japanese / len(text) if text else 0.0,
        "mean_sentence_chars": sum(map(len, sentences)) / len(sentences) if sentences else 0.0,
        "max_sentence_chars": max(map(len, sentences), default=0),
        "ellipsis_sentence_ratio": (sum(s.endswith(_ELLIPSIS_ENDINGS) for s in sentences) / len(sentences)
                                    if sentences else 0.0),
        "duplicate_line_ratio": line_dup,
        "duplicate_line_char_ratio": line_dup_chars,
        "duplicate_sentence_ratio": sentence_dup,
        "duplicate_sentence_char_ratio": sentence_dup_chars,
        **_ngram_stats(text),
        "zlib_ratio": zlib_ratio,
        "lz4_ratio": lz4_ratio,
        "url_char_ratio": sum(len(m) for m in _URL.findall(text)) / len(text) if text else 0.0,
    }
    assert tuple(scores) == METRICS
    return scores

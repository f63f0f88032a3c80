"""FineWeb-2's word-level rules for Japanese: the metrics of datatrove's Gopher repetition, FineWeb quality
and Gopher quality filters, over Sudachi words, scored once per document (`filter.score.word_metrics`).

FineWeb-2 (huggingface/fineweb-2: fineweb-2-pipeline.py and configs/jpn_Jpan.yml) filters Japanese with
those three datatrove filters, whose words come from spaCy's Japanese tokenizer over SudachiPy in split
mode A. Here the words are SudachiPy's mode-A surfaces with whitespace dropped (what spaCy's tokenizer
hands datatrove, whitespace tokens stripped away), and each metric follows datatrove's definition, so
that FineWeb-2's published thresholds mean what they meant there (hagane.filter.presets: `fineweb2_ja`):

- lines for duplicate lines: the text cut at runs of newlines (unstripped); for the FineWeb ratios: the
  non-blank lines; for bullets and ellipses: str.splitlines();
- top n-gram share: the most frequent word n-gram (words joined by a space) × its count, over the
  characters of the text; duplicate n-gram share: the characters of word n-grams (joined without space)
  that repeat an earlier one, scanning left to right and skipping past each repeat, over the characters
  of the text (n-grams compared as word sequences, by 64-bit keys: `_Ngrams`);
- symbol words (left out of the word count and the mean word length): words made only of punctuation,
  symbols or control characters (Unicode categories P*, S*, Cc);
- terminal punctuation (a line that ends with one counts for `fineweb_line_punct_ratio`): the Unicode
  property Sentence_Terminal (。．！？!? and their kin in other scripts);
- stop words: FineWeb-2's fifteen for Japanese (の に を は た て が と で 年 し ・ 月 れ さ), counted
  distinct.

Ratios over words are 0.0 for a text without words (the word-count bound drops it first).
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections import Counter
from collections.abc import Callable

import numpy as np

TOP_NGRAM_SIZES = (2, 3, 4)
DUPLICATE_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)
STOP_WORDS = frozenset("の に を は た て が と で 年 し ・ 月 れ さ".split())
SHORT_LINE_CHARS = 30  # FineWeb's short line (its rule is off in FineWeb-2; the ratio is kept for users)

# The columns word_scores returns, in order (the order selection checks them in: FineWeb-2's filters in
# its pipeline's order, Gopher repetition, FineWeb quality, Gopher quality).
WORD_METRICS = ("gopher_duplicate_line_ratio",
                *(f"gopher_top_{n}gram_share" for n in TOP_NGRAM_SIZES),
                *(f"gopher_duplicate_{n}gram_share" for n in DUPLICATE_NGRAM_SIZES),
                "fineweb_line_punct_ratio", "fineweb_short_line_ratio", "fineweb_duplicate_line_char_ratio",
                "fineweb_newline_word_ratio",
                "gopher_words", "gopher_mean_word_chars", "gopher_hash_word_ratio", "gopher_ellipsis_word_ratio",
                "gopher_bullet_line_ratio", "gopher_ellipsis_line_ratio", "gopher_alpha_word_ratio",
                "gopher_stop_words")

_NEWLINES = re.compile(r"\n+")


@functools.cache
def _is_terminal(char: str) -> bool:
    import regex  # the standard re knows no Unicode properties

    return regex.match(r"\p{Sentence_Terminal}", char) is not None


@functools.cache
def _is_symbol(char: str) -> bool:
    category = unicodedata.category(char)
    return category[0] in "PS" or category == "Cc"


@functools.lru_cache(maxsize=1 << 16)
def _word_class(word: str) -> tuple[bool, bool]:
    """(a symbol word: only punctuation, symbols or controls; has an alphabetic character)."""
    return all(map(_is_symbol, word)), word.isalpha() or any(map(str.isalpha, word))


def repeats(items: list[str]) -> tuple[int, int]:
    """(items that repeat an earlier one, their characters); the Swallow heuristics count lines and
    sentences with it too."""
    counts = Counter(items)
    return sum(f - 1 for f in counts.values()), sum(len(s) * (f - 1) for s, f in counts.items())


class _Ngrams:
    """Word n-grams of one text as 64-bit keys: each distinct word gets an id, each window of n ids a
    polynomial hash (mod 2^64) — two different n-grams share a key with probability about m²/2^65 for m
    windows. N-grams are compared as word sequences; datatrove compares the joined characters, which
    differs only where two different splits spell the same characters."""

    _BASE = np.uint64(0x9E3779B97F4A7C15)

    def __init__(self, words: list[str]):
        vocabulary: dict[str, int] = {}
        self.ids = np.fromiter((vocabulary.setdefault(w, len(vocabulary)) for w in words), dtype=np.uint64,
                               count=len(words))
        self.chars = np.concatenate(([0], np.cumsum([len(w) for w in words], dtype=np.int64)))
        self._keys: list[np.ndarray] = []  # [n - 1]: the keys of the n-grams

    def keys(self, n: int) -> np.ndarray:
        """One key per window of n words; each size extends the one below it (one pass per size)."""
        while len(self._keys) < n:
            size = len(self._keys) + 1
            shorter = self._keys[-1][:len(self.ids) - size + 1] if self._keys else np.zeros(len(self.ids), np.uint64)
            with np.errstate(over="ignore"):
                self._keys.append(shorter * self._BASE + self.ids[size - 1:])
        return self._keys[n - 1]

    def window_chars(self, n: int) -> np.ndarray:
        """Characters of each window's words (no separators)."""
        return self.chars[n:] - self.chars[:-n] if len(self.chars) > n else np.zeros(0, dtype=np.int64)

    def top_chars(self, n: int) -> int:
        """Characters of the most frequent n-gram joined by spaces, times its count (datatrove: the first
        met among equally frequent ones)."""
        keys = self.keys(n)
        if not len(keys):
            return 0
        _, first, counts = np.unique(keys, return_index=True, return_counts=True)
        top = counts.max()
        at = int(first[counts == top].min())
        return (int(self.window_chars(n)[at]) + n - 1) * int(top)

    def duplicate_chars(self, n: int) -> int:
        """Characters of n-grams that repeat an earlier one, left to right, skipping past each repeat."""
        keys = self.keys(n)
        _, first = np.unique(keys, return_index=True)
        if len(first) == len(keys):
            return 0  # no n-gram repeats: nothing to scan
        # Up to the first repeat every window is new; the scan (sequential: a repeat skips n windows)
        # starts there.
        new = np.zeros(len(keys), dtype=bool)
        new[first] = True
        start = int(np.argmin(new))
        seen = set(keys[:start].tolist())
        keys_list, lengths = keys.tolist(), self.window_chars(n).tolist()
        chars, i = 0, start
        while i < len(keys_list):
            if keys_list[i] in seen:
                chars += lengths[i]
                i += n
            else:
                seen.add(keys_list[i])
                i += 1
        return chars


def word_scores(text: str, words: list[str]) -> dict:
    """{metric: value} in WORD_METRICS order for a text and its words (whitespace already dropped)."""
    n_text = len(text)
    n_words = len(words)
    cut = _NEWLINES.split(text)
    nonblank = [line for line in text.split("\n") if line.strip()]
    lines = text.splitlines()
    classes = [_word_class(w) for w in words]
    content = [w for w, (symbol, _) in zip(words, classes) if not symbol]
    without_newlines = n_text - text.count("\n")
    grams = _Ngrams(words)
    scores = {"gopher_duplicate_line_ratio": repeats(cut)[0] / len(cut) if cut else 0.0}
    for n in TOP_NGRAM_SIZES:
        scores[f"gopher_top_{n}gram_share"] = grams.top_chars(n) / n_text if n_text else 0.0
    for n in DUPLICATE_NGRAM_SIZES:
        scores[f"gopher_duplicate_{n}gram_share"] = grams.duplicate_chars(n) / n_text if n_text else 0.0
    scores.update({
        "fineweb_line_punct_ratio": (sum(_is_terminal(line[-1]) for line in nonblank) / len(nonblank)
                                     if nonblank else 0.0),
        "fineweb_short_line_ratio": (sum(len(line) <= SHORT_LINE_CHARS for line in nonblank) / len(nonblank)
                                     if nonblank else 0.0),
        "fineweb_duplicate_line_char_ratio": repeats(nonblank)[1] / without_newlines if without_newlines else 0.0,
        "fineweb_newline_word_ratio": text.count("\n") / n_words if n_words else 0.0,
        "gopher_words": len(content),
        "gopher_mean_word_chars": sum(map(len, content)) / len(content) if content else 0.0,
        "gopher_hash_word_ratio": text.count("#") / n_words if n_words else 0.0,
        "gopher_ellipsis_word_ratio": (text.count("...") + text.count("…")) / n_words if n_words else 0.0,
        "gopher_bullet_line_ratio": (sum(line.lstrip().startswith(("•", "-")) for line in lines) / len(lines)
                                     if lines else 0.0),
        "gopher_ellipsis_line_ratio": (sum(line.rstrip().endswith(("...", "…")) for line in lines) / len(lines)
                                       if lines else 0.0),
        "gopher_alpha_word_ratio": sum(alpha for _, alpha in classes) / n_words if n_words else 0.0,
        "gopher_stop_words": len(STOP_WORDS.intersection(words)),
    })
    assert tuple(scores) == WORD_METRICS
    return scores


class WordScorer:
    """Sudachi's mode-A words of each text (loaded once per job), then word_scores."""

    def __init__(self) -> None:
        from hagane.sudachi import word_splitter

        self._split: Callable[[str], list[str]] = word_splitter("A")

    def words(self, text: str) -> list[str]:
        return [w for w in (word.strip() for word in self._split(text)) if w]

    def __call__(self, text: str) -> dict:
        return word_scores(text, self.words(text))

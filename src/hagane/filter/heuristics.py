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

import lz4.block
import numpy as np

from hagane.filter.words import WORD_METRICS, repeats

# Character classes, looked up once per character in a table over all of Unicode (one vector pass per
# document instead of a regular expression per class). Whitespace is what str.isspace and the regex \s
# call whitespace; all of it lies below U+3001.
_CLASSES = _OTHER, _SPACE, _HIRAGANA, _KATAKANA, _KANJI, _JA_PUNCT = range(6)
_CHAR_CLASS = np.zeros(0x110000, dtype=np.uint8)
_CHAR_CLASS[[c for c in range(0x3001) if chr(c).isspace()]] = _SPACE
_CHAR_CLASS[0x3041:0x3097] = _HIRAGANA
_CHAR_CLASS[0x30A1:0x30FB] = _KATAKANA
for _first, _last in ((0x3400, 0x9FFF), (0xF900, 0xFAFF), (0x20000, 0x3134F)):
    _CHAR_CLASS[_first:_last + 1] = _KANJI
_CHAR_CLASS[[ord(c) for c in "々〇〻"]] = _KANJI
_CHAR_CLASS[[ord(c) for c in "、。，．！？"]] = _JA_PUNCT
_SENTENCE = re.compile(r"[^。．！？!?\n]+[。．！？!?]?")  # never across a line break
_URL = re.compile(r"(?:https?|ftp)://[^\s<>\"'、。「」]+|www\.[^\s<>\"'、。「」]+")
# NFKC has turned … into "...": both spellings end a teaser sentence.
_ELLIPSIS_ENDINGS = ("・", "…", "...")

TOP_NGRAM_SIZES = (2, 3, 4)
DUPLICATE_NGRAM_SIZES = (5, 6, 7, 8, 9, 10)

# The columns heuristic_scores returns, in order (also the order selection rules are checked in).
_TOP_KEYS = tuple((f"top_{n}gram_share", n) for n in TOP_NGRAM_SIZES)
_DUPLICATE_KEYS = tuple((f"duplicate_{n}gram_share", n) for n in DUPLICATE_NGRAM_SIZES)
METRICS = ("n_chars", "n_japanese_chars", "hiragana_ratio", "hiragana_share", "katakana_share", "japanese_ratio",
           "mean_sentence_chars", "max_sentence_chars", "ellipsis_sentence_ratio", "duplicate_line_ratio",
           "duplicate_line_char_ratio", "duplicate_sentence_ratio", "duplicate_sentence_char_ratio",
           *(key for key, _ in _TOP_KEYS), *(key for key, _ in _DUPLICATE_KEYS), "zlib_ratio", "lz4_ratio",
           "url_char_ratio")


# Score columns the select step can bound: the heuristics, and the KenLM perplexity, the quality
# classifier's probability, the NG-word counts and FineWeb-2's word-level metrics when they are scored.
SELECTABLE = (*METRICS, "kenlm_ppl", "quality_prob", "ng_word_count", "ng_word_char_ratio", *WORD_METRICS)


def hiragana_ratio(text: str) -> float:
    """Hiragana among non-whitespace characters (the demo's and LLM-jp v2's rule)."""
    codes = np.frombuffer(text.encode("utf-32-le"), dtype=np.uint32)
    classes = np.bincount(_CHAR_CLASS[codes], minlength=len(_CLASSES)).tolist()
    dense = len(text) - classes[_SPACE]
    return classes[_HIRAGANA] / dense if dense else 0.0


def duplicates(items: list[str]) -> tuple[float, float]:
    """(share of items repeating an earlier one, share of their characters in those repeats)."""
    repeated, repeated_chars = repeats(items)
    total_chars = sum(map(len, items))
    return (repeated / len(items) if items else 0.0, repeated_chars / total_chars if total_chars else 0.0)


def duplicate_line_ratio(text: str) -> float:
    return duplicates([line.strip() for line in text.split("\n") if line.strip()])[0]


# Documents are measured in batches, so that the vector operations below run once per batch rather than
# once per document (their fixed cost per call dominates at a few hundred characters).
#
# n-grams are counted size by size, each size with one sort of the whole batch's n-grams. An n-gram's key
# is its document's place in the batch (top 6 bits) and a polynomial hash of its code points (low 58 bits,
# where the last character's code enters unmultiplied), so a sort groups the keys by document, then by
# n-gram. Only n-grams whose first n-1 characters occur more than once in their document can occur more
# than once themselves, so each size sorts only those (a third of the positions for 3-grams in Japanese
# prose, a tenth for 10-grams); every other position is an n-gram of its own. A document's statistics do
# not depend on its batch. Two different n-grams of a document share a hash with probability about
# m²/2⁵⁹ for m n-grams of one size (10,000 characters: ~2e-10), and a shared hash moves a share by one
# n-gram's worth at most.
BATCH_DOCUMENTS = 64
_HASH_BASE = np.uint64(0x9E3779B97F4A7C15)
_DOC_SHIFT = np.uint64(58)
_HASH_MASK = np.uint64((1 << 58) - 1)
LARGEST_NGRAM = max(DUPLICATE_NGRAM_SIZES)


class _Batch:
    """Character classes and n-gram counts of up to BATCH_DOCUMENTS texts, a few vector passes each.

    classes[i, c]: characters of class c (_OTHER, _SPACE, _HIRAGANA, …) in document i; for each n-gram
    size n: distinct[i, n] distinct n-grams, repeated[i, n] distinct n-grams occurring more than once,
    top[i, n] occurrences of the most frequent one.
    """

    def __init__(self, texts: list[str], largest: int = LARGEST_NGRAM):
        """Counts n-grams of every size from 2 to `largest` (each size's candidates come from the one before)."""
        assert len(texts) <= BATCH_DOCUMENTS and largest >= 2
        n_docs = len(texts)
        lengths = np.fromiter(map(len, texts), dtype=np.int64, count=n_docs)
        codes = np.frombuffer("".join(texts).encode("utf-32-le"), dtype=np.uint32)
        document = np.repeat(np.arange(n_docs), lengths)
        self.classes = np.bincount(document * len(_CLASSES) + _CHAR_CLASS[codes],
                                   minlength=n_docs * len(_CLASSES)).reshape(n_docs, len(_CLASSES))
        self.lengths = lengths
        self.distinct, self.repeated, self.top = (np.zeros((n_docs, largest + 1), dtype=np.int64) for _ in range(3))
        wide = codes.astype(np.uint64)
        doc_end = np.cumsum(lengths)[document]  # for each position, where its document ends
        tags = document.astype(np.uint64) << _DOC_SHIFT
        # The candidates: positions whose n-gram may repeat (at first every 2-gram inside its document),
        # with the hash of that n-gram.
        position = np.flatnonzero(np.arange(len(codes)) + 2 <= doc_end)
        with np.errstate(over="ignore"):  # wrapping around 2⁶⁴ is the hash
            hashes = wide[position] * _HASH_BASE + wide[position + 1]
        for n in range(2, largest + 1):
            inside = np.maximum(lengths - n + 1, 0)  # n-grams per document
            alone = inside - np.bincount(document[position], minlength=n_docs)  # n-grams sure to be unique
            keys = (hashes & _HASH_MASK) | tags[position]
            order = np.argsort(keys)
            ordered = keys[order]
            first = np.empty(len(ordered), dtype=bool)
            first[:1] = True
            np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
            runs = np.flatnonzero(first)
            occurrences = np.diff(np.append(runs, len(ordered)))
            run_doc = (ordered[runs] >> _DOC_SHIFT).astype(np.int64)  # ascending
            many = occurrences > 1
            self.distinct[:, n] = alone + np.bincount(run_doc, minlength=n_docs)
            self.repeated[:, n] = np.bincount(run_doc[many], minlength=n_docs)
            self.top[:, n] = inside > 0  # a document with any n-gram has one occurring at least once
            if len(runs):
                firsts = np.flatnonzero(np.concatenate(([True], run_doc[1:] != run_doc[:-1])))
                np.maximum.at(self.top[:, n], run_doc[firsts], np.maximum.reduceat(occurrences, firsts))
            if n == largest:
                break
            # The next size's candidates: repeated n-grams with room for one more character.
            repeats = np.empty(len(ordered), dtype=bool)
            repeats[order] = np.repeat(many, occurrences)
            keep = repeats & (position + n + 1 <= doc_end[position])
            position = position[keep]
            with np.errstate(over="ignore"):
                hashes = hashes[keep] * _HASH_BASE + wide[position + n]

    def top_share(self, i: int, n: int) -> float:
        """The most frequent n-gram's share of all n-gram occurrences of document i."""
        total = int(self.lengths[i]) - n + 1
        return int(self.top[i, n]) / total if total > 0 else 0.0

    def duplicate_share(self, i: int, n: int) -> float:
        """The share of document i's distinct n-grams that occur more than once."""
        distinct = int(self.distinct[i, n])
        return int(self.repeated[i, n]) / distinct if distinct else 0.0


def top_ngram_share(text: str, n: int) -> float:
    """The most frequent character n-gram's share of all n-gram occurrences (Swallow)."""
    return _Batch([text], largest=n).top_share(0, n)


def duplicate_ngram_share(text: str, n: int) -> float:
    """Share of distinct character n-grams that occur more than once (Swallow)."""
    return _Batch([text], largest=n).duplicate_share(0, n)


def compression_ratios(text: str) -> tuple[float, float]:
    """(zlib, LZ4) compressed size over UTF-8 size: low for repetitive text. LLM-jp v1 uses zlib;
    Uzushio (LLM-jp v2) uses LZ4's fast mode, which compresses natural Japanese far less (DESIGN.md)."""
    raw = text.encode("utf-8")
    if not raw:
        return 0.0, 0.0
    return len(zlib.compress(raw)) / len(raw), len(lz4.block.compress(raw, store_size=False)) / len(raw)


def heuristic_scores(text: str) -> dict:
    return heuristic_scores_batch([text])[0]


def heuristic_scores_batch(texts: list[str]) -> list[dict]:
    """{metric: value} for each text, in METRICS order; any number of texts (measured BATCH_DOCUMENTS
    at a time)."""
    scores = []
    for first in range(0, len(texts), BATCH_DOCUMENTS):
        chunk = texts[first:first + BATCH_DOCUMENTS]
        batch = _Batch(chunk)
        scores += [_document_scores(text, batch, i) for i, text in enumerate(chunk)]
    return scores


def _document_scores(text: str, batch: _Batch, i: int) -> dict:
    classes = batch.classes[i].tolist()
    dense_len = len(text) - classes[_SPACE]
    hiragana, katakana = classes[_HIRAGANA], classes[_KATAKANA]
    japanese = hiragana + katakana + classes[_KANJI] + classes[_JA_PUNCT]
    lines = [line for line in map(str.strip, text.split("\n")) if line]
    sentences = [sentence for sentence in map(str.strip, _SENTENCE.findall(text)) if sentence]
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
        **{key: batch.top_share(i, n) for key, n in _TOP_KEYS},
        **{key: batch.duplicate_share(i, n) for key, n in _DUPLICATE_KEYS},
        "zlib_ratio": zlib_ratio,
        "lz4_ratio": lz4_ratio,
        "url_char_ratio": sum(len(m) for m in _URL.findall(text)) / len(text) if text else 0.0,
    }
    assert tuple(scores) == METRICS
    return scores

"""NG-word counts from configurable word lists (filter.score.ng_words): how often a document uses words
a corpus wants to avoid (adult, discriminatory or violent terms, spam phrases), as HojiChar's and LLM-jp's
NG-word filters count them. Hagane ships no such list (config/ng_words/spam_ja.txt is a small example);
point the config at your own.

Words are NFKC-normalised like the documents (collect normalises them), matched case-sensitively, without
overlaps, the longest word first where several start at one place.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from hagane.errors import HaganeError

COLUMNS = ("ng_word_count", "ng_word_char_ratio")


def read_word_list(path: Path) -> list[str]:
    """The words of one list: one per line, blank lines and lines starting with # skipped."""
    try:
        raw = path.read_bytes()
    except OSError as err:
        raise HaganeError(f"filter.score.ng_words: cannot read {path}: {err.strerror}") from None
    words = []
    for line_no, line in enumerate(raw.split(b"\n"), start=1):
        try:
            word = unicodedata.normalize("NFKC", line.decode("utf-8")).strip()
        except UnicodeDecodeError:
            raise HaganeError(f"{path}:{line_no}: not UTF-8") from None
        if word and not word.startswith("#"):
            words.append(word)
    if not words:
        raise HaganeError(f"{path}: no words (filter.score.ng_words names it)")
    return words


class NgWordCounter:
    def __init__(self, paths: list[Path]):
        words = sorted({w for path in paths for w in read_word_list(path)}, key=lambda w: (-len(w), w))
        self.n_words = len(words)
        self._pattern = re.compile("|".join(map(re.escape, words)))

    def __call__(self, text: str) -> tuple[int, float]:
        """(occurrences of listed words, their characters over the document's characters)."""
        found = self._pattern.findall(text)
        return len(found), (sum(map(len, found)) / len(text) if text else 0.0)

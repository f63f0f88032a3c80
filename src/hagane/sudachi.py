"""Sudachi words (SudachiPy with sudachidict_core): KenLM's units in the filter stage, and the word
boundaries a tokenizer's pieces must not cross (`tokenizer.pretokenize: sudachi`)."""

from __future__ import annotations

from collections.abc import Callable

# Sudachi refuses inputs over about 49,000 bytes: longer texts are analysed in pieces of this many
# characters (at most 4 bytes each).
SUDACHI_CHUNK_CHARS = 10000


def word_splitter(mode: str) -> Callable[[str], list[str]]:
    """text → the surface forms of its words (whitespace runs are words too), in split mode A, B or C."""
    from sudachipy import Dictionary

    # Only the surface forms are read, but the part of speech must be loaded too: without it Sudachi's
    # numeral joining (its default JoinNumeric plugin) cannot see numerals, and "31" comes out as "3", "1".
    tokenizer = Dictionary(dict="core").tokenizer(mode=mode, fields={"pos"})

    def split(text: str) -> list[str]:
        words = []
        for start in range(0, len(text), SUDACHI_CHUNK_CHARS):
            words += [m.surface() for m in tokenizer.tokenize(text[start:start + SUDACHI_CHUNK_CHARS])]
        return words

    return split


def versions() -> dict[str, str]:
    """A different dictionary splits differently: the versions belong with whatever was built on them."""
    from importlib.metadata import version

    return {"sudachipy": version("sudachipy"), "sudachidict_core": version("sudachidict_core")}

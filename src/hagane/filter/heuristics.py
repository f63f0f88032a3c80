"""Japanese heuristic metrics, computed once per document at scoring time."""

from __future__ import annotations


def is_hiragana(ch: str) -> bool:
    return "\u3041" <= ch <= "\u309f"


def hiragana_ratio(text: str) -> float:
    """Share of hiragana among non-whitespace characters (Swallow: ≥ 0.2 for natural Japanese prose)."""
    chars = [c for c in text if not c.isspace()]
    return sum(map(is_hiragana, chars)) / len(chars) if chars else 0.0


def duplicate_line_ratio(text: str) -> float:
    """Share of non-empty lines that repeat an earlier line of the same document (menus, boilerplate)."""
    seen: set[str] = set()
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    dup = 0
    for line in lines:
        if line in seen:
            dup += 1
        seen.add(line)
    return dup / len(lines) if lines else 0.0


def heuristic_scores(text: str) -> dict:
    return {"n_chars": len(text), "hiragana_ratio": hiragana_ratio(text),
            "duplicate_line_ratio": duplicate_line_ratio(text)}

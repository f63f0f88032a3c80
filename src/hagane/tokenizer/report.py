"""What a vocabulary is like, so that two can be compared side by side: how many characters and bytes one
token carries on held-out text (per source and overall), how often it falls back to bytes, which scripts
its pieces are made of, and its longest pieces. Written to `report.json` by the tokenizer stage and drawn
for the Snakemake report (`hagane report tokenizer`).
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable

import sentencepiece as spm

from hagane.tokenizer.train import user_defined_ids

SPACE = "▁"  # SentencePiece's mark for a word-initial space
SCRIPTS = ("hiragana", "katakana", "kanji", "latin", "digits", "symbols", "mixed")
LONGEST = 20


def char_script(ch: str) -> str:
    """The script class of one character. The long-vowel mark ー and the iteration marks belong to kana
    and kanji text, so they count with them."""
    code = ord(ch)
    if 0x3041 <= code <= 0x309F:
        return "hiragana"
    if 0x30A0 <= code <= 0x30FF or 0x31F0 <= code <= 0x31FF or 0xFF66 <= code <= 0xFF9F:
        return "katakana"
    if 0x4E00 <= code <= 0x9FFF or 0x3400 <= code <= 0x4DBF or 0xF900 <= code <= 0xFAFF or code in (0x3005, 0x3006):
        return "kanji"
    if ch.isdigit():
        return "digits"
    if ch.isalpha() and (code < 0x3000 or 0xFF21 <= code <= 0xFF5A):  # Latin and other alphabets, full width too
        return "latin"
    return "symbols"


def piece_script(piece: str) -> str:
    """A piece's script: that of all its characters (the space mark aside), else `mixed`; a bare space
    mark is a symbol."""
    scripts = {char_script(ch) for ch in piece.replace(SPACE, "")} or {"symbols"}
    return scripts.pop() if len(scripts) == 1 else "mixed"


def vocabulary(sp: spm.SentencePieceProcessor) -> dict:
    """Counts of the special pieces, and the script shares of the normal ones."""
    user_defined = user_defined_ids(sp)
    kinds, scripts, normal = Counter(), Counter(), []
    for i in range(sp.get_piece_size()):
        if i in user_defined:
            kinds["user_defined"] += 1
        elif sp.is_control(i):
            kinds["control"] += 1
        elif sp.is_unknown(i):
            kinds["unknown"] += 1
        elif sp.is_byte(i):
            kinds["byte"] += 1
        elif sp.is_unused(i):
            kinds["unused"] += 1
        else:
            piece = sp.id_to_piece(i)
            normal.append(piece)
            scripts[piece_script(piece)] += 1
    kinds["normal"] = len(normal)
    longest = sorted(normal, key=lambda p: (-len(p.replace(SPACE, "")), p))[:LONGEST]
    return {"size": sp.get_piece_size(), "pieces": dict(kinds),
            "script_share": {s: round(scripts[s] / max(1, len(normal)), 4) for s in SCRIPTS},
            "longest_pieces": longest}


def coverage(sp: spm.SentencePieceProcessor, documents: Iterable[tuple[str, str]]) -> dict:
    """Characters, bytes and tokens per source over (source, text) pairs, and the byte-fallback and
    unknown rates (tokens that are raw bytes or <unk>). Newlines are counted apart: a vocabulary trained on
    lines has no piece for them, so each is the byte <0x0A> (most of the demo's byte tokens)."""
    totals: dict[str, Counter] = defaultdict(Counter)
    newline = sp.piece_to_id("<0x0A>")
    for source, text in documents:
        ids = sp.encode(text)
        for key in (source, "all"):
            t = totals[key]
            t["documents"] += 1
            t["characters"] += len(text)
            t["bytes"] += len(text.encode("utf-8"))
            t["tokens"] += len(ids)
            t["byte_tokens"] += sum(sp.is_byte(i) for i in ids)
            t["newline_byte_tokens"] += ids.count(newline) if sp.is_byte(newline) else 0
            t["unknown_tokens"] += sum(sp.is_unknown(i) for i in ids)
    out = {}
    for key, t in sorted(totals.items(), key=lambda kv: (kv[0] == "all", kv[0])):
        tokens = max(1, t["tokens"])
        out[key] = {**t, "characters_per_token": round(t["characters"] / tokens, 4),
                    "bytes_per_token": round(t["bytes"] / tokens, 4),
                    "byte_fallback_rate": round(t["byte_tokens"] / tokens, 6),
                    "byte_fallback_rate_without_newlines": round((t["byte_tokens"] - t["newline_byte_tokens"]) / tokens, 6),
                    "unknown_rate": round(t["unknown_tokens"] / tokens, 6)}
    return out


def tokenizer_report(model_file, held_out: Iterable[tuple[str, str]]) -> dict:
    sp = spm.SentencePieceProcessor(model_file=str(model_file))
    return {"held_out": coverage(sp, held_out), "vocabulary": vocabulary(sp)}

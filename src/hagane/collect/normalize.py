"""Text normalisation for document records: Unicode NFKC that keeps Japanese voiced marks.

NFKC composes a base kana and its dakuten/handakuten (か + ゛ → が, ｶﾞ → ガ) and never removes them.
cc_net's and datatrove's default normalisers go through NFD and then drop combining marks (category Mn),
which turns ガイドブック into カイトフック. Nothing here removes a combining mark.
"""

from __future__ import annotations

import re
import unicodedata

# C0/C1 control characters other than tab and newline carry no text and break line-based tools.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BLANK_RUNS = re.compile(r"\n{3,}")


def normalize_text(text: str) -> str:
    text = unicodedata.normalize("NFKC", text)
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip("\n")

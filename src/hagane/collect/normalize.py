"""Text normalisation for document records: a Unicode normalisation form chosen per source (NFKC by
default), then line endings, control characters and blank runs tidied.

NFKC composes a base kana and its dakuten/handakuten (か + U+3099 → が, ｶﾞ → ガ) and never removes them;
it also folds compatibility characters (full-width ＡＢＣ and ３ → ABC and 3, ① → 1, … → ...,
half-width ｶﾀｶﾅ → カタカナ), which is what n-gram rules, language ID and dedup want. NFC only composes
(か + ゛ → が) and keeps every character as written: for a corpus where full-width forms or ① carry
meaning. `none` leaves the characters as decoded. cc_net's and datatrove's default normalisers go through
NFD and then drop combining marks (category Mn), which turns ガイドブック into カイトフック: nothing here
removes a combining mark, whatever the form.
"""

from __future__ import annotations

import re
import unicodedata

from hagane.errors import HaganeError

FORMS = ("NFKC", "NFC", "none")
# NFKC by default: the quality rules and the dedup of every published Japanese corpus recipe assume it.
DEFAULT_FORM = "NFKC"

# C0/C1 control characters other than tab and newline carry no text and break line-based tools.
_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_BLANK_RUNS = re.compile(r"\n{3,}")
# A spacing voiced mark typed after a kana (か゛, U+309B) is meant as が, but NFKC turns the spacing mark
# into a space and a combining mark ("か ゙"), which compose with nothing. Made combining first, it composes.
_SPACING_MARK_AFTER_KANA = re.compile("(?<=[\u3041-\u3096\u309d\u30a1-\u30fa\u30fd\uff66-\uff9d])[\u309b\u309c]")
_COMBINING = {"\u309b": "\u3099", "\u309c": "\u309a"}


def normalize_text(text: str, form: str = DEFAULT_FORM) -> str:
    """`text` in Unicode form `form` (NFKC, NFC or none), with \\n line endings, no control characters,
    no trailing spaces, at most one blank line in a row, and no blank lines at either end."""
    if form in ("NFKC", "NFC"):
        text = _SPACING_MARK_AFTER_KANA.sub(lambda m: _COMBINING[m.group()], text)
        text = unicodedata.normalize(form, text)
    elif form != "none":
        raise HaganeError(f"unknown normalization {form!r} (one of: {', '.join(FORMS)})")
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    return _BLANK_RUNS.sub("\n\n", text).strip("\n")

import unicodedata

import pytest

from hagane.collect.normalize import normalize_text

PHRASE = "ガイドブックをダウンロード"


@pytest.mark.parametrize("variant", [
    PHRASE,
    unicodedata.normalize("NFD", PHRASE),  # base kana + combining dakuten (U+3099)
    "ｶﾞｲﾄﾞﾌﾞｯｸをﾀﾞｳﾝﾛｰﾄﾞ",  # half-width katakana with separate voiced marks
])
def test_voiced_marks_survive(variant):
    assert normalize_text(variant) == PHRASE


def test_handakuten_and_fullwidth_ascii():
    assert normalize_text("ﾊﾟｿｺﾝでＰｙｔｈｏｎ３を使う") == "パソコンでPython3を使う"


def test_controls_whitespace_and_blank_runs():
    raw = "\r\n一行目\x00です。  \r\n\r\n\r\n\r\n二行目\x1bです。\t\n\n"
    assert normalize_text(raw) == "一行目です。\n\n二行目です。"

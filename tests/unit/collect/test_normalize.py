import unicodedata

import pytest

from hagane.collect import DOCUMENTS, collect_file
from hagane.collect.normalize import normalize_text
from hagane.config import source_config
from hagane.errors import HaganeError
from hagane.io import read_jsonl_zst

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


@pytest.mark.parametrize(("form", "expected"), [
    ("NFKC", "パソコンでPython3を使う1は1...ガ"),
    ("NFC", "ﾊﾟｿｺﾝでＰｙｔｈｏｎ３を使う①は①…ガ"),
    ("none", "ﾊﾟｿｺﾝでＰｙｔｈｏｎ３を使う①は①…カ\u3099"),
])
def test_normalisation_form_is_a_choice(form, expected):
    assert normalize_text("ﾊﾟｿｺﾝでＰｙｔｈｏｎ３を使う①は①…カ\u3099", form) == expected


@pytest.mark.parametrize("form", ["NFKC", "NFC"])
def test_a_spacing_voiced_mark_after_kana_composes(form):
    # NFKC alone would turn か゛ (U+309B) into "か ゙": a space and a mark that composes with nothing.
    assert normalize_text("ガイト\u309bフ\u309bック", form) == "ガイドブック"
    assert normalize_text("ﾊ\u309cｿｺﾝ", "NFKC") == "パソコン"


def test_unknown_form_fails_naming_the_choices():
    with pytest.raises(HaganeError, match=r"unknown normalization 'NFD' \(one of: NFKC, NFC, none\)"):
        normalize_text("が", "NFD")


def test_collect_applies_the_source_normalization(tmp_path):
    f = tmp_path / "c.txt"
    f.write_text("ＡＢＣの①番。\n", encoding="utf-8")
    for form, expected in [("NFKC", "ABCの1番。"), ("NFC", "ＡＢＣの①番。")]:
        source = source_config({"name": "s", "type": "text", "paths": ["x"], "normalization": form})
        collect_file(source, f, tmp_path, tmp_path / form)
        (doc,) = read_jsonl_zst(tmp_path / form / DOCUMENTS)
        assert doc["text"] == expected

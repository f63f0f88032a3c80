"""hagane.pii: each kind's positives and hard negatives, the check digits, full-width input, redaction and
its counts, and precision and recall per kind on the committed labelled set (tests/fixtures/pii/)."""

from __future__ import annotations

import importlib.util
import json
from collections import Counter
from pathlib import Path

import pytest

from hagane.errors import HaganeError
from hagane.pii import (KINDS, PLACEHOLDERS, Redactor, Span, card_brand, find, is_valid_my_number, luhn_ok,
                        my_number_check_digit, redact)

LABELLED = Path(__file__).resolve().parents[2] / "fixtures/pii/labelled.jsonl"


def found(text: str, kind: str) -> list[str]:
    return [text[s.start:s.end] for s in find(text, [kind])]


# ------------------------------------------------------------------------------------------ check digits
def test_my_number_check_digit_of_the_published_example():
    # 123456789018 is the example the ordinance's formula is usually shown with: remainder 3, 11 − 3 = 8.
    assert my_number_check_digit("12345678901") == 8
    assert is_valid_my_number("123456789018")
    assert not is_valid_my_number("123456789012")


def test_my_number_check_digit_is_zero_for_remainders_zero_and_one():
    # Σ = 0 → remainder 0 → 0; and a stem whose remainder is 1 must give 0, not 10.
    assert my_number_check_digit("00000000000") == 0
    stem = next(f"{n:011d}" for n in range(1, 10_000)
                if sum(int(d) * (i + 1 if i <= 6 else i - 5)
                       for i, d in enumerate(reversed(f"{n:011d}"), start=1)) % 11 == 1)
    assert my_number_check_digit(stem) == 0


def test_my_number_check_digit_rejects_wrong_input():
    with pytest.raises(ValueError):
        my_number_check_digit("1234")


def test_luhn():
    assert luhn_ok("4111111111111111")
    assert luhn_ok("378282246310005")
    assert not luhn_ok("4111111111111112")
    assert not luhn_ok("1234567812345678")


def test_card_brand_needs_prefix_and_length():
    assert card_brand("4111111111111111") == "visa"
    assert card_brand("4222222222222") is None  # 13-digit Visa: not issued any more, collides with JAN
    assert card_brand("2223003122003222") == "mastercard"
    assert card_brand("378282246310005") == "amex"
    assert card_brand("3530111333300000") == "jcb"
    assert card_brand("36227206271667") == "diners"
    assert card_brand("6011111111111117") == "discover"
    assert card_brand("9784061234567") is None
    assert card_brand("3782822463100051") is None  # Amex prefix, wrong length


# ------------------------------------------------------------------------------------------ e-mail
@pytest.mark.parametrize("text, expected", [
    ("お問い合わせは info@example.co.jp まで", ["info@example.co.jp"]),
    ("連絡先<yamada.taro@mail.example.ne.jp>", ["yamada.taro@mail.example.ne.jp"]),
    ("メール：sato＠example.jp", ["sato＠example.jp"]),
    ("ｉｎｆｏ＠ｅｘａｍｐｌｅ．ｊｐへ", ["ｉｎｆｏ＠ｅｘａｍｐｌｅ．ｊｐ"]),
    ("sales(at)example.jp まで", ["sales(at)example.jp"]),
    ("末尾の句点 k.tanaka+news@example.com.", ["k.tanaka+news@example.com"]),
    ("icon@2x.png", []),
    ("npm install lodash@4.17.21", []),
    ("user@localhost と @username", []),
])
def test_email(text, expected):
    assert found(text, "email") == expected


# ------------------------------------------------------------------------------------------ phone
@pytest.mark.parametrize("text, expected", [
    ("お問い合わせは03-1234-5678まで", ["03-1234-5678"]),
    ("045-123-4567", ["045-123-4567"]),
    ("0466-12-3456", ["0466-12-3456"]),
    ("01267-1-2345", ["01267-1-2345"]),
    ("03(1234)5678", ["03(1234)5678"]),
    ("(03)1234-5678", ["(03)1234-5678"]),
    ("携帯 090-1234-5678", ["090-1234-5678"]),
    ("050-1234-5678", ["050-1234-5678"]),
    ("060-1234-5678", ["060-1234-5678"]),
    ("フリーダイヤル 0120-123-456", ["0120-123-456"]),
    ("0800-123-4567", ["0800-123-4567"]),
    ("ナビダイヤル 0570-064-123", ["0570-064-123"]),
    ("+81-3-1234-5678", ["+81-3-1234-5678"]),
    ("+81 90 1234 5678", ["+81 90 1234 5678"]),
    ("+81(0)3-1234-5678", ["+81(0)3-1234-5678"]),
    ("TEL03-1234-5678", ["03-1234-5678"]),
    ("09012345678 に折り返し", ["09012345678"]),
    ("電話 0312345678", ["0312345678"]),
    ("03 1234 5678", ["03 1234 5678"]),
])
def test_phone_formats(text, expected):
    assert found(text, "phone") == expected


@pytest.mark.parametrize("dash", ["-", "‐", "‑", "‒", "–", "—", "―", "−", "ー", "－", "ｰ"])
def test_phone_every_dash(dash):
    number = f"03{dash}1234{dash}5678"
    assert found(f"TEL {number} まで", "phone") == [number]


def test_phone_full_width_digits():
    assert found("０３－１２３４－５６７８へ", "phone") == ["０３－１２３４－５６７８"]
    assert found("＋８１－９０－１２３４－５６７８", "phone") == ["＋８１－９０－１２３４－５６７８"]


@pytest.mark.parametrize("text", [
    "0312345678",                   # 10 bare digits without a phone word: could be any code
    "2024-12-06", "12:34:56",
    "ISBN978-4-06-293842-1",
    "品番 ABC-0120-5567", "シリアル 0123-45-6789", "管理番号 09012345678",
    "0123-456-789",                 # area + exchange ≠ 6 digits
    "090-1234-567", "03-1234-56789",
    "00-1234-5678", "010-1234-5678",
    "03-1234-5678-9",               # a longer hyphenated run
    "データーベース", "サーバー1-2",
])
def test_phone_negatives(text):
    assert found(text, "phone") == []


# ------------------------------------------------------------------------------------------ postal code
@pytest.mark.parametrize("text, expected", [
    ("〒100-0001 東京都千代田区千代田1-1", ["〒100-0001"]),
    ("〒 530-0001", ["〒 530-0001"]),
    ("〒１００－０００１", ["〒１００－０００１"]),
    ("〒1000001", ["〒1000001"]),
    ("郵便番号：100-0001", ["100-0001"]),
    ("郵便番号 1000001", ["1000001"]),
    ("100-0001 東京都千代田区", ["100-0001"]),
    ("ZIP: 060-0001", ["060-0001"]),
])
def test_postal_code(text, expected):
    assert found(text, "postal_code") == expected


@pytest.mark.parametrize("text", ["123-4567", "部品番号 123-4567", "03-1234-5678", "1000001", "〒マーク"])
def test_postal_code_negatives(text):
    assert found(text, "postal_code") == []


# ------------------------------------------------------------------------------------------ My Number
@pytest.mark.parametrize("text, expected", [
    ("マイナンバー 123456789018", ["123456789018"]),
    ("個人番号 1234 5678 9018 を記入", ["1234 5678 9018"]),
    ("1234-5678-9018", ["1234-5678-9018"]),
    ("１２３４５６７８９０１８", ["１２３４５６７８９０１８"]),
])
def test_my_number(text, expected):
    assert found(text, "my_number") == expected


@pytest.mark.parametrize("text", [
    "123456789012",                  # wrong check digit
    "1123456789018", "1234567890189",  # part of a longer run
    "1234 5678 9018 1111",           # 4-4-4-4: a card's shape
    "1234-56789018",                 # mixed separators
    "注文番号 123456789018",           # an order number that passes by chance
    "0000-0000-0000",                # a blank form
    "ID123456789018",
])
def test_my_number_negatives(text):
    assert found(text, "my_number") == []


def test_my_number_skips_twelve_digit_timestamps():
    stamp = next(f"20241206{h:02d}{m:02d}" for h in range(24) for m in range(60)
                 if is_valid_my_number(f"20241206{h:02d}{m:02d}"))
    assert found(f"更新 {stamp}", "my_number") == []


# ------------------------------------------------------------------------------------------ card
@pytest.mark.parametrize("text, expected", [
    ("カード番号 4111 1111 1111 1111", ["4111 1111 1111 1111"]),
    ("4111-1111-1111-1111", ["4111-1111-1111-1111"]),
    ("4111111111111111", ["4111111111111111"]),
    ("Amex 3782 822463 10005", ["3782 822463 10005"]),
    ("Diners 3622 720627 1667", ["3622 720627 1667"]),
    ("JCB ３５３０－１１１３－３３３０－００００", ["３５３０－１１１３－３３３０－００００"]),
    ("4917 6100 0000 0000 003", ["4917 6100 0000 0000 003"]),
    ("4242 4242 4242 4242 2028", ["4242 4242 4242 4242"]),  # the expiry year after it stays
])
def test_card(text, expected):
    assert found(text, "card") == expected


@pytest.mark.parametrize("text", [
    "4111 1111 1111 1112",           # fails Luhn
    "1234567812345670",              # Luhn passes, no card prefix
    "JANコード 4901234567894",
    "4987176021113",                 # a 13-digit JAN that passes Luhn
    "9784061234567",
    "41111111111111111111",          # 20 digits
])
def test_card_negatives(text):
    assert found(text, "card") == []


# ------------------------------------------------------------------------------------------ IP
@pytest.mark.parametrize("text, expected", [
    ("IP アドレス 192.168.1.10 を設定", ["192.168.1.10"]),
    ("203.0.113.9 - - [06/Dec/2024:12:34:56 +0900]", ["203.0.113.9"]),
    ("192.168.0.0/24", ["192.168.0.0"]),
    ("１９２．１６８．０．１", ["１９２．１６８．０．１"]),
    ("1.2.3.4", ["1.2.3.4"]),
])
def test_ipv4(text, expected):
    assert found(text, "ipv4") == expected


@pytest.mark.parametrize("text", [
    "version 1.2.3.4", "v1.2.3.4", "1.2.3.4.5", "Windows 10.0.19045.1234", "256.1.1.1", "1.2.3.4-beta",
    "第 9.2.1.4 節", "12.2.3.4. virsh を使ったマシンの管理", "255.255.255.0", "OID .1.3.6.1",
])
def test_ipv4_negatives(text):
    assert found(text, "ipv4") == []


@pytest.mark.parametrize("text, expected", [
    ("2001:db8::1 に接続", ["2001:db8::1"]),
    ("fe80::1ff:fe23:4567:890a%eth0", ["fe80::1ff:fe23:4567:890a"]),
    ("http://[2001:db8::2]:8080/", ["2001:db8::2"]),
    ("::ffff:192.0.2.128", ["::ffff:192.0.2.128"]),
    ("2001:0db8:0000:0000:0000:ff00:0042:8329", ["2001:0db8:0000:0000:0000:ff00:0042:8329"]),
])
def test_ipv6(text, expected):
    assert found(text, "ipv6") == expected


@pytest.mark.parametrize("text", [
    "12:34:56", "00:1A:2B:3C:4D:5E", "std::vector", "a[1::2]", "::1", "dead:beef", "ab:cd:ef", "1:2:3:4",
])
def test_ipv6_negatives(text):
    assert found(text, "ipv6") == []


# ------------------------------------------------------------------------------------------ redaction
def test_redact_replaces_each_kind_and_counts():
    text = ("〒100-0001 東京都千代田区 TEL 03-1234-5678 携帯 090-1234-5678 mail info@example.jp "
            "個人番号 1234 5678 9018 カード 4111-1111-1111-1111 IP 203.0.113.9 / 2001:db8::1")
    new, counts = redact(text)
    assert new == ("<POSTAL_CODE> 東京都千代田区 TEL <PHONE> 携帯 <PHONE> mail <EMAIL> "
                   "個人番号 <MY_NUMBER> カード <CARD> IP <IP> / <IP>")
    assert counts == {"email": 1, "ipv6": 1, "card": 1, "my_number": 1, "phone": 2, "postal_code": 1, "ipv4": 1}


def test_redact_only_the_kinds_asked_for():
    text = "info@example.jp 03-1234-5678"
    assert redact(text, ["phone"]) == ("info@example.jp <PHONE>", {"phone": 1})
    assert redact(text, "email") == ("<EMAIL> 03-1234-5678", {"email": 1})
    assert redact(text, []) == (text, {})


def test_redact_without_pii_returns_the_same_text_and_zero_counts():
    text = "鋼は鉄に炭素を加えて作られる合金であり、2024-12-06 に ¥12,800 で売られた。"
    new, counts = redact(text)
    assert new is text
    assert counts == dict.fromkeys(KINDS, 0)


def test_overlap_goes_to_the_earlier_kind():
    # An old Japanese mobile mail address: its local part is a phone number.
    assert find("09012345678@docomo.example.ne.jp") == [Span("email", 0, 32)]


def test_placeholders_cover_every_kind():
    assert set(PLACEHOLDERS) == set(KINDS)
    assert all(p.startswith("<") and p.endswith(">") for p in PLACEHOLDERS.values())


def test_unknown_kind_is_an_error_that_names_it():
    with pytest.raises(HaganeError, match="'phones'"):
        Redactor(["email", "phones"])


def test_redactor_is_the_same_as_the_functions():
    redactor = Redactor(["phone", "email"])
    text = "TEL 03-1234-5678 / info@example.jp"
    assert redactor(text) == redact(text, ["email", "phone"])
    assert redactor.find(text) == find(text, ["phone", "email"])


# ------------------------------------------------------------------------------------------ labelled set
# Set just below what the labelled set measured (benchmarks/pii.results.md): a regression fails.
# Known misses are in the set on purpose (dots as phone separators, "at … dot" spelt out, a kernel
# version that reads as an IP), so the figures are not all 1.
THRESHOLDS = {  # kind: (precision, recall)
    "email": (0.99, 0.96),
    "phone": (0.99, 0.96),
    "postal_code": (0.99, 0.99),
    "my_number": (0.99, 0.99),
    "card": (0.99, 0.99),
    "ipv4": (0.96, 0.99),
    "ipv6": (0.99, 0.99),
}


def labelled() -> list[dict]:
    with open(LABELLED, encoding="utf-8") as lines:
        return [json.loads(line) for line in lines]


def test_labelled_set_is_what_its_generator_writes():
    spec = importlib.util.spec_from_file_location("make_labelled", LABELLED.with_name("make_labelled.py"))
    generator = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(generator)
    assert LABELLED.read_text(encoding="utf-8") == generator.render(), "run tests/fixtures/pii/make_labelled.py"


def test_labelled_set_is_big_enough():
    lines = labelled()
    per_kind = Counter(span["type"] for line in lines for span in line["spans"])
    assert set(per_kind) == set(KINDS)
    assert min(per_kind.values()) >= 20
    assert sum(per_kind.values()) >= 200
    assert sum(1 for line in lines if not line["spans"]) >= 200
    for line in lines:
        for span in line["spans"]:
            assert 0 <= span["start"] < span["end"] <= len(line["text"])


def test_labelled_set_precision_and_recall_per_kind():
    true_pos, false_pos, false_neg = Counter(), Counter(), Counter()
    for line in labelled():
        gold = {(s["type"], s["start"], s["end"]) for s in line["spans"]}
        predicted = set(find(line["text"]))
        for kind, *_ in predicted & gold:
            true_pos[kind] += 1
        for kind, *_ in predicted - gold:
            false_pos[kind] += 1
        for kind, *_ in gold - predicted:
            false_neg[kind] += 1
    for kind, (min_precision, min_recall) in THRESHOLDS.items():
        precision = true_pos[kind] / ((true_pos[kind] + false_pos[kind]) or 1)
        recall = true_pos[kind] / ((true_pos[kind] + false_neg[kind]) or 1)
        assert precision >= min_precision, (kind, precision)
        assert recall >= min_recall, (kind, recall)

"""Japanese personal information: find it and replace it with typed placeholders.

    find(text, kinds=KINDS)   -> [Span(kind, start, end), ...]       sorted, never overlapping
    redact(text, kinds=KINDS) -> (new_text, {kind: count, ...})     a count for every kind asked for
    Redactor(kinds)           the same two as methods, for a stage that builds it once from its config

Offsets are Python string indices (code points) into the text as given. `kinds` is any iterable of the
names below; an unknown name raises HaganeError naming it.

| kind          | placeholder     | what is found                                                              |
|---------------|-----------------|----------------------------------------------------------------------------|
| `email`       | `<EMAIL>`       | local@domain.tld, also with ＠ and the anti-spam forms (at), [at], （at）   |
| `phone`       | `<PHONE>`       | Japanese numbers: fixed lines, 0X0 mobiles and 050 IP phones, 0120/0800   |
|               |                 | toll-free, 0570 navi-dial, +81 forms, with hyphens, spaces or parentheses |
| `postal_code` | `<POSTAL_CODE>` | 〒 + NNN-NNNN / NNNNNNN / NNN; NNN-NNNN without 〒 only beside context      |
| `my_number`   | `<MY_NUMBER>`   | 12 digits (or 4-4-4) whose check digit is right                            |
| `card`        | `<CARD>`        | 14–19 digits in usual groupings, a known card prefix and length, Luhn      |
| `ipv4`        | `<IP>`          | dotted quads, octets ≤ 255, not a version string or a longer dotted run    |
| `ipv6`        | `<IP>`          | what the stdlib `ipaddress` accepts, found in hex-and-colon runs           |

Both IP kinds share one placeholder: to a language model the two are the same kind of thing, and the
counts still tell them apart. Every kind detects all addresses, private and loopback ones too
(datatrove's formatter keeps non-public ones by default); a corpus that wants 127.0.0.1 kept turns the IP
kinds off. A 〒 mark directly before a postal code is part of the span ("〒100-0001" → "<POSTAL_CODE>");
context words (TEL, 郵便番号, マイナンバー) are not.

Input need not be NFKC-normalised: full-width digits (０-９), ＠, full-width letters in e-mail addresses,
（）, ＋, ． and every hyphen and dash width Japanese text uses (- ‐ ‑ ‒ – — ― − ー － ｰ) are matched as
their ASCII forms; the katakana ー only between digits, where nothing else is meant by it.

Decisions on ambiguous forms (the labelled set, tests/fixtures/pii/, holds a case for each):
- A bare NNN-NNNN is not a postal code: part numbers, phone halves and codes look the same. It counts
  with 〒 (or 〶 〠) before it, with 郵便番号 / 郵便 / 住所 / ZIP / postal in the 12 characters before it,
  or when a prefecture name follows it ("100-0001 東京都…"). Seven bare digits take the same context.
- A dotted quad is an IP unless it reads as a version, a section number or a netmask: preceded (in the
  12 characters before it) by version, ver., v, バージョン, build, release, revision, リビジョン, 第, §,
  Section, Chapter, 節, 章, 図, 表; glued to ASCII letters, to a '-' or to a leading '.' (an OID's
  .1.3.6.1); followed by 版, 節, 章, 項 or by '-' and a letter (1.2.3.4-beta); at the start of a line and
  followed by ". " (a numbered heading: "12.2.3.4. virsh を使ったマシンの管理"); 255.x.x.x masks.
  "1.2.3.4" alone is an IP (it is one, and examples use such addresses); "version 1.2.3.4" and
  "1.2.3.4.5" are not. A bare kernel version (2.6.32.61) is a known false alarm. Octets with leading
  zeros (192.168.001.001) are accepted.
- Phone numbers without separators count only where nothing else is likely: 11 digits starting
  020/050/060/070/080/090/0800, 10 digits starting 0120/0570; any other 10 digits only after TEL /
  電話 / FAX / ☎ / ℡ / 携帯 / 連絡先. A phone-shaped number after 品番, 型番, 注文番号, シリアル, 伝票,
  ISBN and the like (10 characters before it) is not a phone, unless a phone word is there too.
  Dots as separators (03.1234.5678) and two-group forms (03-12345678) are not matched: they collide
  with versions, dates and codes more often than they hide phones.
- My Number: 12 digits not glued to other digits or ASCII letters; a 12-digit timestamp
  (YYYYMMDDhhmm) and numbers after 注文番号, 伝票番号, 追跡番号 and similar are skipped: a tenth of all
  12-digit numbers pass the check digit by chance.
- Payment cards: the prefix lists are Visa 4 (16/19 digits: 13-digit Visa numbers are rare today, and
  Japanese 13-digit JAN codes start with 45/49), Mastercard 51–55 and 2221–2720 (16),
  Amex 34/37 (15), JCB 3528–3589 (16–19), Diners 36/38/39/300–305/3095 (14–19), Discover 6011/644–649/65
  (16–19). Others (UnionPay 62, Mir 2200–2204) are not matched: the list cuts false positives.
- IPv6: runs of two to eight colon groups that `ipaddress` accepts, with at least three non-empty groups
  or one group of three or more hex digits: "::1" and "::" alone are not counted, nor are Python slices
  like [1::2], times (12:34:56) or MAC addresses (six groups: not valid IPv6).

Speed: each kind first asks a question a string method answers (is there an '@', a '::', three digits in
a row?) and runs its regular expression only when the answer is yes; the regular expressions start with
a fixed set of characters, so the engine skips ahead in C; checks in Python (check digits, context) run
only on their candidates. benchmarks/pii.py measures it on Debian's Japanese manuals.
"""

from __future__ import annotations

import bisect
import functools
import ipaddress
import re
from collections.abc import Iterable
from typing import NamedTuple

from hagane.errors import HaganeError

KINDS = ("email", "phone", "postal_code", "my_number", "card", "ipv4", "ipv6")
PLACEHOLDERS = {
    "email": "<EMAIL>",
    "phone": "<PHONE>",
    "postal_code": "<POSTAL_CODE>",
    "my_number": "<MY_NUMBER>",
    "card": "<CARD>",
    "ipv4": "<IP>",
    "ipv6": "<IP>",
}
# Where two kinds' spans overlap, the earlier kind here wins: an e-mail's local part may be a phone
# number (old Japanese mobile addresses are 09012345678@…), an IPv6 address may end in an IPv4 one.
PRIORITY = ("email", "ipv6", "card", "my_number", "phone", "postal_code", "ipv4")


class Span(NamedTuple):
    kind: str
    start: int
    end: int


# ------------------------------------------------------------------------------------------ characters
ASCII_DIGITS = "0123456789"
WIDE_DIGITS = "０１２３４５６７８９"
DIGITS = frozenset(ASCII_DIGITS + WIDE_DIGITS)
D = "[0-9０-９]"
HYPHENS = "-‐‑‒–—―−ー－ｰ"
HY = "\\-‐‑‒–—―−ー－ｰ"  # HYPHENS escaped for a character class
SP = " \u3000\u00a0"  # space, ideographic space, no-break space
SEP = f"(?:[{SP}]?[{HY}][{SP}]?|[{SP}])"  # between phone digit groups: one hyphen, or one space
# A number glued to one of these and then to a digit is a piece of something longer (ISBN, serial, date).
# '/' is not one: it separates listed numbers ("03-…／06-…") and ends an address before its prefix length.
JOINERS = frozenset(HYPHENS + ".．_")
ASCII_LETTERS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
ASCII_ALNUM = ASCII_LETTERS | frozenset(ASCII_DIGITS)
_TO_ASCII = str.maketrans(WIDE_DIGITS, ASCII_DIGITS)
_DIGIT_RUN = re.compile(f"{D}+")
_DIGIT3 = re.compile(f"{D}{{3}}")


def _digits(s: str) -> str:
    """The ASCII digits of s, in order, whatever their width and whatever separates them."""
    return "".join(_DIGIT_RUN.findall(s)).translate(_TO_ASCII)


def _free_before(text: str, start: int, joiners: frozenset = JOINERS) -> bool:
    """No digit, and no digit-then-joiner, right before start."""
    if not start:
        return True
    c = text[start - 1]
    return not (c in DIGITS or (c in joiners and start >= 2 and text[start - 2] in DIGITS))


def _free_after(text: str, end: int, joiners: frozenset = JOINERS) -> bool:
    """No digit, and no joiner-then-digit, right after end."""
    if end >= len(text):
        return True
    c = text[end]
    return not (c in DIGITS or (c in joiners and end + 1 < len(text) and text[end + 1] in DIGITS))


def _detached(text: str, start: int, end: int, joiners: frozenset = JOINERS) -> bool:
    """The number at [start, end) is whole, not a piece of a longer one (ISBN, serial, date, version)."""
    return _free_before(text, start, joiners) and _free_after(text, end, joiners)


def _glued_to_letters(text: str, start: int, end: int) -> bool:
    """An ASCII letter right before or after the span, or 'X-' before it: a code, not a number."""
    if start and text[start - 1] in ASCII_LETTERS:
        return True
    if start >= 2 and text[start - 1] in "-_/" and text[start - 2] in ASCII_ALNUM:
        return True
    return end < len(text) and text[end] in ASCII_LETTERS


def _window(text: str, start: int, width: int) -> str:
    return text[max(0, start - width):start]


# ------------------------------------------------------------------------------------------ check digits
def my_number_check_digit(first11: str) -> int:
    """The My Number (個人番号) check digit of the first 11 digits: 11 − (Σ Pn·Qn mod 11), 0 when the
    remainder is 0 or 1, where Pn is the n-th digit counted from the right and Qn = n+1 for n ≤ 6,
    n−5 for n ≥ 7 (the formula of the ministerial ordinance that defines the individual number)."""
    if len(first11) != 11 or not first11.isdigit():
        raise ValueError(f"my_number_check_digit wants 11 digits, got {first11!r}")
    total = 0
    for n, digit in enumerate(reversed(first11), start=1):
        total += int(digit) * (n + 1 if n <= 6 else n - 5)
    remainder = total % 11
    return 0 if remainder <= 1 else 11 - remainder


def is_valid_my_number(digits: str) -> bool:
    return len(digits) == 12 and digits.isdigit() and my_number_check_digit(digits[:11]) == int(digits[11])


def luhn_ok(digits: str) -> bool:
    """The Luhn (mod 10) check that every payment card number passes."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = ord(ch) - 48
        if i % 2:
            d = d * 2 - 9 if d > 4 else d * 2
        total += d
    return total % 10 == 0


def card_brand(digits: str) -> str | None:
    """The card scheme whose prefix (IIN) and length fit, or None."""
    n = len(digits)
    p2, p3, p4 = int(digits[:2]), int(digits[:3]), int(digits[:4])
    if digits[0] == "4":
        # 13-digit Visa numbers are no longer issued, and Japanese JAN codes (45…, 49…, 13 digits) would
        # pass for them one time in ten.
        return "visa" if n in (16, 19) else None
    if 51 <= p2 <= 55 or 2221 <= p4 <= 2720:
        return "mastercard" if n == 16 else None
    if p2 in (34, 37):
        return "amex" if n == 15 else None
    if 3528 <= p4 <= 3589:
        return "jcb" if 16 <= n <= 19 else None
    if p2 in (36, 38, 39) or 300 <= p3 <= 305 or p4 == 3095:
        return "diners" if 14 <= n <= 19 else None
    if p4 == 6011 or p2 == 65 or 644 <= p3 <= 649:
        return "discover" if 16 <= n <= 19 else None
    return None


# ------------------------------------------------------------------------------------------ e-mail
_LOCAL = "A-Za-z0-9Ａ-Ｚａ-ｚ０-９_%+\\-"
_LABEL = "A-Za-z0-9Ａ-Ｚａ-ｚ０-９\\-"
_EMAIL = re.compile(
    f"(?<![{_LOCAL}.．])[{_LOCAL}](?:[{_LOCAL}.．]{{0,63}})"
    f"(?:[@＠]|[ ]?[(（\\[［]at[)）\\]］][ ]?)"
    f"[A-Za-z0-9Ａ-Ｚａ-ｚ０-９][{_LABEL}]{{0,62}}(?:[.．][{_LABEL}]{{1,63}})*[.．](?P<tld>[A-Za-zＡ-Ｚａ-ｚ]{{2,24}})"
    f"(?![{_LABEL}])")
# name@2x.png is an image, not an address: a "TLD" that is a file extension means a file name.
_FILE_EXTENSIONS = frozenset("png jpg jpeg gif svg webp bmp ico tif tiff pdf js css htm html txt md py "
                             "json xml yaml yml gz bz2 xz tar".split())


def _find_email(text: str) -> list[tuple[int, int]]:
    if "@" not in text and "＠" not in text and "at)" not in text and "at]" not in text \
            and "at）" not in text and "at］" not in text:
        return []
    spans = []
    for m in _EMAIL.finditer(text):
        if m["tld"].lower() in _FILE_EXTENSIONS:
            continue
        spans.append((m.start(), m.end()))
    return spans


# ------------------------------------------------------------------------------------------ phone
def _phone_bodies(first: str) -> str:
    """The digit-group shapes of a phone number whose first digit matches `first`."""
    return (f"[(（]{first}{D}{{0,4}}[)）][{SP}]?{D}{{1,4}}{SEP}{D}{{3,4}}"   # (03)1234-5678
            f"|{first}{D}{{0,4}}[(（]{D}{{1,4}}[)）]{D}{{3,4}}"                # 03(1234)5678
            f"|{first}{D}{{0,4}}{SEP}{D}{{1,4}}{SEP}{D}{{3,4}}"               # 03-1234-5678, 090 1234 5678
            f"|{first}{D}{{8,10}}")                                           # 09012345678


# Every branch starts with a fixed set of characters (+, parenthesis, 0) and there is no look-behind in
# front: the regex engine then skips ahead to those characters in C, which makes the scan 4x faster.
# What the look-behind would have checked (no digit before) _find_phone checks on the few candidates.
_PHONE = re.compile(
    f"(?:(?P<intl>[+＋][8８][1１](?:[{SP}{HY}]?[(（][0０][)）])?[{SP}{HY}]?)(?:{_phone_bodies(D)})"
    f"|{_phone_bodies('[0０]')})(?!{D})")
_MOBILE_PREFIXES = ("020", "050", "060", "070", "080", "090")
_SERVICE_PREFIXES = ("0120", "0570", "0990", "0180")  # toll-free, navi-dial, paid info, tele-service: 10 digits
_PHONE_LABELS = frozenset({"tel", "fax", "phone", "mobile", "mob", "call", "telephone"})
_PHONE_CONTEXT = re.compile(r"TEL|Tel|tel|FAX|Fax|fax|電話|携帯|℡|☎|連絡先|Phone|phone|ＴＥＬ|ＦＡＸ")
_NUMBER_NOT_PHONE = re.compile(r"品番|型番|型式|製品番号|商品番号|商品コード|注文番号|受注番号|シリアル|製造番号|伝票|追跡"
                               r"|口座|会員番号|管理番号|受付番号|ISBN|JAN|S/N|SN:|[Ss]erial|[Oo]rder|[Ii]nvoice")


def _phone_number_ok(groups: list[str], bare_needs_context: bool) -> bool:
    number = "".join(groups)
    if number[0] != "0" or number[1] == "0" or number.startswith("010"):
        return False  # 00x and 010 are international call prefixes
    n = len(number)
    if len(groups) == 1:
        if n == 11:
            return number.startswith(_MOBILE_PREFIXES) or number.startswith("0800")
        if n == 10:
            if number.startswith(_SERVICE_PREFIXES):
                return True
            return not number.startswith(_MOBILE_PREFIXES) and not bare_needs_context
        return False
    if len(groups) != 3:
        return False
    a, b, c = map(len, groups)
    if n == 11:
        if a == 4:
            return number.startswith("0800") and (b, c) == (3, 4)
        return number.startswith(_MOBILE_PREFIXES) and (a, b, c) == (3, 4, 4)
    if n == 10:
        if a == 3 and number.startswith(_MOBILE_PREFIXES):
            return False  # 0X0 numbers have 11 digits (06-0… is Osaka's area code, not 060)
        if number.startswith(_SERVICE_PREFIXES) and (a, b, c) == (4, 3, 3):
            return True
        # Area code (with its 0) and exchange together are 6 digits; the subscriber number is 4.
        return 2 <= a <= 5 and a + b == 6 and c == 4
    return False


def _find_phone(text: str) -> list[tuple[int, int]]:
    spans = []
    pos = 0
    while (m := _PHONE.search(text, pos)) is not None:
        start, end = m.span()
        pos = start + 1
        if not _detached(text, start, end):
            continue
        if start and text[start - 1] in ASCII_LETTERS:
            word_start = start - 1
            while word_start and text[word_start - 1] in ASCII_LETTERS:
                word_start -= 1
            if text[word_start:start].lower() not in _PHONE_LABELS:
                continue
        elif start >= 2 and text[start - 1] in "-_/" and text[start - 2] in ASCII_ALNUM:
            continue
        if end < len(text) and text[end] in ASCII_LETTERS:
            continue
        body_start = m.end("intl") if m["intl"] else start
        groups = [g.translate(_TO_ASCII) for g in _DIGIT_RUN.findall(text, body_start, end)]
        if m["intl"] and not groups[0].startswith("0"):
            groups[0] = "0" + groups[0]  # +81 drops the trunk 0 (and "(0)", when written, is in intl)
        before = _window(text, start, 12)
        has_context = _PHONE_CONTEXT.search(before) is not None
        if not has_context and _NUMBER_NOT_PHONE.search(before[-10:]):
            continue
        if _phone_number_ok(groups, bare_needs_context=not (has_context or m["intl"])):
            spans.append((start, end))
            pos = end
    return spans


# ------------------------------------------------------------------------------------------ postal code
_POSTAL_MARKED = re.compile(f"[〒〶〠][{SP}]?{D}{{3}}(?:[{HY}]{D}{{4}}|{D}{{4}}|[{HY}]{D}{{2}})?(?!{D})")
_POSTAL_BARE = re.compile(f"(?<![0-9０-９]){D}{{3}}(?:[{HY}]{D}{{4}}|{D}{{4}})(?!{D})")
# Plain substring tests: far cheaper than one regex over the whole text. A prefecture name ends in one of 都道府県.
_POSTAL_HINTS = ("郵便", "住所", "ZIP", "Zip", "zip", "Postal", "postal", "POSTAL", "ＺＩＰ", "県", "都", "府", "道")
_POSTAL_CONTEXT = re.compile("郵便|住所|[Zz][Ii][Pp]|[Pp]ostal|POSTAL|ＺＩＰ")
_PREFECTURE_AFTER = re.compile(
    f"[{SP}]*(?:北海道|東京都|大阪府|京都府|(?:青森|岩手|宮城|秋田|山形|福島|茨城|栃木|群馬|埼玉|千葉|神奈川|新潟|富山|石川"
    "|福井|山梨|長野|岐阜|静岡|愛知|三重|滋賀|兵庫|奈良|和歌山|鳥取|島根|岡山|広島|山口|徳島|香川|愛媛|高知|福岡|佐賀|長崎"
    "|熊本|大分|宮崎|鹿児島|沖縄)県)")


def _find_postal_code(text: str) -> list[tuple[int, int]]:
    spans = []
    if "〒" in text or "〶" in text or "〠" in text:
        for m in _POSTAL_MARKED.finditer(text):
            if _detached(text, m.start(), m.end()):
                spans.append(m.span())
    if not any(hint in text for hint in _POSTAL_HINTS):
        return spans
    for m in _POSTAL_BARE.finditer(text):
        start, end = m.span()
        if (start and text[start - 1] in "〒〶〠" or start >= 2 and text[start - 2] in "〒〶〠"
                or not _detached(text, start, end) or _glued_to_letters(text, start, end)):
            continue
        if _POSTAL_CONTEXT.search(_window(text, start, 12)) or _PREFECTURE_AFTER.match(text, end):
            spans.append((start, end))
    return spans


# ------------------------------------------------------------------------------------------ My Number
_MY_NUMBER = re.compile(f"{D}{{4}}(?:(?P<sep>[{SP}{HY}]){D}{{4}}(?P=sep){D}{{4}}|{D}{{8}})(?!{D})")
_NUMBER_NOT_PERSONAL = re.compile(r"注文|受注|伝票|追跡|問い合わせ番号|問合せ番号|受付番号|管理番号|会員番号|口座|品番|型番"
                                  r"|製品番号|商品番号|シリアル|JAN|ISBN|[Oo]rder|[Tt]racking|[Ii]nvoice")


def _looks_like_timestamp(d: str) -> bool:
    """YYYYMMDDhhmm: a 12-digit time stamp, common in file names and logs."""
    return (d[:2] in ("19", "20") and "01" <= d[4:6] <= "12" and "01" <= d[6:8] <= "31"
            and d[8:10] <= "23" and d[10:12] <= "59")


def _find_my_number(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _MY_NUMBER.finditer(text):
        start, end = m.span()
        joiners = JOINERS | {m["sep"]} if m["sep"] else JOINERS
        if not _detached(text, start, end, joiners) or _glued_to_letters(text, start, end):
            continue
        digits = _digits(m.group())
        if not m["sep"] and _looks_like_timestamp(digits):
            continue
        if _NUMBER_NOT_PERSONAL.search(_window(text, start, 10)):
            continue
        if is_valid_my_number(digits) and digits.count(digits[0]) < 12:  # 0000-0000-0000 is a blank form
            spans.append((start, end))
    return spans


# ------------------------------------------------------------------------------------------ card
_CARD = re.compile(
    f"{D}{{4}}(?:(?P<sep>[{SP}{HY}]){D}{{1,7}}(?:(?P=sep){D}{{1,7}}){{0,4}}|{D}{{9,15}})(?!{D})")


def _card_groups_ok(lengths: list[int]) -> bool:
    """4-4-4-4, 4-6-5 (Amex), 4-6-4 (Diners), 4-4-4-4-3 and the like: every group but the last has 4
    digits (the second may have 6), the last 1 to 5."""
    if len(lengths) < 3 or lengths[0] != 4 or not 1 <= lengths[-1] <= 5:
        return False
    middle = lengths[1:-1]
    return all(x == 4 for x in middle) or (len(middle) == 1 and middle[0] == 6)


def _find_card(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _CARD.finditer(text):
        start, end = m.span()
        sep = m["sep"]
        if not sep:
            candidates = [(end, _digits(m.group()))]
        else:
            # A spaced card followed by more spaced digits ("… 1111 2028"): try the longest prefix
            # of groups that makes a card.
            groups = _DIGIT_RUN.findall(m.group())
            candidates = []
            offset = start
            ends = []
            for g in groups:
                offset = text.index(g, offset) + len(g)
                ends.append(offset)
            for k in range(len(groups), 2, -1):
                if _card_groups_ok([len(g) for g in groups[:k]]):
                    candidates.append((ends[k - 1], "".join(groups[:k]).translate(_TO_ASCII)))
        for cand_end, digits in candidates:
            if not 13 <= len(digits) <= 19:
                continue
            joiners = JOINERS | {sep} if sep else JOINERS
            if cand_end == end and not _free_after(text, end, joiners):
                continue
            if not _free_before(text, start, joiners) or _glued_to_letters(text, start, cand_end):
                continue
            if _NUMBER_NOT_PERSONAL.search(_window(text, start, 10)):
                break  # JAN, ISBN, order numbers: Luhn-valid by chance one time in ten
            if card_brand(digits) and luhn_ok(digits):
                spans.append((start, cand_end))
                break
    return spans


# ------------------------------------------------------------------------------------------ IPv4
# No look-behind in front, so that the engine can skip to digits in C; _detached checks the digit before.
_IPV4 = re.compile(f"{D}{{1,3}}(?:[.．]{D}{{1,3}}){{3}}(?!{D})")
_VERSION_BEFORE = re.compile(r"(?:[Vv]ersion|[Vv]er\.?|VER\.?|[Vv]|バージョン|[Bb]uild|[Rr]elease|リリース|版|[Rr]evision"
                             r"|[Rr]ev\.?|リビジョン|第|§|[Ss]ection|[Cc]hapter|節|章|図|表|[Ff]ig\.?|[Tt]able)[\s:：]*$")
_SECTION_AFTER = re.compile(f"[{SP}]*[節章項条]")
_HEADING_END = re.compile(r"\.(?:\s|$)")


def _find_ipv4(text: str) -> list[tuple[int, int]]:
    spans = []
    for m in _IPV4.finditer(text):
        start, end = m.span()
        if not _detached(text, start, end) or _glued_to_letters(text, start, end):
            continue
        if start and (text[start - 1] in HYPHENS or text[start - 1] in ".．"):
            continue  # package-1.2.3.4, an OID's .1.3.6.1
        if end < len(text) and (text[end] == "版" or (text[end] in HYPHENS and end + 1 < len(text)
                                                      and text[end + 1] in ASCII_LETTERS)):
            continue  # 1.2.3.4版, 1.2.3.4-beta
        if _VERSION_BEFORE.search(_window(text, start, 12)) or _SECTION_AFTER.match(text, end):
            continue
        if _HEADING_END.match(text, end) and text[text.rfind("\n", 0, start) + 1:start].strip() == "":
            continue  # "12.2.3.4. virsh を使ったマシンの管理" at the start of a line: a section heading
        octets = [int(part) for part in _digits_parts(m.group())]
        if all(octet <= 255 for octet in octets) and not _is_netmask(octets):
            spans.append((start, end))
    return spans


_MASK_OCTETS = frozenset({0, 128, 192, 224, 240, 248, 252, 254, 255})


def _is_netmask(octets: list[int]) -> bool:
    """255.255.255.0 and its kind: a mask, nobody's address."""
    return (octets[0] == 255 and all(o in _MASK_OCTETS for o in octets)
            and all(a == 255 or b == 0 for a, b in zip(octets, octets[1:])))


def _digits_parts(dotted: str) -> list[str]:
    return [p.translate(_TO_ASCII) for p in _DIGIT_RUN.findall(dotted)]


# ------------------------------------------------------------------------------------------ IPv6
_IPV6 = re.compile(r"(?<![0-9A-Za-z:.])(?:[0-9A-Fa-f]{0,4}:){2,7}(?:[0-9]{1,3}(?:\.[0-9]{1,3}){3}|[0-9A-Fa-f]{1,4})?"
                   r"(?![0-9A-Za-z:])")
_HEX_GROUP = re.compile(r"[0-9A-Fa-f]+")


def _find_ipv6(text: str) -> list[tuple[int, int]]:
    if "::" not in text and text.count(":") < 7:
        return []  # an address has '::' or all eight groups
    spans = []
    for m in _IPV6.finditer(text):
        candidate = m.group()
        if candidate.count(":") < 2 or not any(c in DIGITS for c in candidate):
            continue
        groups = _HEX_GROUP.findall(candidate)
        if len(groups) < 3 and max((len(g) for g in groups), default=0) < 3:
            continue  # ::1, [1::2]: too short to mean an address
        try:
            ipaddress.IPv6Address(candidate)
        except ValueError:
            continue
        spans.append(m.span())
    return spans


# ------------------------------------------------------------------------------------------ API
_DIGIT_KINDS = frozenset({"phone", "postal_code", "my_number", "card"})
_FINDERS = {
    "email": _find_email,
    "phone": _find_phone,
    "postal_code": _find_postal_code,
    "my_number": _find_my_number,
    "card": _find_card,
    "ipv4": _find_ipv4,
    "ipv6": _find_ipv6,
}


def check_kinds(kinds: Iterable[str]) -> tuple[str, ...]:
    """The kinds asked for, in priority order; an unknown or mistyped name is an error that says so."""
    if isinstance(kinds, str):
        kinds = [kinds]  # "email" means ["email"], not five letters
    asked = list(kinds)
    unknown = sorted(set(asked) - set(KINDS))
    if unknown:
        raise HaganeError(f"pii: unknown kind(s) {', '.join(map(repr, unknown))}; the kinds are {', '.join(KINDS)}")
    return tuple(kind for kind in PRIORITY if kind in asked)


class Redactor:
    """Finds and replaces the kinds it was made with. Build it once per stage, call it per document."""

    def __init__(self, kinds: Iterable[str] = KINDS):
        self.kinds = check_kinds(kinds)
        self._finders = [(kind, _FINDERS[kind]) for kind in self.kinds]
        self._needs_digits = bool(_DIGIT_KINDS & set(self.kinds))

    def find(self, text: str) -> list[Span]:
        """Typed spans, sorted by start, never overlapping (the kind earlier in PRIORITY wins)."""
        # Every digit kind needs three digits in a row; most documents without them skip four regexes.
        has_digits = self._needs_digits and _DIGIT3.search(text) is not None
        # Kept sorted and disjoint, so one bisection finds the only two spans a new one could overlap
        # (a mailing-list archive can hold thousands of addresses: no quadratic scan).
        taken: list[Span] = []
        starts: list[int] = []
        for kind, finder in self._finders:
            if kind in _DIGIT_KINDS and not has_digits:
                continue
            for start, end in finder(text):
                i = bisect.bisect_right(starts, start)
                if (i and taken[i - 1].end > start) or (i < len(taken) and taken[i].start < end):
                    continue
                taken.insert(i, Span(kind, start, end))
                starts.insert(i, start)
        return taken

    def redact(self, text: str) -> tuple[str, dict[str, int]]:
        """The text with each span replaced by its kind's placeholder, and the count per kind (every kind
        this redactor was made with, zeros too: they become columns)."""
        counts = dict.fromkeys(self.kinds, 0)
        spans = self.find(text)
        if not spans:
            return text, counts
        pieces = []
        last = 0
        for kind, start, end in spans:
            pieces.append(text[last:start])
            pieces.append(PLACEHOLDERS[kind])
            counts[kind] += 1
            last = end
        pieces.append(text[last:])
        return "".join(pieces), counts

    __call__ = redact


@functools.lru_cache(maxsize=32)
def _redactor(kinds: tuple[str, ...]) -> Redactor:
    return Redactor(kinds)


def find(text: str, kinds: Iterable[str] = KINDS) -> list[Span]:
    return _redactor(tuple(kinds) if not isinstance(kinds, str) else (kinds,)).find(text)


def redact(text: str, kinds: Iterable[str] = KINDS) -> tuple[str, dict[str, int]]:
    return _redactor(tuple(kinds) if not isinstance(kinds, str) else (kinds,)).redact(text)

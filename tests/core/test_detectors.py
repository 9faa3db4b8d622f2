"""The detectors of sensitive values inside a string (bot/core/detectors.py), by table: each kind found (true
positives, written as people write them) and what must not be (Luhn-invalid numbers, order ids, UUIDs, timestamps,
phone numbers, IBANs with a bad checksum, words that look like key prefixes); and by property: any Luhn-valid card
in any card grouping is found, no UUID ever is."""

from __future__ import annotations

import base64
import itertools
import json
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core.detectors import (
    _CARD,
    _SECURITY_CODE,
    DETECTORS,
    _card_places,
    _security_codes,
    card_number,
    iban_valid,
    luhn_valid,
    scan,
    secret_name,
)

ALL = frozenset(DETECTORS)


def complete(prefix: str) -> str:
    """`prefix` with the Luhn check digit that makes it valid."""
    return next(prefix + digit for digit in "0123456789" if luhn_valid(prefix + digit))


def b64(value: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")


JWT = f"{b64({'alg': 'HS256', 'typ': 'JWT'})}.{b64({'sub': 'U123', 'exp': 1900000000})}.{'s1Gn4tur3_-x' * 3}"
PEM = "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA1x2y3z\nabcDEF==\n-----END RSA PRIVATE KEY-----"

FOUND = [
    # cards: every major issuer, separators as people type them
    ("4111111111111111", "card", "card ending 1111"),
    ("4111 1111 1111 1111", "card", "card ending 1111"),
    ("4111-1111-1111-1111", "card", "card ending 1111"),
    ("pay with 5500 0000 0000 0004 today", "card", "card ending 0004"),
    ("2223003122003222", "card", "card ending 3222"),  # Mastercard 2-series
    ("3782 822463 10005", "card", "card ending 0005"),  # American Express, 4-6-5
    ("6011111111111117", "card", "card ending 1117"),  # Discover
    ("30569309025904", "card", "card ending 5904"),  # Diners, 14 digits
    ("3530111333300000", "card", "card ending 0000"),  # JCB
    ("6200000000000005", "card", "card ending 0005"),  # UnionPay
    ("4222222222222", "card", "card ending 2222"),  # Visa, 13 digits
    (complete("411111111111111111"), "card", f"card ending {complete('411111111111111111')[-4:]}"),  # 19 digits
    # IBANs, with and without spaces
    ("DE89 3704 0044 0532 0130 00", "iban", "IBAN DE89 … 3000"),
    ("iban: GB82WEST12345698765432.", "iban", "IBAN GB82 … 5432"),
    ("FR14 2004 1010 0505 0001 3M02 606", "iban", "IBAN FR14 … 2606"),
    ("NL91ABNA0417164300", "iban", "IBAN NL91 … 4300"),
    ("CH9300762011623852957", "iban", "IBAN CH93 … 2957"),
    ("NO9386011117947", "iban", "IBAN NO93 … 7947"),
    # secrets in their published formats
    ("sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc", "Stripe secret key", "Stripe secret key (hidden)"),
    ("key=rk_live_" + "51H8xYzAbCdEfGhIjKlMnOp", "Stripe restricted key", "Stripe restricted key (hidden)"),
    ("sk_test_" + "4eC39HqLyjWDarjtT1zdp7dc", "Stripe secret key (test mode)",
     "Stripe secret key (test mode) (hidden)"),
    ("AKIAIOSFODNN7EXAMPLE", "AWS access key id", "AWS access key id (hidden)"),
    ("ghp_" + "a" * 16 + "B1" * 10, "GitHub token", "GitHub token (hidden)"),
    ("github_pat_11ABCDEFG0123456789_" + "x" * 59, "GitHub token", "GitHub token (hidden)"),
    ("token xoxb-1234567890-0987654321-AbCdEfGhIjKl", "Slack token", "Slack token (hidden)"),
    ("xoxp-1234567890-0987654321-AbCdEfGhIjKl", "Slack token", "Slack token (hidden)"),
    ("xapp-1-A0123456789-1234567890-abcdef0123", "Slack token", "Slack token (hidden)"),
    ("sk-proj-" + "Ab3_" * 12, "OpenAI API key", "OpenAI API key (hidden)"),
    ("sk-" + "T3BlbkFJ" * 6, "OpenAI API key", "OpenAI API key (hidden)"),
    ("sk-ant-api03-" + "Zz9-" * 10, "Anthropic API key", "Anthropic API key (hidden)"),
    (f"Authorization: Bearer {JWT}", "JWT", "JWT (hidden)"),
    (f"key:\n{PEM}\n", "private key", "private key (hidden)"),
    ("-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA (cut off)", "private key", "private key (hidden)"),
]


@pytest.mark.parametrize(("text", "kind", "display"), FOUND)
def test_each_kind_is_found_with_what_may_be_shown(text: str, kind: str, display: str) -> None:
    found = scan(text, ALL)
    assert [(f.kind, f.display) for f in found] == [(kind, display)]
    hidden = text[found[0].start:found[0].end]
    assert hidden.strip() == hidden and len(hidden) >= 13


NOT_FOUND = [
    "4111111111111112",  # Luhn-invalid
    "4111 1111 1111 1112",
    "1234567890123456",  # no issuer starts with 1
    "ORD-2026-000123456",  # an order id
    "order 100000000000000001",
    "123e4567-e89b-12d3-a456-426614174000",  # UUIDs, one all in digits
    "12345678-1234-5678-1234-567812345678",
    "4567-426614174000",  # a UUID's tail: not a card's grouping
    "123e4567-e89b-12d3-4111-111111111111",  # ... even when its digits are a valid card number
    "1732636800123",  # a timestamp in milliseconds
    "2026-11-26T17:25:32.123Z",
    "20261126172532123",
    "+1 415-555-0132 ext 4111",
    "d7dcdf6f-6680-3327-3172-1d4c3eb17314",  # digits of a UUID that pass Luhn, but inside a word
    "ref4111111111111111x",
    "4111 1111-1111 1111",  # two separators: not one number written one way
    "41111111111111111111111",  # a longer run of digits
    "DE89 3704 0044 0532 0130 01",  # IBAN with a bad checksum
    "DE89370400440532013",  # too short for Germany
    "XX89370400440532013000",  # no such country
    "AB12CDEF product code",
    "sk_live_short",
    "task_live_4eC39HqLyjWDarjtT1zdp7dc",  # not at a word's start
    "sk-assessment-of-the-quarterly-report-2026",  # kebab-case words
    "risk-assessment-of-the-quarterly-report",
    "AKIA123",
    "eyJhbGciOiJIUzI1NiJ9 is only a header",
    "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE\n-----END PUBLIC KEY-----",
    "ghp_tooShort",
    "a plain sentence about refunds and tokens",
]


@pytest.mark.parametrize("text", NOT_FOUND)
def test_look_alikes_are_not_found(text: str) -> None:
    assert scan(text, ALL) == []


def test_only_the_detectors_named_look() -> None:
    text = "4111111111111111 and AKIAIOSFODNN7EXAMPLE"
    assert [f.kind for f in scan(text, frozenset({"aws"}))] == ["AWS access key id"]
    assert [f.kind for f in scan(text, frozenset({"card"}))] == ["card"]
    assert scan(text, frozenset()) == []


def test_finds_are_in_order_and_never_overlap() -> None:
    text = f"{JWT} then 4111 1111 1111 1111 then DE89370400440532013000"
    found = scan(text, ALL)
    assert [f.kind for f in found] == ["JWT", "card", "iban"]
    assert all(one.end <= other.start for one, other in itertools.pairwise(found))


def test_checks() -> None:
    assert luhn_valid("79927398713") and not luhn_valid("79927398710")
    assert card_number("4111111111111111") and not card_number("9111111111111111")
    assert iban_valid("DE89370400440532013000") and not iban_valid("DE89370400440532013001")
    assert not iban_valid("DE89 3704 0044 0532 0130 00")  # spaces are the caller's to take out


@pytest.mark.parametrize(("name", "kind"), [
    ("password", "password"), ("Password", "password"), ("db_password", "password"), ("PASSWD", "password"),
    ("clientSecret", "secret"), ("client-secret", "secret"), ("api_key", "API key"), ("API-Key", "API key"),
    ("apiKey", "API key"), ("x_api_key", "API key"), ("access_token", "token"), ("refreshToken", "token"),
    ("aws_secret_access_key", "access key"), ("private_key", "private key"), ("Authorization", "authorization"),
    ("max_tokens", None), ("secret_name", None), ("token_count", None), ("password_policy", None), ("tokens", None),
    ("amount", None), ("key", None), ("pässword", None), ("ＰＡＳＳＷＯＲＤ", "password"),
    ("card_cvv", "card security code"), ("CVC2", "card security code"), ("security-code", "card security code"),
])
def test_secret_argument_names(name: str, kind: str | None) -> None:
    assert secret_name(name) == kind


cards = st.sampled_from(["4", "51", "55", "2221", "2720", "6011", "65"]).flatmap(
    lambda prefix: st.text("0123456789", min_size=15 - len(prefix), max_size=15 - len(prefix)).map(
        lambda rest: complete(prefix + rest)))


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
@given(card=cards, separator=st.sampled_from(["", " ", "-", ".", "/", "  ", "\u00a0", "\u3000"]),
       before=st.sampled_from(["", "card: ", "x "]), after=st.sampled_from(["", ".", " exp 12/29"]),
       digits=st.sampled_from(["0123456789", "٠١٢٣٤٥٦٧٨٩", "０１２３４５６７８９", "۰۱۲۳۴۵۶۷۸۹"]))
def test_any_luhn_valid_card_in_a_cards_grouping_is_found(card: str, separator: str, before: str, after: str,
                                                          digits: str) -> None:
    written = separator.join(card[i:i + 4] for i in range(0, 16, 4)).translate(str.maketrans("0123456789", digits))
    found = scan(before + written + after, frozenset({"card"}))
    assert [(f.display, f.start, f.end) for f in found if f.kind == "card"] == [
        (f"card ending {card[-4:]}", len(before), len(before) + len(written))]
    assert [(before + written + after)[f.start:f.end] for f in found if f.kind != "card"] == (
        ["12/29"] if after.startswith(" exp") else [])


def uuid_group(size: int) -> st.SearchStrategy[str]:
    """A UUID's group of `size` characters, often all digits (where a card could hide)."""
    return st.text(st.sampled_from("0123456789abcdef"), min_size=size, max_size=size) | st.text(
        "0123456789", min_size=size, max_size=size)


@given(st.uuids().map(str) | st.tuples(*(uuid_group(size) for size in (8, 4, 4, 4, 12))).map("-".join),
       st.booleans())
@pytest.mark.slow
def test_no_uuid_is_ever_a_card_or_an_iban(value: str, upper: bool) -> None:
    assert scan(f"order {value.upper() if upper else value} placed", ALL) == []


# every form of #76 item 2, each read in the one spelling (bot/core/spelling.py): what is hidden, as written
FORMS = [
    ("4111.1111.1111.1111", [("card", "4111.1111.1111.1111")]),
    ("4111/1111/1111/1111", [("card", "4111/1111/1111/1111")]),
    ("pay 4111  1111  1111  1111 now", [("card", "4111  1111  1111  1111")]),
    ("4111\u00a01111\u00a01111\u00a01111", [("card", "4111\u00a01111\u00a01111\u00a01111")]),
    ("4111\u202f1111\u2009 1111\u20071111", [("card", "4111\u202f1111\u2009 1111\u20071111")]),
    ("4111\u20111111\u20131111\u20141111", [("card", "4111\u20111111\u20131111\u20141111")]),
    ("card ４１１１１１１１１１１１１１１１.", [("card", "card ４１１１１１１１１１１１１１１１")]),
    ("٤١١١ ١١١١ ١١١١ ١١١١", [("card", "٤١١١ ١١١١ ١١١١ ١١١١")]),
    ("۴۱۱۱-۱۱۱۱-۱۱۱۱-۱۱۱۱", [("card", "۴۱۱۱-۱۱۱۱-۱۱۱۱-۱۱۱۱")]),
    ("४१११ ११११ ११११ ११११", [("card", "४१११ ११११ ११११ ११११")]),  # Devanagari
    ("4111 1111 1111 1111 exp 12/29", [("card", "4111 1111 1111 1111"), ("card expiry", "12/29")]),
    ("4111111111111111, 12/2029", [("card", "4111111111111111"), ("card expiry", "12/2029")]),
    ("4111-1111-1111-1111 valid thru 9/27", [("card", "4111-1111-1111-1111"), ("card expiry", "9/27")]),
    ("cvv 123", [("card security code", "123")]),
    ("CVC: 1234", [("card security code", "1234")]),
    ("cvv123", [("card security code", "123")]),
    ("the security code is 987", [("card security code", "987")]),
    ("CVV2=４５６", [("card security code", "４５６")]),
    ('{"cvc": "321"}', [("card security code", "321")]),
    ("4111111111111111 cvv 123", [("card", "4111111111111111"), ("card security code", "123")]),
    ("iban de89 3704 0044 0532 0130 00", [("iban", "de89 3704 0044 0532 0130 00")]),
    ("DE89-3704-0044-0532-0130-00", [("iban", "DE89-3704-0044-0532-0130-00")]),
    ("gb82west12345698765432", [("iban", "gb82west12345698765432")]),
    ("ＤＥ８９３７０４００４４０５３２０１３０００", [("iban", "ＤＥ８９３７０４００４４０５３２０１３０００")]),
    # not these
    ("411111111111111²", []),  # `²` is no digit
    ("4111 1111 1111 111¹", []),
    ("cvv 12", []),
    ("cvv 12345", []),
    ("exp 12/29 alone", []),
    ("order 12/29 of 2026/11/26", []),
    ("version 4.1.1.1 on 10.0.0.1", []),
    ("DE89-3704-0044-053201-3000", []),  # dashes, not in groups of four
    ("de89370400440532013001", []),  # a bad checksum in lower case
]


@pytest.mark.parametrize(("text", "expected"), FORMS)
def test_every_form_is_found_where_it_is_written(text: str, expected: list[tuple[str, str]]) -> None:
    assert [(f.kind, text[f.start:f.end]) for f in scan(text, ALL)] == expected


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
def test_card_places_are_the_card_expressions_own_finds() -> None:
    """Card numbers are looked for only in runs of digits long enough to hold one (`_card_places`): the same finds
    as the expression over the whole text, on random texts of digits, separators and letters."""
    chooser = random.Random(79)
    alphabet = "0123456789" * 4 + " ./-ab\n"
    for _ in range(20_000):
        text = "".join(chooser.choice(alphabet) for _ in range(chooser.randint(10, 60)))
        assert [(m.start(), m.group(1)) for m in _card_places(text)] == [
            (m.start(), m.group(1)) for m in _CARD.finditer(text)], text


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
def test_security_codes_are_the_expressions_own_finds() -> None:
    """The security-code expression runs only where one of its keywords may be (`_security_codes`): the same finds as
    the expression over the whole text, on random texts of its keywords' letters in both cases, the letters
    IGNORECASE reads as a-z (İ ı ſ K), digits and separators."""
    chooser = random.Random(80)
    words = ["cvv", "CVC2", "cvn", "cav2", "CSC", "security code", "card verification value", "card code", "SECURITY",
             "ſecurity code", "card", "cv"]
    alphabet = "0123456789 :=#-'\"\nisnoumber\u0130\u0131\u017f\u212a"
    for _ in range(20_000):
        parts = [chooser.choice(words) if chooser.random() < 0.3 else chooser.choice(alphabet) for _ in range(12)]
        text = "".join(parts)
        assert [m.span(1) for m in _security_codes(text)] == [m.span(1) for m in _SECURITY_CODE.finditer(text)], text


def test_the_word_card_before_a_card_number_is_hidden_with_it_said_once() -> None:
    """#87: "refund card 4111…" read "refund card card ending 1111": the word before the number is part of what the
    mask replaces; a word that only ends in "card" is not."""
    card = "4111 1111 1111 1111"
    text = f"refund card {card} and Card  {card}, discard {card}"
    shown = text
    for find in reversed(scan(text, ALL)):
        shown = shown[:find.start] + find.display + shown[find.end:]
    assert shown == "refund card ending 1111 and card ending 1111, discard card ending 1111"

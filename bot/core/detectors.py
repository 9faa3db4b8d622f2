"""Detectors of sensitive values inside a string (pure): payment card numbers (Luhn, issuer prefixes and lengths),
with a card's expiry right after it and a security code after its keyword (`cvv 123`: the `card` detector), IBANs
(country lengths, mod-97), well-known secret formats (Stripe, AWS, GitHub, Slack, OpenAI and Anthropic keys, JWTs,
PEM private keys), and argument names that say their value is a secret (`password`, `api_key`, `cvv`...). Every
detector reads the text in one spelling (bot/core/spelling.py: digits of any script, every space and dash), one
character for one, so that a find's place is its place in the text as written.

Each detector has a name (`REDACT_DETECTORS` lists them; bot/core/sensitive.py uses them); `scan` returns what it
found in a string, each with where it is, its kind and what may be shown of it (at most the first six and last four
digits of a card, PCI DSS 3.4.1: here the last four only).

    >>> [(f.kind, f.display) for f in scan("pay 4111 1111 1111 1111 now", frozenset({"card"}))]
    [('card', 'card ending 1111')]

(Yelp's detect-secrets was considered: it scans lines of files with a process-wide settings object and reports no
positions, and has no card or IBAN check; these few expressions are kept here, with table tests.)"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from bot.core.spelling import normalised

# detectors by name, in the order they are tried (an earlier one wins where two overlap)
SECRET_DETECTORS = ("private_key", "jwt", "stripe", "aws", "github", "slack", "anthropic", "openai")
DETECTORS = ("card", "iban", *SECRET_DETECTORS, "names")
_SECRET_SET = frozenset(SECRET_DETECTORS)
MIN_FOUND = 6  # characters: nothing detected is shorter (`cvv123`; a shorter string is not scanned)
MAX_SCANNED = 1_000_000  # characters of one string scanned (a longer one is scanned up to here)


@dataclass(frozen=True, slots=True)
class Finding:
    """One sensitive value inside a string: `text[start:end]`, its kind ("card") and its display."""

    start: int
    end: int
    kind: str
    display: str


# payment cards -----------------------------------------------------------------------------------------------

# where a card number may start, each place tried (a lookahead, so that they overlap), and what it may be as written:
# 13 to 19 digits, or groups with one separator throughout (one or two spaces, a dot, a slash or a dash): fours, the
# last one to four digits, or four-six-five and four-six-four (Amex, Diners); the longest first. Not inside a word
# or a longer run of digits, nor right after a group of four and the same separator (a list of four-digit numbers
# is read from its start). A UUID's 8-4-4-4-12 is none of these.
def _card_pattern() -> re.Pattern[str]:
    shapes = ["[0-9]{13,19}"]
    for separator, before in ((" {1,2}", ("[0-9]{4} ", "[0-9]{4}  ")), (r"\.", (r"[0-9]{4}\.",)),
                              ("/", ("[0-9]{4}/",)), ("-", ("[0-9]{4}-",))):
        fours = f"[0-9]{{4}}(?:{separator}[0-9]{{4}}){{2}}{separator}(?:[0-9]{{4}}{separator}[0-9]{{1,3}}|[0-9]{{1,4}})"
        amex = f"[0-9]{{4}}{separator}[0-9]{{6}}{separator}[0-9]{{4,5}}"
        shapes.append("".join(f"(?<!{text})" for text in before) + f"(?:{fours}|{amex})")
    # (`(?=[0-9])` first: every shape starts with a digit, so a place without one is left at once, before the
    # shapes' lookbehinds are tried: a long text of code costs half as much)
    return re.compile(f"(?<![0-9A-Za-z])(?=[0-9])(?=((?:{'|'.join(shapes)})(?![0-9A-Za-z])))")


_CARD = _card_pattern()
_NOT_DIGIT = re.compile("[^0-9]")
# issuer prefixes (inclusive ranges of the first digits) and the lengths their numbers have
_ISSUERS: tuple[tuple[int, int, frozenset[int]], ...] = (
    (4, 4, frozenset({13, 16, 19})),  # Visa
    (51, 55, frozenset({16})), (2221, 2720, frozenset({16})),  # Mastercard
    (34, 34, frozenset({15})), (37, 37, frozenset({15})),  # American Express
    (6011, 6011, frozenset(range(16, 20))), (644, 649, frozenset(range(16, 20))), (65, 65, frozenset(range(16, 20))),
    (300, 305, frozenset(range(14, 20))), (36, 36, frozenset(range(14, 20))), (38, 39, frozenset(range(16, 20))),
    (3528, 3589, frozenset(range(16, 20))),  # JCB
    (62, 62, frozenset(range(16, 20))),  # UnionPay
    (2200, 2204, frozenset(range(16, 20))),  # Mir
    (50, 50, frozenset(range(13, 20))), (56, 69, frozenset(range(13, 20))),  # Maestro
)


_DOUBLED = {str(digit): digit * 2 - 9 if digit > 4 else digit * 2 for digit in range(10)}
_PLAIN = {str(digit): digit for digit in range(10)}


def luhn_valid(digits: str) -> bool:
    """Whether a string of ASCII digits passes the Luhn check."""
    return (sum(_PLAIN[char] for char in digits[-1::-2]) + sum(_DOUBLED[char] for char in digits[-2::-2])) % 10 == 0


_ISSUER_SIZES = tuple((low, high, lengths, len(str(low))) for low, high, lengths in _ISSUERS)


def card_number(digits: str) -> bool:
    """Whether digits (13 to 19) read as a payment card number: a known issuer's prefix and length, and Luhn."""
    heads = (0, *(int(digits[:size]) for size in range(1, 5)))
    for low, high, lengths, size in _ISSUER_SIZES:
        if low <= heads[size] <= high and len(digits) in lengths:
            return luhn_valid(digits)
    return False


# where a card may be at all: 13 digits or more, each after at most two of the separators the shapes allow
_DIGIT_RUN = re.compile(r"[0-9](?:[ ./-]{0,2}[0-9]){12,}")


def _card_places(text: str) -> Iterator[re.Match[str]]:
    """`_CARD`'s matches in `text`, looked for only within the runs of digits long enough to hold a card (what the
    shapes' lookbehinds and lookaheads read around a run is read in `text` itself: `endpos` one past it)."""
    for run in _DIGIT_RUN.finditer(text):
        yield from _CARD.finditer(text, run.start(), min(len(text), run.end() + 1))


_CARD_WORD = re.compile(r"\b[Cc]ard[ \t]{1,8}\Z")  # the word just before a card number, which its mask says again


def _cards(text: str) -> Iterator[Finding]:
    """Card numbers (`_CARD`: each place one may start, the longest way it may be written), each a known issuer's
    prefix and length and Luhn-valid; then its expiry when one follows it (`4111 1111 1111 1111 exp 12/29`), and
    security codes next to their keyword."""
    cards: list[Finding] = []
    end = 0
    for match in _card_places(text):
        if match.start() < end:
            continue  # (inside a card found)
        written = match.group(1)
        bare = written.isascii() and written.isdigit()  # (the text is normalised: its digits are ASCII)
        digits = _NOT_DIGIT.sub("", written) if len(written) > 19 or not bare else written
        while not card_number(digits) and not bare:  # a shorter grouping: its last group left out
            shorter = re.match(r"(.*[0-9])[^0-9]+[0-9]+\Z", written)
            if shorter is None or len(shorter.group(1)) < 13:
                break
            written = shorter.group(1)
            digits = _NOT_DIGIT.sub("", written)
        if not card_number(digits):
            continue
        end = match.start() + len(written)
        said = _CARD_WORD.search(text, max(0, match.start() - 16), match.start())  # "card 4111…": said once
        cards.append(Finding(said.start() if said else match.start(), end, "card", f"card ending {digits[-4:]}"))
        expiry = _EXPIRY.match(text, end)
        if expiry:
            cards.append(Finding(expiry.start(1), expiry.end(1), "card expiry", "card expiry (hidden)"))
    yield from cards
    for code in _security_codes(text):
        security_code = Finding(code.start(1), code.end(1), "card security code", "card security code (hidden)")
        if not any(_overlap(security_code, card) for card in cards):
            yield security_code


# a card's expiry right after it (`4111 1111 1111 1111 exp 12/29`, `..., 12/2029`); a security code right after
# its keyword (`cvv 123`, `CVC: 1234`, `security code is 123`)
_EXPIRY = re.compile(r"[ ,;:(]{0,3}(?:(?:exp(?:iry|ires|iration)?(?: date)?|valid (?:thru|through|until)|until)"
                     r"\.?[ :]{0,3})?((?:0?[1-9]|1[0-2]) ?[/.-] ?(?:20)?[0-9]{2})(?![0-9])", re.IGNORECASE)
_SECURITY_CODE = re.compile(r"(?<![A-Za-z0-9])(?:cvv2?|cvc2?|cvn2?|cav2|csc|security code|card verification "
                            r"(?:value|code)|card code)(?![A-Za-z])[\"']?\s{0,3}"
                            r"(?:is\s{1,3}|no\.?\s{0,3}|number\s{0,3})?[:=#-]?\s{0,3}[\"']?([0-9]{3,4})(?![0-9])",
                            re.IGNORECASE)
# what every security code's keyword holds, lower case (`cvv`, `cvc`, `cvn`, `cav2`, `csc`, `security code`, `card
# ...`), and the letters other than A-Z that IGNORECASE matches to a-z (docs of `re`): a text with none of them
# holds no security code
_CODE_WORDS = ("cv", "cav2", "csc", "security code", "card ")
_CASE_LOOKALIKES = ("\u0130", "\u0131", "\u017f", "\u212a")


def _security_codes(text: str) -> Iterator[re.Match[str]]:
    """`_SECURITY_CODE`'s matches, the expression run only when a keyword may be in the text (a long text of code
    mostly holds none: read at once)."""
    if any(c in text for c in _CASE_LOOKALIKES) or any(word in text.lower() for word in _CODE_WORDS):
        yield from _SECURITY_CODE.finditer(text)


# IBANs -------------------------------------------------------------------------------------------------------

IBAN_LENGTHS: dict[str, int] = {  # the SWIFT IBAN registry's lengths, by country
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BI": 27, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DJ": 27, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FK": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20, "LB": 28,
    "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "LY": 25, "MC": 27, "MD": 24, "ME": 22, "MK": 19, "MN": 20,
    "MR": 27, "MT": 31, "MU": 30, "NI": 28, "NL": 18, "NO": 15, "OM": 23, "PK": 24, "PL": 28, "PS": 29, "PT": 25,
    "QA": 29, "RO": 24, "RS": 22, "RU": 33, "SA": 24, "SC": 31, "SD": 18, "SE": 24, "SI": 19, "SK": 24, "SM": 27,
    "SO": 23, "ST": 25, "SV": 28, "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20, "YE": 30,
}
_IBAN_START = re.compile(r"([A-Za-z](?<![A-Za-z0-9][A-Za-z])[A-Za-z])[0-9]{2}")


def iban_valid(iban: str) -> bool:
    """Whether an IBAN (no spaces, upper case) has its country's length and a valid mod-97 checksum."""
    if IBAN_LENGTHS.get(iban[:2]) != len(iban) or not (iban.isascii() and iban.isalnum()):
        return False
    moved = iban[4:] + iban[:4]
    return int("".join(str(int(char, 36)) for char in moved)) % 97 == 1


def _iban_end(text: str, start: int, length: int) -> int:
    """Where an IBAN of `length` characters starting at `start` ends (single spaces or dashes between them
    allowed), or -1."""
    count, i = 0, start
    while count < length and i < len(text):
        if text[i] in " -" and count and i + 1 < len(text) and text[i + 1] not in " -":
            i += 1
        if not (text[i].isascii() and text[i].isalnum()):
            return -1
        count, i = count + 1, i + 1
    if count < length or (i < len(text) and text[i].isascii() and text[i].isalnum()):
        return -1
    return i


def _iban_grouping(text: str) -> bool:
    """Whether an IBAN as written is grouped as IBANs are: as one word, with spaces anywhere, or with dashes
    between groups of four (the last one to four characters): a UUID's 8-4-4-4-12 is not one."""
    if "-" not in text:
        return True
    lengths = [len(group) for group in re.split(r"[ -]", text)]
    return " " not in text and all(length == 4 for length in lengths[:-1]) and 1 <= lengths[-1] <= 4


def _ibans(text: str) -> Iterator[Finding]:
    for match in _IBAN_START.finditer(text):
        length = IBAN_LENGTHS.get(match.group(1).upper())
        end = _iban_end(text, match.start(), length) if length else -1
        written = text[match.start():end] if end > 0 else ""
        iban = re.sub("[ -]", "", written).upper()
        if iban and _iban_grouping(written) and iban_valid(iban):
            yield Finding(match.start(), end, "iban", f"IBAN {iban[:4]} … {iban[-4:]}")


# secret formats ----------------------------------------------------------------------------------------------

_B = r"(?<![A-Za-z0-9_-])"  # not inside a longer token
_E = r"(?![A-Za-z0-9_-])"
_SECRETS: dict[str, tuple[re.Pattern[str], Callable[[re.Match[str]], str]]] = {
    "private_key": (re.compile(r"-----BEGIN ((?:[A-Z0-9]+ )*)PRIVATE KEY( BLOCK)?-----(?:.*?-----END [A-Z0-9 ]*"
                               r"PRIVATE KEY(?: BLOCK)?-----|.*\Z)", re.S), lambda m: "private key"),
    "jwt": (re.compile(_B + r"eyJ[A-Za-z0-9_-]{5,}\.eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*" + _E), lambda m: "JWT"),
    "stripe": (re.compile(_B + r"(sk|rk)_(live|test)_[A-Za-z0-9]{16,}" + _E),
               lambda m: f"Stripe {'secret' if m.group(1) == 'sk' else 'restricted'} key"
                         + ("" if m.group(2) == "live" else " (test mode)")),
    "aws": (re.compile(r"(?<![A-Z0-9])(?:AKIA|ASIA)[A-Z0-9]{16}(?![A-Z0-9])"), lambda m: "AWS access key id"),
    "github": (re.compile(_B + r"(?:gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{40,})" + _E),
               lambda m: "GitHub token"),
    "slack": (re.compile(_B + r"(?:xox[abposr]-[A-Za-z0-9-]{10,}|xapp-[0-9]-[A-Za-z0-9-]{10,})" + _E),
              lambda m: "Slack token"),
    "anthropic": (re.compile(_B + r"sk-ant-[a-z]+[0-9]{2}-[A-Za-z0-9_-]{20,}" + _E), lambda m: "Anthropic API key"),
    "openai": (re.compile(_B + r"sk-(?:(?:proj|svcacct|admin)-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{32,})" + _E),
               lambda m: "OpenAI API key"),
}


# what each secret's text must contain: checked first, a fast substring search, before its expression runs
_MARKERS: dict[str, tuple[str, ...]] = {
    "private_key": ("PRIVATE KEY",), "jwt": ("eyJ",), "stripe": ("_live_", "_test_"), "aws": ("AKIA", "ASIA"),
    "github": ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"), "slack": ("xox", "xapp-"),
    "anthropic": ("sk-ant-",), "openai": ("sk-",),
}


def _secrets(name: str) -> Callable[[str], Iterator[Finding]]:
    pattern, kind_of = _SECRETS[name]
    markers = _MARKERS[name]

    def find(text: str) -> Iterator[Finding]:
        if not any(marker in text for marker in markers):
            return
        for match in pattern.finditer(text):
            kind = kind_of(match)
            yield Finding(match.start(), match.end(), kind, f"{kind} (hidden)")
    return find


_FINDERS: dict[str, Callable[[str], Iterator[Finding]]] = {
    "card": _cards, "iban": _ibans, **{name: _secrets(name) for name in SECRET_DETECTORS},
}


# every secret's markers in one expression: a text with none of them (nor a digit) holds nothing any detector finds
_ANY_MARKER = re.compile("|".join(re.escape(marker) for markers in _MARKERS.values() for marker in markers))
_DIGIT = re.compile("[0-9]")  # cards and IBANs have digits


def scan(text: str, detectors: frozenset[str]) -> list[Finding]:
    """What the `detectors` named find in `text`, in order, none overlapping (an earlier detector wins). The text is
    read in its one spelling (`bot.core.spelling.normalised`: digits of any script, fullwidth forms, every kind of
    space and dash), and each find's place is its place in `text` as written."""
    if len(text) < MIN_FOUND:  # shorter than anything detected: the common case, made cheap
        return []
    text = normalised(text[:MAX_SCANNED])
    digits = _DIGIT.search(text) is not None
    marked = _ANY_MARKER.search(text) is not None
    if not (digits or marked):  # (one pass each, instead of every detector's own)
        return []
    found: list[Finding] = []
    for name in DETECTORS:
        if name not in detectors or name not in _FINDERS or not (marked if name in _SECRET_SET else digits):
            continue
        found += [f for f in _FINDERS[name](text) if not any(_overlap(f, other) for other in found)]
    return sorted(found, key=lambda finding: finding.start) if len(found) > 1 else found


def _overlap(one: Finding, other: Finding) -> bool:
    return one.start < other.end and other.start < one.end


# argument names ----------------------------------------------------------------------------------------------

# an argument whose name (lower case, letters and digits only) ends with one of these holds a secret (each string
# and number inside it, when it holds an object or a list); not `tokens`: `max_tokens` is no secret
SECRET_NAMES: dict[str, str] = {
    "password": "password", "passwd": "password", "passphrase": "passphrase", "secret": "secret",
    "token": "token", "apikey": "API key", "privatekey": "private key", "secretkey": "secret key",
    "accesskey": "access key", "credential": "credential", "credentials": "credentials",
    "passwords": "passwords", "authorization": "authorization", "cvv": "card security code",
    "cvv2": "card security code", "cvc": "card security code", "cvc2": "card security code",
    "securitycode": "card security code",
}


_SECRET_NAME = re.compile(f"({'|'.join(SECRET_NAMES)})\\Z")


@functools.lru_cache(maxsize=4096)
def secret_name(name: str) -> str | None:
    """The kind of secret an argument named `name` holds ("password"), or None: case and separators do not matter
    (`API-Key`, `apiKey`, `db_password`, `client_secret`, fullwidth `ｐａｓｓｗｏｒｄ`); `max_tokens`, `secret_name` are
    no secrets."""
    match = _SECRET_NAME.search(re.sub(r"[^a-z0-9]", "", normalised(name).lower()))
    return SECRET_NAMES[match.group(1)] if match else None

"""One spelling of a text for every detector (pure): digits of any script as ASCII digits, fullwidth forms as ASCII,
every space (no-break, thin, ideographic, zero-width) as a space, every dash as `-`, every dot and slash as `.` and
`/`. One character for one, so a place in the spelled text is the same place in the text as written: what is found
in one is replaced in the other.

    >>> normalised("４１１１\u00a0١١١١")
    '4111 1111'

`spelling(value)` is an expression that finds a known value (a hidden one) in any of its spellings in a spelled
text: its letters and digits in order, separators (spaces, dots, slashes, dashes) between them or not.

    >>> bool(spelling("4111111111111111").search(normalised("card 4111-1111-1111-1111")))
    True

Only decimal digits (Unicode category Nd, `unicodedata.decimal`) are digits: `²` and `①` are not (`str.isdigit`
says they are)."""

from __future__ import annotations

import re
import unicodedata
from decimal import Decimal, InvalidOperation
from typing import Final

SPACES: Final = ("\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a\u202f\u205f\u3000"
                 "\u200b\u200c\u200d\u2060\ufeff")
DASHES: Final = "\u00ad\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63"
DOTS: Final = "\u2024\ufe52\u3002\uff61"
SLASHES: Final = "\u2044\u2215"
SEPARATORS: Final = " ./-"  # between the digits of a number as people write it (after `normalised`)
MAX_CACHED = 20_000  # characters whose spelling is remembered (any more are looked up each time)
MAX_SPELLED = 256  # characters of a value found in any spelling (a longer one is found as written)


def _spelled(char: str) -> int:
    code = ord(char)
    if 0xFF01 <= code <= 0xFF5E:  # fullwidth ASCII: digits, letters, punctuation
        return code - 0xFEE0
    if char in SPACES:
        return 32
    if char in DASHES:
        return 45
    if char in DOTS:
        return 46
    if char in SLASHES:
        return 47
    digit = unicodedata.decimal(char, -1)
    return 48 + digit if digit >= 0 else code


class _Table(dict[int, int]):
    """`str.translate`'s table, filled as characters are met."""

    def __missing__(self, code: int) -> int:
        spelled = _spelled(chr(code))
        if len(self) < MAX_CACHED:
            self[code] = spelled
        return spelled


_TABLE = _Table({code: code for code in range(128)})


def normalised(text: str) -> str:
    """`text` in the one spelling the detectors read (the module docstring), as long as `text`."""
    return text if text.isascii() else text.translate(_TABLE)


_DIGITS = frozenset("0123456789")
_NUMBER = re.compile(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?")


def number_digits(value: str) -> str | None:
    """The digits of a whole number written as JSON writes it (`4111111111111111`, `4.111111111111111e15`,
    `4111111111111111.0`), or None for any other text."""
    if not _NUMBER.fullmatch(value) or len(value) > 40:
        return None
    try:
        number = abs(Decimal(value))
    except InvalidOperation:
        return None
    if number != number.to_integral_value() or number >= 10**19:
        return None
    return str(int(number))


def spelling(value: str) -> re.Pattern[str] | None:
    """An expression finding `value` in a `normalised` text however it is written (the module docstring), or None
    when it has fewer than four letters or digits (a short value is found only as written)."""
    compact = number_digits(value.strip()) or re.sub(f"[{re.escape(SEPARATORS)}]", "", normalised(value))
    if len(compact) < 4 or len(compact) > MAX_SPELLED:
        return None
    between = f"[{re.escape(SEPARATORS)}]{{0,3}}"
    body = between.join(re.escape(char) for char in compact)
    before = "(?<![0-9])" if compact[0] in _DIGITS else ""
    after = "(?![0-9])" if compact[-1] in _DIGITS else ""
    return re.compile(before + body + after, re.IGNORECASE)

"""Durations as people type them: `90`, `90s`, `15m`, `2h`, `1d` (1 second to 7 days, unless the caller says another
longest; an error says the range its caller accepts)."""

from __future__ import annotations

import re

MIN_SECONDS = 1
MAX_SECONDS = 7 * 24 * 3600
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_PATTERN = re.compile(r"([0-9]{1,7})\s*([smhd]?)")  # ASCII digits only
FORMS = "90, 90s, 15m, 2h or 1d (from 1 second to 7 days)"  # the forms and the range of `MAX_SECONDS`


class DurationError(ValueError):
    """Not a duration we accept; the message says which forms are. `problem` says what is wrong
    without repeating the text (for replies that show the text their own, escaped, way)."""

    def __init__(self, message: str, *, problem: str = "not a duration") -> None:
        super().__init__(message)
        self.problem = problem


def parse_duration(text: str, *, max_seconds: int = MAX_SECONDS, zero: bool = False) -> int:
    """Seconds in `text` (with `zero`, also `0`: off). A `DurationError` says the forms and this range.

    >>> parse_duration("15m")
    900
    """
    match = _PATTERN.fullmatch(text.strip().lower())
    said = forms(max_seconds, zero=zero)
    if match is None:
        raise DurationError(f"not a duration: {text.strip()[:40]!r}; use {said}", problem="not a duration")
    seconds = int(match.group(1)) * _UNITS[match.group(2)]
    if zero and seconds == 0:
        return 0
    if not MIN_SECONDS <= seconds <= max_seconds:
        raise DurationError(f"{text.strip()[:40]} is out of range; use {said}", problem="out of range")
    return seconds


def forms(max_seconds: int = MAX_SECONDS, *, zero: bool = False) -> str:
    """The forms a duration takes and the range `parse_duration(..., max_seconds=max_seconds)` accepts, said as
    its error says it (`zero`: `0` is accepted too, meaning off).

    >>> forms(10 * 365 * 86400)
    '90, 90s, 15m, 2h or 1d (from 1 second to 3650 days)'
    """
    low = "0 (off) or from 1 second" if zero else "from 1 second"
    return f"90, 90s, 15m, 2h or 1d ({low} to {span(max_seconds)})"


def span(seconds: int) -> str:
    """`seconds` in its largest whole unit, in words: `7 days`, `1 day`, `12 hours`, `90 seconds`."""
    for unit, size in (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1)):
        if seconds % size == 0:
            count = seconds // size
            return f"{count} {unit}{'' if count == 1 else 's'}"
    return f"{seconds} seconds"  # not reached: a second divides every whole number of seconds


def format_duration(seconds: float) -> str:
    """A short human form: `42s`, `15m`, `1h 30m`, `2d`."""
    total = max(0, round(seconds))
    if total < 60:
        return f"{total}s"
    parts: list[str] = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count}{unit}")
    return " ".join(parts[:2])

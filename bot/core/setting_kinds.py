"""The kinds of value a channel setting takes (bot/core/channel_options.py declares which each takes): how a value
typed after `/agent config <key>` is checked and stored (`Kind.parse`, refusing with `BadValue` in the words a
person reads), how the stored string reads back (`load`) and how people read it (`reading`). Pure."""

from __future__ import annotations

import difflib
import itertools
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from agent_approvals.modes import risk_words_setting

from bot.core.durations import FORMS, DurationError, format_duration, parse_duration
from bot.core.msteams_links import parse_teams_target
from bot.core.people import is_email_person, schedule_of, surface_of
from bot.core.reach import FORM as ROUTE_FORM
from bot.core.reach import RouteError, parse_route, route_text

T = TypeVar("T")
PERSON = re.compile(r"<@([UW][A-Z0-9]{2,20})(?:\|[^>]*)?>")  # a mention, as Slack escapes it in a command
GROUP = re.compile(r"<!subteam\^(S[A-Z0-9]{2,20})(?:\|[^>]*)?>")
CHANNEL = re.compile(r"<#([CG][A-Z0-9]{2,20})(?:\|[^>]*)?>|([CG][A-Z0-9]{2,20})")
_DIGITS = re.compile(r"[0-9]{1,3}")  # ASCII only: `str.isdigit` also accepts "²", which `int` refuses
_BOOLEANS = {"true": "true", "yes": "true", "on": "true", "false": "false", "no": "false", "off": "false"}
MAX_REMINDERS = 5
MAX_RISK_WORDS = 40
MAX_RISK_WORD_CHARS = 40
UNCHANGED = "Setting unchanged."


class BadValue(ValueError):
    """A value `/agent config` refuses; the message says why and what to type (and ends "Setting unchanged.")."""


@dataclass(frozen=True, slots=True)
class Given:
    """The words after `/agent config <key>` as Slack sent them (mentions escaped as `<@U…|name>`), with the
    Slack layer's text helpers: `typed` undoes Slack's escaping, `quote` shows typed text inert and short
    inside our messages, `clean` drops control and direction-override characters."""

    words: tuple[str, ...]
    typed: Callable[[str], str]
    quote: Callable[[str], str]
    clean: Callable[[str], str]

    @property
    def value(self) -> str:
        """The first word as typed."""
        return self.typed(self.words[0]).strip()


def _alternatives(words: Sequence[str]) -> str:
    """"a, b or c"."""
    return words[0] if len(words) == 1 else ", ".join(words[:-1]) + " or " + words[-1]


class Kind(Generic[T]):
    """A kind of value: how a typed one is checked and stored (`parse`), read back (`load`) and read by people
    (`reading`, plain text; the Slack layer shows people and channels as mentions and links)."""

    many = False  # whether the value may be several words

    @property
    def form(self) -> str:
        """The value's forms in `/agent help`, e.g. `true|false` (a class attribute where they are always the same)."""
        raise NotImplementedError

    def parse(self, key: str, given: Given) -> str:
        """The value to store, or BadValue."""
        raise NotImplementedError

    def load(self, stored: str) -> T:
        """The value of a stored (non-empty) string; ValueError if it has none (the default then applies)."""
        raise NotImplementedError

    def reading(self, value: T) -> str:
        return str(value)


class Whole(Kind[int]):
    """A kind of whole number, stored in decimal (a duration's seconds, a number)."""

    def load(self, stored: str) -> int:
        return int(stored)


@dataclass(frozen=True, slots=True)
class Duration(Whole):
    """Seconds (stored as such), or `off` (stored "0")."""

    off: str = "off"
    example: str = "<duration>"

    @property
    def form(self) -> str:
        return f"{self.example}|{self.off}"

    def parse(self, key: str, given: Given) -> str:
        if given.value.lower() == self.off:
            return "0"
        try:
            return str(parse_duration(given.value))
        except DurationError as exc:
            quoted = given.quote(given.value)
            raise BadValue(f"Bad {key} `{quoted}`: {exc.problem}; use {FORMS}, or `{self.off}`. {UNCHANGED}") from None

    def reading(self, value: int) -> str:
        return format_duration(value) if value else self.off


@dataclass(frozen=True, slots=True)
class Flag(Kind[bool]):
    """True or false (also yes/no, on/off), stored "true" or "false"."""

    form = "true|false"

    def parse(self, key: str, given: Given) -> str:
        if given.value.lower() not in _BOOLEANS:
            raise BadValue(f"Bad {key} `{given.quote(given.value)}`: use true or false. {UNCHANGED}")
        return _BOOLEANS[given.value.lower()]

    def load(self, stored: str) -> bool:
        return stored == "true"

    def reading(self, value: bool) -> str:
        return "true" if value else "false"


@dataclass(frozen=True, slots=True)
class Number(Whole):
    """A whole number from `low` to `high`; `zero` is how 0 reads when it means off."""

    low: int
    high: int
    zero: str = "0"

    form = "N"

    def parse(self, key: str, given: Given) -> str:
        value = given.value
        if not _DIGITS.fullmatch(value) or not self.low <= int(value) <= self.high:
            raise BadValue(
                f"Bad {key} `{given.quote(value)}`: use a number from {self.low} to {self.high}. {UNCHANGED}"
            )
        return str(int(value))

    def reading(self, value: int) -> str:
        return str(value) if value else self.zero


@dataclass(frozen=True, slots=True)
class Choice(Kind[str]):
    """One of `choices` (stored lower case). `suggest`: an unknown one gets "Did you mean …?"."""

    choices: tuple[str, ...]
    suggest: bool = False
    example: str = ""

    @property
    def form(self) -> str:
        return self.example or "|".join(self.choices)

    def parse(self, key: str, given: Given) -> str:
        value, lowered = given.value, given.value.lower()
        if lowered in self.choices:
            return lowered
        if not self.suggest:
            raise BadValue(f"Bad {key} `{given.quote(value)}`: use {_alternatives(self.choices)}. {UNCHANGED}")
        close = difflib.get_close_matches(lowered, self.choices, n=1)
        hint = f" Did you mean `{close[0]}`?" if close else ""
        listed = ", ".join(f"`{c}`" for c in self.choices)
        raise BadValue(f"Unknown {key} `{given.quote(value)}`.{hint} Valid: {listed}. {UNCHANGED}")

    def load(self, stored: str) -> str:
        if stored not in self.choices:
            raise ValueError(stored)
        return stored


def named(value: str | None) -> tuple[str, ...]:
    """The people (or groups) a stored list names: none for "", "anyone" and "none"."""
    value = value or ""
    return () if value in ("", "anyone", "none") else tuple(v for v in value.split(",") if v)


@dataclass(frozen=True, slots=True)
class People(Kind[tuple[str, ...]]):
    """People (and user groups, with `groups`) named with @, stored as ids "U1,S2"; or one of `nobody`
    (stored as the first), which `nobody_reads` as."""

    groups: bool
    nobody: tuple[str, ...] = ("anyone",)
    nobody_reads: str = "anyone"
    teams: bool = False  # Teams-only people too, as `teams:<object id>` (issue 81: who may decide)
    oncall: bool = False  # whoever is on call in a schedule too, as `oncall:<schedule>` (issue 90)
    emails: bool = False  # e-mail-only people too, as `email:<address>` (issue 90: a channel's admins without Slack)
    many = True

    @property
    def form(self) -> str:
        return ("@people @groups" if self.groups else "@people") + f"|{self.nobody[0]}"

    def parse(self, key: str, given: Given) -> str:
        if len(given.words) == 1 and given.words[0].lower() in self.nobody:
            return self.nobody[0]
        ids: list[str] = []
        for token in given.words:
            person, group = PERSON.fullmatch(token), GROUP.fullmatch(token)
            if person is not None:
                ids.append(person.group(1))
            elif group is not None and self.groups:
                ids.append(group.group(1))
            elif self.teams and surface_of(token.lower()) == "teams":
                ids.append(token.lower())
            elif self.oncall and schedule_of(token) is not None:
                ids.append(token)
            elif self.emails and is_email_person(token.lower()):
                ids.append(token.lower())
            else:
                what = "people and user groups" if self.groups else "people"
                teams = " (a Teams-only person as teams:<object id>)" if self.teams else ""
                shown = given.quote(given.typed(token))
                raise BadValue(f"Bad {key} `{shown}`: name {what} with @{teams}, or say `{self.nobody[0]}`."
                               f" {UNCHANGED}")
        return ",".join(dict.fromkeys(ids))

    def load(self, stored: str) -> tuple[str, ...]:
        return named(stored)

    def reading(self, value: tuple[str, ...]) -> str:
        return ", ".join(value) if value else self.nobody_reads


@dataclass(frozen=True, slots=True)
class Channel(Kind[str]):
    """A channel (`#name` as Slack escapes it, or an id), stored as its id; "" is the worker's default."""

    form = "#channel"

    def parse(self, key: str, given: Given) -> str:
        match = CHANNEL.fullmatch(given.words[0])
        if match is None:
            quoted = given.quote(given.value)
            raise BadValue(f"Bad {key} `{quoted}`: name a channel, e.g. #approvals. {UNCHANGED}")
        return match.group(1) or match.group(2)

    def load(self, stored: str) -> str:
        return stored


@dataclass(frozen=True, slots=True)
class TeamsTarget(Kind[str]):
    """A Microsoft Teams channel or chat (its link, or its conversation id: bot/core/msteams_links.py), stored as the
    conversation id; or `off` (stored as such: no Teams route). The link's tenant is checked where the worker's
    TEAMS_TENANT_ID is known (the Slack layer)."""

    form = "<link or id>|off"

    def parse(self, key: str, given: Given) -> str:
        if given.value.lower() == "off":
            return "off"
        try:
            return parse_teams_target(given.value)
        except ValueError as exc:
            raise BadValue(f"Bad {key} `{given.quote(given.value)}`: {exc}. {UNCHANGED}") from None

    def load(self, stored: str) -> str:
        return "" if stored == "off" else stored

    def reading(self, value: str) -> str:
        return value or "off"


@dataclass(frozen=True, slots=True)
class Reminders(Kind[tuple[int, ...]]):
    """Increasing durations (at most `MAX_REMINDERS`), stored as seconds "900,3600"; or `off`."""

    form = "15m,1h|off"

    def parse(self, key: str, given: Given) -> str:
        value = given.value
        if value.lower() == "off":
            return "off"
        form = f"use increasing durations separated by commas, e.g. `15m,1h` (each {FORMS}), or `off`"
        seconds: list[int] = []
        for part in value.split(","):
            try:
                seconds.append(parse_duration(part))
            except DurationError as exc:
                shown = given.quote(part.strip() or value)
                raise BadValue(f"Bad {key} `{shown}`: {exc.problem}; {form}. {UNCHANGED}") from None
        if len(seconds) > MAX_REMINDERS:
            raise BadValue(f"At most {MAX_REMINDERS} reminders (this is {len(seconds)}). {UNCHANGED}")
        if any(later <= earlier for earlier, later in itertools.pairwise(seconds)):
            raise BadValue(f"Bad {key} `{given.quote(value)}`: the durations are not increasing; {form}. {UNCHANGED}")
        return ",".join(str(s) for s in seconds)

    def load(self, stored: str) -> tuple[int, ...]:
        return tuple(int(s) for s in stored.split(",") if s.isascii() and s.isdigit())

    def reading(self, value: tuple[int, ...]) -> str:
        return ", ".join(format_duration(v) for v in value) or "off"


@dataclass(frozen=True, slots=True)
class Route(Kind[str]):
    """A route across surfaces (bot/core/reach.py), stored in its canonical form; or `off` (stored "off")."""

    many = True
    form = "<route>|off"

    def parse(self, key: str, given: Given) -> str:
        text = given.typed(" ".join(given.words))
        try:
            steps = parse_route(text)
        except RouteError as exc:
            raise BadValue(f"Bad {key} `{given.quote(text)}`: {exc}; use {ROUTE_FORM}, or `off`. {UNCHANGED}") \
                from None
        return route_text(steps) or "off"

    def load(self, stored: str) -> str:
        return route_text(parse_route(stored))  # (a RouteError is a ValueError: the default then applies)

    def reading(self, value: str) -> str:
        return value or "off"


@dataclass(frozen=True, slots=True)
class RiskWords(Kind[tuple[str, ...]]):
    """Comma-separated words or phrases (stored lower case, one space apart), `default` or `none`."""

    many = True

    form = "a, b, c|default|none"

    def parse(self, key: str, given: Given) -> str:
        text = given.typed(" ".join(given.words))
        lowered = text.strip().lower()
        if lowered in ("default", "none"):
            return lowered
        words = [" ".join(given.clean(w).lower().split()) for w in text.split(",")]
        words = list(dict.fromkeys(w for w in words if w))
        if not words:
            raise BadValue(f"Give risk words separated by commas, e.g. `delete, drop table, deploy`. {UNCHANGED}")
        if len(words) > MAX_RISK_WORDS:
            raise BadValue(f"At most {MAX_RISK_WORDS} risk words (this is {len(words)}). {UNCHANGED}")
        long = next((w for w in words if len(w) > MAX_RISK_WORD_CHARS), None)
        if long is not None:
            raise BadValue(
                f"Risk word `{given.quote(long)}` is longer than {MAX_RISK_WORD_CHARS} characters. {UNCHANGED}"
            )
        return ",".join(words)

    def load(self, stored: str) -> tuple[str, ...]:
        return risk_words_setting(stored)

    def reading(self, value: tuple[str, ...]) -> str:
        return ", ".join(value) or "none"

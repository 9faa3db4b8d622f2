"""Plain text for the core's words (bot/approvals/refusals.py), as a surface that escapes what it shows writes them:
Teams' cards (every TextBlock made inert, bot/msteams/cards.py `plain`) and the e-mail page (jinja autoescapes HTML).
People by the names given, no markup at all: no mention, no link syntax, no emphasis (pure).

    >>> writing = PlainWriting({"U0ANA": "Ana"})
    >>> writing.people(["U0ANA", "U0BOB"]), writing.link("https://bot.example/x", "confirm it")
    ('Ana or U0BOB', 'confirm it: https://bot.example/x')
"""

from __future__ import annotations

import re
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\u202a-\u202e\u2066-\u2069]")
_CUT = "… (cut)"


@dataclass(frozen=True)
class PlainWriting:
    """The core's words in plain text (`bot.approvals.ports.Writing`); `names`: a person's or a group's name by id
    (the surface's directory), else their id."""

    names: Mapping[str, str] = field(default_factory=dict)

    def person(self, user: str, /) -> str:
        return self.untrusted(self.names.get(user) or user, 80) or "someone"

    def people(self, ids: Sequence[str], /) -> str:
        if not ids:
            return "anyone"
        named = [self.person(i) for i in ids]
        return named[0] if len(named) == 1 else ", ".join(named[:-1]) + " or " + named[-1]

    def untrusted(self, text: str, limit: int, /) -> str:
        text = _CONTROL.sub("", text)
        return text if len(text) <= limit else text[: limit - len(_CUT)].rstrip() + _CUT

    def link(self, url: str, words: str, /) -> str:
        return f"{words}: {url}"

    def bold(self, words: str, /) -> str:
        return words

    def code(self, words: str, /) -> str:
        return words

    def channel(self, channel: str, /) -> str:
        return self.person(channel)

    def date(self, epoch: float, /) -> str:
        return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))

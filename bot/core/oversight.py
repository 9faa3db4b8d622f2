"""Whether people really decide (issue 80): a card's reading time, the rubber-stamp signals and their thresholds,
and the time-to-decide quantiles, as pure functions of what the decide step keeps (bot/store/lua/lib/oversight.lua).

A decision is **fast** when it came sooner after the card reached the person than the card's reading time: its
words at `WORDS_PER_MINUTE`, never less than `READ_FLOOR_SECONDS`. A **streak** is a person's approvals since their
last rejection or revision; `STREAK_LENGTH` or more is a long one. An **unopened high-risk approval** is an approval
of a call a policy marks `@step_up` (the bot's high-risk calls: the channel setting `step_up high-risk`) by someone
who never opened its details (its page, the full diff, a modal)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

WORDS_PER_MINUTE = 240  # an attentive reader's pace of a card's text
READ_FLOOR_SECONDS = 2.0  # no card is read faster than this, however short
STREAK_LENGTH = 20  # this many approvals in a row with no rejection or revision is a long run (RubberStamping too)
FAST_SHARE = 0.5  # a person more than half of whose approvals this week were fast is flagged
QUANTILES = (0.5, 0.9, 0.99)
DIGEST_SECONDS = 7 * 86400  # the admins' digest: once a week
SIGNALS = ("approvals", "fast", "unopened", "streak", "overrides", "decisions")
_WORD = re.compile(r"[\w'’-]+")


def card_words(text: str) -> int:
    """How many words `text` (a card's texts, joined) holds."""
    return len(_WORD.findall(text))


def blocks_words(blocks: Iterable[Mapping[str, Any]]) -> int:
    """How many words a card's Block Kit blocks show to read (their texts; not the buttons)."""
    texts: list[str] = []

    def walk(node: object) -> None:
        if isinstance(node, Mapping):
            if node.get("type") == "actions":
                return
            if isinstance(node.get("text"), str):
                texts.append(node["text"])
            for value in node.values():
                if isinstance(value, (Mapping, list)):
                    walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(list(blocks))
    return card_words(" ".join(texts))


def reading_seconds(words: int) -> float:
    """The time a card of `words` words takes to read (`WORDS_PER_MINUTE`, at least `READ_FLOOR_SECONDS`)."""
    return round(max(READ_FLOOR_SECONDS, words * 60.0 / WORDS_PER_MINUTE), 1)


def quantile(values: Sequence[float], q: float) -> float:
    """The `q` quantile of `values` (sorted or not; nearest rank, so every figure is a decision's own time)."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, math.ceil(q * len(ordered)))
    return ordered[min(rank, len(ordered)) - 1]


@dataclass(frozen=True, slots=True)
class Timed:
    """One decision's time to decide, as the decide step keeps it: seconds from the card reaching the person."""

    seconds: float
    person: str
    channel: str
    policies: tuple[str, ...]


def parse_times(lines: Iterable[str]) -> list[Timed]:
    """The decide step's entries ("<seconds> <person> <channel> <policy ids>"); malformed ones are skipped."""
    found = []
    for line in lines:
        parts = line.split(" ")
        if len(parts) < 3:
            continue
        try:
            seconds = float(parts[0])
        except ValueError:
            continue
        ids = tuple(i for i in (parts[3] if len(parts) > 3 else "").split(",") if i)
        found.append(Timed(seconds, parts[1], parts[2], ids))
    return found


def grouped(times: Sequence[Timed], scope: str) -> dict[str, list[float]]:
    """The times by person, channel or policy (`scope`)."""
    groups: dict[str, list[float]] = {}
    for timed in times:
        names = {"person": (timed.person,), "channel": (timed.channel,), "policy": timed.policies}[scope]
        for name in names:
            groups.setdefault(name, []).append(timed.seconds)
    return groups


def people_signals(raw: Mapping[str, str]) -> dict[str, dict[str, float]]:
    """{signal: {person: n}} from the global hash {"<signal>|<person>": n}."""
    found: dict[str, dict[str, float]] = {}
    for field, value in raw.items():
        signal, _, person = field.partition("|")
        try:
            found.setdefault(signal, {})[person] = float(value)
        except ValueError:
            continue
    return found


@dataclass(frozen=True, slots=True)
class Reviewer:
    """One person's week in one channel, as its admins' digest shows it."""

    person: str
    approvals: int = 0
    fast: int = 0
    unopened: int = 0
    streak: int = 0
    overrides: int = 0
    decisions: int = 0

    @property
    def flags(self) -> tuple[str, ...]:
        """What makes this week look like rubber-stamping, in words (none: nothing)."""
        said = []
        if self.approvals and self.fast / self.approvals > FAST_SHARE:
            said.append(f"{self.fast} of {self.approvals} approvals faster than the card's reading time")
        if self.streak >= STREAK_LENGTH:
            said.append(f"{self.streak} approvals in a row with no rejection or revision")
        if self.unopened:
            said.append(f"{self.unopened} high-risk call{'s' if self.unopened > 1 else ''} approved without opening"
                        " the details")
        return tuple(said)


def week_by_channel(raw: Mapping[str, str]) -> dict[str, list[Reviewer]]:
    """{channel: reviewers, flagged first} from a tenant's week hash {"<channel>|<person>|<signal>": n}."""
    counts: dict[tuple[str, str], dict[str, int]] = {}
    for field, value in raw.items():
        parts = field.split("|")
        if len(parts) != 3 or parts[2] not in SIGNALS:
            continue
        try:
            counts.setdefault((parts[0], parts[1]), {})[parts[2]] = int(value)
        except ValueError:
            continue
    channels: dict[str, list[Reviewer]] = {}
    for (channel, person), signals in counts.items():
        channels.setdefault(channel, []).append(Reviewer(person, **signals))
    for reviewers in channels.values():
        reviewers.sort(key=lambda r: (not r.flags, -r.approvals, r.person))
    return channels


DETAILS_PATH = "/approvals/{id}"  # the bot's signed-in page of an approval's details (bot/approvals/details_page.py)
DETAILS_WORDS = "Open the details before approving"  # @require_details: on the card, and an Approve's refusal


def approval_page_url(public_url: str, approval_id: str) -> str:
    """The approval's details page on the bot's public URL (PUBLIC_URL), or "" when the bot has none."""
    return public_url.rstrip("/") + DETAILS_PATH.format(id=approval_id) if public_url else ""

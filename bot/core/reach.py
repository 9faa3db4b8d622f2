"""A route that moves across surfaces (issue 90): how to reach an approval's people, in order (pure).

A route is steps separated by `;`, each a surface's name or `oncall:<schedule>`, with `after <duration>` from the ask
(bot/core/durations.py; none: at the ask): `slack; push after 2m; email after 10m; oncall:payments after 30m`. It is
parsed once, strictly (`parse_route`: a `RouteError` says what is wrong, never a silent default), and kept in its
canonical form (`route_text`), which parses to the same steps.

    >>> route_text(parse_route("slack;  Email after 10m; oncall:payments after 30m"))
    'slack; email after 10m; oncall:payments after 30m'
    >>> try:
    ...     parse_route("email after 10m; slack after 2m")
    ... except RouteError as exc:
    ...     print(exc)
    step 2 (slack after 2m) comes before the step before it; order the steps by time
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from bot.core.durations import DurationError, parse_duration

SURFACES = ("slack", "teams", "email", "push")  # the surfaces a step may name
ONCALL = "oncall"  # `oncall:<schedule>`: the people on call now, reached by every configured surface in order
MAX_STEPS = 8
_SCHEDULE = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")
_STEP = re.compile(r"(?P<where>[a-z0-9:_.-]+)(?:\s+after\s+(?P<after>\S+))?")
FORM = "steps separated by `;`, each `slack`, `teams`, `email`, `push` or `oncall:<schedule>`, then" \
    " `after <duration>` from the ask (none: at once), in time order, e.g. `slack; email after 10m;" \
    " oncall:payments after 30m`"


class RouteError(ValueError):
    """Not a route: the message says what is wrong (the text quoted cut short)."""


@dataclass(frozen=True, slots=True)
class ReachStep:
    """One step of a route: its surface (or `oncall`, with its `schedule`) and its seconds after the ask."""

    surface: str
    after: int = 0
    schedule: str = ""

    @property
    def where(self) -> str:
        """The step's place as written: `email`, `oncall:payments`."""
        return f"{ONCALL}:{self.schedule}" if self.surface == ONCALL else self.surface

    @property
    def text(self) -> str:
        return self.where + (f" after {_short(self.after)}" if self.after else "")


def parse_route(text: str) -> tuple[ReachStep, ...]:
    """The steps of route `text` (none: "" or `off`); a `RouteError` says what is wrong."""
    said = " ".join(text.split()).lower()
    if said in ("", "off"):
        return ()
    parts = [part.strip() for part in said.split(";")]
    if parts and not parts[-1]:
        parts.pop()  # a trailing `;`
    if len(parts) > MAX_STEPS:
        raise RouteError(f"at most {MAX_STEPS} steps (this is {len(parts)})")
    steps: list[ReachStep] = []
    for number, part in enumerate(parts, start=1):
        step = _step(number, part)
        if steps and step.after < steps[-1].after:
            raise RouteError(f"step {number} ({part[:40]}) comes before the step before it; order the steps by time")
        if step in steps:
            raise RouteError(f"step {number} ({part[:40]}) is there twice")
        steps.append(step)
    return tuple(steps)


def _step(number: int, part: str) -> ReachStep:
    match = _STEP.fullmatch(part)
    if match is None:
        raise RouteError(f"step {number} ({part[:40]!r}) is not `<surface> [after <duration>]`; use {FORM}")
    where, after_text = match.group("where"), match.group("after")
    after = 0
    if after_text is not None:
        try:
            after = parse_duration(after_text)
        except DurationError as exc:
            raise RouteError(f"step {number}: {exc}") from None
    surface, _, schedule = where.partition(":")
    if surface == ONCALL:
        if not _SCHEDULE.fullmatch(schedule):
            raise RouteError(f"step {number}: `oncall:` needs a schedule's name (letters, digits, _ . -), such as"
                             " `oncall:payments`")
        return ReachStep(ONCALL, after, schedule)
    if schedule or surface not in SURFACES:
        raise RouteError(f"step {number}: {where[:40]!r} is not a surface; use {', '.join(SURFACES)} or"
                         " oncall:<schedule>")
    return ReachStep(surface, after)


def route_text(steps: tuple[ReachStep, ...]) -> str:
    """A route's canonical text ("" for none): what is stored, and parses to `steps` again."""
    return "; ".join(step.text for step in steps)


def steps_of(route: str) -> tuple[ReachStep, ...]:
    """The steps of a stored (canonical) route; none for one that does not parse (not written by `route_text`)."""
    try:
        return parse_route(route)
    except RouteError:
        return ()


def _short(seconds: int) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


# what happened at a step, as kept on the approval (`reached`) and shown on every copy (bot/core/card_words.py)
SENT, SKIPPED, UNAVAILABLE, NOBODY = "sent", "skipped", "unavailable", "nobody"


def reached_items(reached: str) -> list[dict[str, Any]]:
    """The steps taken as an approval keeps them (JSON list of {step, where, surface, outcome, people, at}); [] when
    none or unreadable."""
    try:
        found = json.loads(reached) if reached else []
    except ValueError:
        return []
    return [item for item in found if isinstance(item, dict)] if isinstance(found, list) else []

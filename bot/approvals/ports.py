"""The port between the approval core and a surface (issue 88): what a surface implements, what the core publishes.

A surface (Slack, Microsoft Teams, e-mail) is a place where people decide. The composition root (bot/root.py) builds
it and subscribes its `listener` to the core's events (`Events.subscribe`); the core never calls a surface nor
imports one (tests/test_boundaries.py). A person's vote comes back through the one entry,
`Decisions.decide(person, surface, verb)` (bot/approvals/decisions.py), whatever the surface."""

from __future__ import annotations

from typing import Protocol

from bot.approvals.decisions import Verb
from bot.approvals.events import Event
from bot.core.people import SurfaceName

__all__ = ["Event", "Surface", "SurfaceName", "Verb"]


class Surface(Protocol):
    """What the core tells a surface: each event it publishes, in order (quick: what it does is spawned, and its due
    set keeps it across a worker's end)."""

    def listener(self, event: Event) -> None:
        """Told of `event` (an approval opened, shown, voted, reminded, decided, ended)."""
        ...

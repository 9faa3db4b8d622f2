"""The port between the approval core and a surface (issue 88): what a surface implements, what the core publishes.

A surface (Slack, Microsoft Teams, e-mail) is a place where people decide. The composition root (bot/root.py) builds
it and subscribes its `listener` to the core's events (`Events.subscribe`); the core never calls a surface nor
imports one (tests/test_boundaries.py). A person's vote comes back through the one entry,
`Decisions.decide(person, surface, verb)` (bot/approvals/decisions.py), whatever the surface.

One call still goes the other way, through a port the root fills: the chain's end (bot/approvals/deciders/person.py)
posts a pending approval's Slack card through `CardDelivery` (Slack's `Delivery`, bot/slack/delivery.py) before the
open answers, until the card is drawn by a listener of the events like Teams' and e-mail's copies."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Literal, Protocol

from bot.approvals.events import Event, Events
from bot.core.people import SurfaceName
from bot.core.records import ApprovalRecord, ChannelSettings
from bot.store import Fence

__all__ = ["CardDelivery", "CardRedraws", "Event", "NameDirectory", "Surface", "SurfaceName", "Verb"]

Verb = Literal["approve", "reject", "revise"]  # what a person does on any surface (`Decisions.decide`)


class Surface(Protocol):
    """What the core tells a surface: each event it publishes, in order (quick: what it does is spawned, and its due
    set keeps it across a worker's end)."""

    def listener(self, event: Event) -> None:
        """Told of `event` (an approval opened, shown, voted, reminded, decided, ended)."""
        ...


class CardDelivery(Protocol):
    """Where a pending approval's card goes and its posting (Slack's `Delivery`, bot/slack/delivery.py): the card
    addressed under the channel's `deliver` (its copies in direct messages), posted, noted, its run marked waiting,
    said (`CardPosted` on `events`). `elsewhere`: whether an approval is shown on another surface (Teams' route, an
    e-mail approver: with Slack refusing the bot token or failing, it waits there instead of being cancelled; Slack
    failing, its card owed is posted later, `post_late`)."""

    events: Events
    elsewhere: Callable[[ApprovalRecord], Awaitable[bool]] | None

    async def with_dm_copies(
        self, approval: ApprovalRecord, settings: ChannelSettings
    ) -> tuple[ApprovalRecord, list[str]]: ...

    async def post_card(self, approval: ApprovalRecord, *, fence: Fence | None = None) -> tuple[str, str]: ...

    async def post_late(self, approval: ApprovalRecord) -> tuple[str, str]: ...

    async def post_copies(self, approval: ApprovalRecord) -> None: ...

    async def show_posted(
        self, approval: ApprovalRecord, *, channel: str, ts: str, fence: Fence | None = None
    ) -> tuple[str, str]: ...


class NameDirectory(Protocol):
    """A person's name in plain text, as a surface's directory says it (Slack's `Directory`: a display name; None
    when it cannot say): what `ApprovalService.name_of` asks."""

    async def name_of(self, user: str, /) -> str | None: ...


class CardRedraws(Protocol):
    """The Slack card's redraws that a vote or a refused click still asks for (`Decisions`; Slack's `CardService`,
    bot/approvals/card_sync.py, is it), until the card is redrawn by a listener of the events alone."""

    def schedule(self, approval: ApprovalRecord) -> None:
        """Queue a redraw of `approval`'s card as this record has it."""
        ...

    def shows(self, approval: ApprovalRecord) -> bool:
        """Whether the card was drawn in this state a moment ago (a redraw would change nothing)."""
        ...

    async def show_on_copy(self, approval: ApprovalRecord, *, channel: str, ts: str) -> bool:
        """Draw `approval` on an extra card of it (channel, ts), without buttons."""
        ...

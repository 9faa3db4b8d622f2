"""The port between the approval core and a surface (issue 88): what a surface implements, what the core publishes.

A surface (Slack, Microsoft Teams, e-mail) is a place where people decide. The composition root (bot/root.py) builds
it and subscribes its `listener` to the core's events (`Events.subscribe`); the core never calls a surface nor
imports one (tests/test_boundaries.py). A person's vote comes back through the one entry,
`Decisions.decide(person, surface, verb)` (bot/approvals/decisions.py), whatever the surface.

The core's words name people and quote untrusted text, but a surface writes them: `Writing` is how (Slack's mrkdwn,
bot/slack/refusals.py; plain text for Teams' cards and the e-mail page, which escape it: bot/core/writing.py).

Some calls still go the other way, through ports the root fills: the chain's end (bot/approvals/deciders/person.py)
posts a pending approval's Slack card through `CardDelivery` (Slack's `Delivery`, bot/slack/delivery.py) before the
open answers, until the card is drawn by a listener of the events like Teams' and e-mail's copies; a vote asks the
card's redraw through `CardRedraws` (Slack's `CardService`, bot/slack/card_sync.py); the nudger
(bot/approvals/nudges.py) has each step it published posted in the card's thread through `NudgeTeller` (Slack's
`SlackNudges`, bot/slack/nudges.py), which also says an attestation's end and sends the approvals held for the hour;
a route's step (bot/approvals/reach.py) reaches people through the `Reacher` the root registered under the step's
surface's name, and an `oncall:<schedule>` step asks `OnCallSchedules` who is on call (issue 90)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Literal, Protocol

from bot.approvals.events import Event, Events, Nudged
from bot.core.people import SurfaceName
from bot.core.records import ApprovalRecord, ChannelSettings
from bot.store import Fence
from bot.store.attestations import Reminder

__all__ = ["CardDelivery", "CardRedraws", "Event", "NameDirectory", "NudgeTeller", "OnCallSchedules", "Posted",
           "Reacher", "Surface", "SurfaceName", "Verb", "Writing"]

Verb = Literal["approve", "reject", "revise"]  # what a person does on any surface (`Decisions.decide`)
Posted = list[tuple[str, str]]  # where a step of the nudger was posted (Slack: each message's channel and ts)


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


class Writing(Protocol):
    """How a surface writes the core's words (bot/approvals/refusals.py, attesting.py): a person, people, untrusted
    text, a link, emphasis, a command, a channel, a date. The words stay the core's; only these parts are the
    surface's."""

    def person(self, user: str, /) -> str:
        """A person by id (a Slack user, a Teams-only or an e-mail-only person)."""
        ...

    def people(self, ids: Sequence[str], /) -> str:
        """People and user groups by id, as one phrase ("a, b or c"; "anyone" for none)."""
        ...

    def untrusted(self, text: str, limit: int, /) -> str:
        """Text someone else wrote, shown as written (inert), within about `limit` characters."""
        ...

    def link(self, url: str, words: str, /) -> str:
        """The bot's own address `url`, shown as `words`."""
        ...

    def bold(self, words: str, /) -> str: ...

    def code(self, words: str, /) -> str:
        """A command or a setting's name, as typed."""
        ...

    def channel(self, channel: str, /) -> str:
        """A channel by id."""
        ...

    def date(self, epoch: float, /) -> str:
        """A moment (an epoch), as its readers see dates (Slack: each reader's own time zone; a page: UTC)."""
        ...


class CardRedraws(Protocol):
    """The Slack card's redraws that a vote or a refused click still asks for (`Decisions`, `ApprovalService.cards`;
    Slack's `CardService`, bot/slack/card_sync.py, is it), until the card is redrawn by a listener of the events
    alone."""

    def schedule(self, approval: ApprovalRecord) -> None:
        """Queue a redraw of `approval`'s card as this record has it."""
        ...

    def shows(self, approval: ApprovalRecord) -> bool:
        """Whether the card was drawn in this state a moment ago (a redraw would change nothing)."""
        ...

    async def show_on_copy(self, approval: ApprovalRecord, *, channel: str, ts: str) -> bool:
        """Draw `approval` on an extra card of it (channel, ts), without buttons."""
        ...


class NudgeTeller(Protocol):
    """Where the nudger's steps are told besides the events (Slack's `SlackNudges`, bot/slack/nudges.py, given by the
    root): the core claims a due step, publishes it (`Nudged`) and notes it told; this posts it, exactly once across
    workers (a step posted before by a worker that died is found again, not posted twice)."""

    async def people(self, approval: ApprovalRecord, mentions: Sequence[str], /) -> set[str]:
        """The people `mentions` name (a user group's members as the directory last said them; its people alone
        when the directory cannot say)."""
        ...

    async def tell(self, nudged: Nudged, *, mentions: Sequence[str], now: float) -> Posted | None:
        """Post the step `nudged` (mentioning `mentions`): where it was posted; None when the surface refused (logged:
        the step is due again at the claim's end)."""
        ...

    async def take_back(self, posted: Posted, /) -> None:
        """Delete what was posted of steps not noted told (the approval was decided meanwhile)."""
        ...

    async def attestation_ending(self, due: Reminder, *, now: float) -> bool:
        """Tell a person their attestation ends soon; False when the surface refused (logged)."""
        ...

    async def send_held(self, now: float, /) -> int:
        """Send the approvals held for the hour due by `now` (fatigue), one message per person; how many got one."""
        ...


class OnCallSchedules(Protocol):
    """Who is on call now (issue 90; bot/people/oncall.py `OnCall`, given by the root): the person ids on call now in
    `schedule`; None when the provider cannot answer (none set, down, a bad token, an answer of another shape)."""

    async def now(self, schedule: str, /) -> list[str] | None: ...


class Reacher(Protocol):
    """A surface that reaches people for a route's step (issue 90; registered by the root under its surface's name:
    Slack's direct messages, e-mail's approval mail, push)."""

    async def reach(self, approval: ApprovalRecord, people: Sequence[str], /) -> list[str]:
        """Reach `people` (person ids, user groups) about `approval` now: the people reached (none: nobody could
        be); an exception: the surface failed (the step is said unavailable)."""
        ...

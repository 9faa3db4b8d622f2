"""A pending approval delivered, once the chain's end stored it (bot/approvals/deciders/person.py, through the core's
port `CardDelivery`): its card posted where the channel's settings say (`deliver`: the approvals channel, direct
messages to each person who may decide, or both), noted in Redis, the run marked waiting, and said
(`events.CardPosted`: the Homes of who may decide listen). A card posted by a worker that stopped before noting it is
noted, or removed for the other card, here.
Slack's due work (bot/slack/due.py `SlackDue`) posts through it the card of an approval whose poster died first (the
runs' supervisor finds it), and a card owed: Slack failing (HTTP 5xx or 429, a timeout, a connection refused:
`failing`) as an approval shown on another surface opened (`Delivery.elsewhere`: an e-mail approver, a Teams route),
the approval waits there, not cancelled,
and its card is put in Slack's own due work (the outbox, `{p}:outbox`): its drain (`SlackDue.drain`) finds it
pending with no card and posts it (`post_late`) once Slack answers again, once across workers (a `post:<id>` claim;
a second card a crash let through is removed when noted, `show_posted`). An approval only Slack shows is cancelled,
as before, on a refusal; Slack not answering, its ask fails (nobody could see it)."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace

import aiohttp
from slack_sdk.errors import SlackApiError

from bot.approvals import CardPosted, Events
from bot.core.oversight import blocks_words, reading_seconds
from bot.core.records import ApprovalRecord, ChannelSettings
from bot.slack.blocks import build_approval_blocks, proposal_is_cut
from bot.slack.card_sync import CardService
from bot.slack.directory import Directory
from bot.slack.workspaces import TOKEN_GONE
from bot.store import Fence, Fenced, Store, persistently

log = logging.getLogger(__name__)
Cancel = Callable[[str, str, str], Awaitable[object]]  # (approval id, by, reason): ApprovalService.cancel
OWED_RETRY = 20.0  # seconds between tries of a card owed (Slack failing as its approval opened)


# what a refusal of Slack's means, told with it where it is not plain (Enterprise Grid: issue 65)
REFUSED_CARD = {
    "team_access_not_granted": " (the app is approved for the Enterprise Grid organisation but not added to this"
                               " workspace: an org admin adds it to the workspace in the organisation's app settings)",
}

def failing(exc: BaseException) -> bool:
    """Slack failing rather than refusing: HTTP 5xx or 429, a timeout, a connection refused or broken."""
    if isinstance(exc, SlackApiError):
        status = getattr(exc.response, "status_code", 200)
        return isinstance(status, int) and (status >= 500 or status == 429)
    return isinstance(exc, (aiohttp.ClientError, TimeoutError))


class Delivery:
    """Where a pending approval's card goes, and its posting (the module docstring).

    Args:
        cancel: cancels an approval whose card Slack refused (the one way: `ApprovalService.cancel`).
        events: where a posted card is said (`CardPosted`).
        sweeper_wake: called when an approval is posted (its deadline or first reminder may be the nearest: the
            core's own loops, a direct call).
    """

    def __init__(self, *, store: Store, cards: CardService, directory: Directory, cancel: Cancel,
                 events: Events | None = None, sweeper_wake: Callable[[], None] | None = None) -> None:
        self.store = store
        self.cards = cards
        self.events = events or Events()
        self._directory = directory
        self._cancel = cancel
        self._sweeper_wake = sweeper_wake
        # whether an approval is shown on another surface (Teams' route: set where Teams is built); with Slack refusing
        # the bot token, such an approval waits there instead of being cancelled (#87)
        self.elsewhere: Callable[[ApprovalRecord], Awaitable[bool]] | None = None

    async def with_dm_copies(
        self, approval: ApprovalRecord, settings: ChannelSettings
    ) -> tuple[ApprovalRecord, list[str]]:
        """Where the card goes under the channel's `deliver`: with `dm` or `both`, a copy in a direct
        message to each person who may decide (`dm`: the first of them holds the card itself). Returns
        the approval so addressed and the people messaged; with nobody to message (or Slack refusing
        to open any DM) the card stays in the approvals channel."""
        if settings.deliver == "channel" or not approval.approvers:
            return approval, []
        try:
            people = await self._directory.people(approval.approvers)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.warning(
                "approval %s: approvers not resolved (%s); card in the channel", approval.id, type(exc).__name__
            )
            return approval, []
        if not approval.allow_self_approval:
            people.discard(approval.requester)
        dms: dict[str, str] = {}
        for person in sorted(people):
            channel = await self._directory.dm_channel(person)
            if channel is not None:
                dms[person] = channel
        if not dms:
            log.warning("approval %s: no direct message could be opened; the card goes to the channel", approval.id)
            return approval, []
        channels = list(dms.values())
        if settings.deliver == "dm":
            approval = replace(approval, card_channel=channels.pop(0))
        return replace(approval, copies=tuple(f"{channel}/" for channel in channels)), list(dms)

    async def post_card(self, approval: ApprovalRecord, *, fence: Fence | None = None) -> tuple[str, str]:
        """Post a stored pending approval's card (also one whose first poster stopped before it), note it and mark
        its run waiting. Every Redis step is tried
        again through a Redis blip, and is fenced: if `fence` no longer owns the run, `Fenced` is raised. If
        Slack refuses the card, the approval is cancelled and RuntimeError says why, unless Slack refuses the bot token
        itself or is failing (`failing`) and the approval is shown on another surface (`elsewhere`: Teams, e-mail): it
        waits there, with no Slack card yet (("", "")); Slack failing, its card is owed (the outbox: `post_late`
        posts it once Slack answers). Slack not answering an approval only Slack shows, its error is raised.
        Returns (channel, ts)."""
        try:
            channel, ts = await self.cards.post(approval)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            error = str(exc.response.get("error")) if isinstance(exc, SlackApiError) else type(exc).__name__
            down = failing(exc)
            if (error in TOKEN_GONE or down) and self.elsewhere is not None and await self.elsewhere(approval):
                return await self._waits_elsewhere(approval, error, owed=down and error not in TOKEN_GONE)
            if not isinstance(exc, SlackApiError):
                raise
            await self._cancel(approval.id, "system", "card not posted")
            raise RuntimeError(f"could not post the approval card: {error}{REFUSED_CARD.get(error, '')}") from None
        finally:  # (after the card: the sweepers' reads do not compete with its post; they sleep a second at most)
            if self._sweeper_wake is not None:
                self._sweeper_wake()
        shown = await self.show_posted(approval, channel=channel, ts=ts, fence=fence)
        await self.post_copies(approval)
        self.events.publish(CardPosted(approval, shown))
        return shown

    async def _waits_elsewhere(self, approval: ApprovalRecord, error: str, *, owed: bool) -> tuple[str, str]:
        if owed:  # Slack's own due work posts it once Slack answers (`SlackDue.drain`)
            await persistently(lambda: self.store.outbox.add(approval.id, due=time.time() + OWED_RETRY),
                               what=f"owing the card of {approval.id}")
            log.warning("approval %s: Slack is failing (%s): its card is posted once Slack answers; it waits on"
                        " another surface meanwhile", approval.id, error)
        else:
            log.warning("approval %s: Slack refuses the bot token (%s): no card in Slack; it waits on another"
                        " surface", approval.id, error)
        return ("", "")

    async def post_late(self, approval: ApprovalRecord) -> tuple[str, str]:
        """The card owed of a pending approval that waited on another surface while Slack failed: posted, noted
        (a second card of it removed), its copies posted and said (`CardPosted`), as `post_card` does; Slack's
        error raised (the caller tries again later, `failing`, or leaves it waiting elsewhere)."""
        channel, ts = await self.cards.post(approval)
        shown = await self.show_posted(approval, channel=channel, ts=ts)
        await self.post_copies(approval)
        self.events.publish(CardPosted(approval, shown))
        return shown

    async def post_copies(self, approval: ApprovalRecord) -> None:
        """Post the copies of the card in direct messages not posted yet, and note them (a copy posted
        but not noted, its worker dying in between, is noted by its first click)."""
        posted = await self.cards.post_copies(approval) if approval.copies else {}
        if posted:
            await persistently(
                lambda: self.store.approvals.note_copies(approval.id, posted), what=f"noting copies of {approval.id}"
            )

    async def show_posted(
        self, approval: ApprovalRecord, *, channel: str, ts: str, fence: Fence | None = None
    ) -> tuple[str, str]:
        """Note a posted card in Redis (through a blip: a decided approval's card is then redrawn),
        attach the full proposal when the card shows it cut, and mark the run waiting. If another card
        shows the approval already (posted again by another worker while this one looked dead), this
        one is removed."""
        what = f"attaching the card of approval {approval.id}"
        read = reading_seconds(blocks_words(build_approval_blocks(approval)))  # (issue 80: a decision faster is fast)
        attached = await persistently(
            lambda: self.store.approvals.attach_card(approval.id, channel=channel, ts=ts, read_seconds=read), what=what
        )
        if attached == "other":  # the run goes on waiting, for the other card
            await self.cards.remove(channel=channel, ts=ts)
            return channel, ts
        if proposal_is_cut(approval.proposal):
            await self.cards.attach_full_text(approval, channel=channel, ts=ts)
        marked = await persistently(
            lambda: self.store.runs.update(approval.run_id, fence=fence, status="waiting"), what=what
        )
        if marked == "fenced":
            raise Fenced(approval.run_id)
        return channel, ts

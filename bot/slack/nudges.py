"""The nudger's steps told in Slack (the core's `NudgeTeller`, bot/approvals/ports.py; the nudger, bot/approvals/
nudges.py, claims, publishes and notes them): a reminder or an escalation posted in the card's thread, mentioning who
may still decide, and in the direct messages of those who got the card there; an escalation's new approvers given
their copy of the card where cards go by DM; an attestation's end said in a DM; the approvals held for the hour sent
(`HeldBatches`, bot/slack/held_batches.py).

Exactly once across workers: each message carries the step in its metadata (`NUDGE_EVENT`: {approval, step}); an
approval marked `telling` (a worker died after posting a step and before noting it told) has each thread read back
(`conversations.replies`) and only what is missing posted. Slack refusing a post: `tell` says None (the step is due
again at the claim's end); the approval decided meanwhile: what was posted is deleted (`take_back`)."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import replace

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

import bot.approvals.attesting as attesting
from bot.approvals import Nudged
from bot.core.records import ApprovalRecord
from bot.slack.blocks import escalation_text, reminder_text
from bot.slack.card_sync import CardService
from bot.slack.directory import Directory
from bot.slack.held_batches import HeldBatches
from bot.slack.refusals import SLACK
from bot.store import Store
from bot.store.attestations import Reminder

log = logging.getLogger(__name__)

SLACK_FAILED = (SlackApiError, aiohttp.ClientError, TimeoutError)
NUDGE_EVENT = "hitl_nudge"  # the metadata of a reminder's or escalation's message: {approval, step}


def _error(exc: Exception) -> str:
    return str(exc.response.get("error")) if isinstance(exc, SlackApiError) else type(exc).__name__


class SlackNudges:
    """Posts the nudger's steps in Slack (see the module docstring): the root gives it to the `Nudger`."""

    def __init__(self, *, store: Store, slack: AsyncWebClient, directory: Directory, cards: CardService) -> None:
        self._store = store
        self._slack = slack
        self._directory = directory
        self._cards = cards
        self._batches = HeldBatches(store, slack, directory, cards)  # approvals held for the hour (fatigue)

    async def send_held(self, now: float, /) -> int:
        return await self._batches.send(now)

    async def attestation_ending(self, due: Reminder, *, now: float) -> bool:
        """A DM: `due`'s attestation ends soon. False (logged) when Slack refused it."""
        try:
            await self._slack.chat_postMessage(channel=due.user, text=":hourglass: " + attesting.reminder_text(
                due.scope, due.until, now=now, writing=SLACK))
        except SLACK_FAILED as exc:
            log.warning("an attestation's reminder to %s was not sent (%s): again in an hour", due.user, _error(exc))
            return False
        return True

    async def people(self, approval: ApprovalRecord, mentions: Sequence[str], /) -> set[str]:
        try:
            return await self._directory.people(mentions)
        except SLACK_FAILED as exc:
            log.warning("approval %s: user groups not read for reminders (%s)", approval.id, type(exc).__name__)
            return {m for m in mentions if not m.startswith("S")}

    async def take_back(self, posted: list[tuple[str, str]], /) -> None:
        for channel, ts in posted:
            with contextlib.suppress(*SLACK_FAILED):
                await self._slack.chat_delete(channel=channel, ts=ts)

    async def tell(self, nudged: Nudged, *, mentions: Sequence[str], now: float) -> list[tuple[str, str]] | None:
        try:
            return await self._tell(nudged, mentions, now)
        except SLACK_FAILED as exc:  # not told: due again at the claim's end
            log.warning("approval %s: a reminder was not posted (%s)", nudged.approval.id, _error(exc))
            return None

    async def _tell(self, nudged: Nudged, mentions: Sequence[str], now: float) -> list[tuple[str, str]]:
        """Post one step: in the card's thread (mentioning everyone who may still decide) and in each
        direct message holding a copy of the card whose person may (mentioning them). Returns where it was
        posted."""
        approval, delegated, people = nudged.approval, dict(nudged.delegated), set(nudged.people)
        if nudged.kind == "escalate":
            self._cards.schedule(approval)  # "Escalated to ..." on the card now (the outbox has it too)
            await self._copies_for_escalation(approval)
        dms = await self._dm_owners(approval)
        posted: list[tuple[str, str]] = []
        names = await self._cards.names(approval)  # Teams-only approvers shown by name
        key = {"approval": approval.id, "step": f"{nudged.kind}-{nudged.number}"}
        for channel, ts in [(approval.card_channel, approval.card_ts), *approval.copy_cards]:
            owner = dms.get(channel)
            if channel.startswith("D") and (owner is None or owner not in people):
                continue  # a person's own copy: only when they are asked
            if approval.telling and ts and await self._posted_before(channel, ts, key):
                continue  # the nudger before died after posting it and before noting it told
            who = [owner] if owner is not None else mentions
            text = (
                escalation_text(approval, mentions=who, delegated=delegated, names=names)
                if nudged.kind == "escalate"
                else reminder_text(approval, number=nudged.number, mentions=who, delegated=delegated, now=now,
                                   names=names)
            )
            response = await self._slack.chat_postMessage(
                channel=channel,
                thread_ts=ts or None,
                text=text,
                unfurl_links=False,
                unfurl_media=False,
                metadata={"event_type": NUDGE_EVENT, "event_payload": key},
            )
            posted.append((str(response["channel"]), str(response["ts"])))
        return posted

    async def _posted_before(self, channel: str, ts: str, key: dict[str, str]) -> bool:
        """Whether the thread of (channel, ts) holds this step's message already (by its metadata)."""
        response = await self._slack.conversations_replies(channel=channel, ts=ts, include_all_metadata=True, limit=200)
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == NUDGE_EVENT and metadata.get("event_payload") == key:
                return True
        return False

    async def _dm_owners(self, approval: ApprovalRecord) -> dict[str, str]:
        """Whose direct message each of the approval's DM cards is in ({channel: person})."""
        channels = {c for c, _ in [(approval.card_channel, ""), *approval.copy_cards] if c.startswith("D")}
        if not channels:
            return {}
        candidates = await self.people(approval, [a for a in approval.approvers])
        owners: dict[str, str] = {}
        for person in sorted(candidates):
            channel = await self._directory.dm_channel(person)
            if channel in channels:
                owners[channel] = person
        return owners

    async def _copies_for_escalation(self, approval: ApprovalRecord) -> None:
        """Where cards go by direct message, the people an escalation lets in get their copy too."""
        if not (approval.card_channel.startswith("D") or approval.copies):
            return
        people = await self.people(approval, approval.escalate_to)
        if not approval.allow_self_approval:
            people.discard(approval.requester)
        known = {copy.partition("/")[0] for copy in approval.copies} | {approval.card_channel}
        new: dict[str, str] = {}
        for person in sorted(people):
            channel = await self._directory.dm_channel(person)
            if channel is not None and channel not in known:
                new[channel] = ""
        if not new:
            return
        await self._store.approvals.note_copies(approval.id, new)  # before posting: a click on one counts
        posted = await self._cards.post_copies(replace(approval, copies=tuple(f"{c}/" for c in new)))
        if posted:
            await self._store.approvals.note_copies(approval.id, posted)

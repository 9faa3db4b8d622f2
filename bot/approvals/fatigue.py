"""Fatigue (issue 80): no approver is flooded. The cards each named approver got this hour are counted per workspace
(bot/store/fatigue.py); above the channel's `max_asks_per_hour`, a new approval goes to the other named approvers
who are under it (as many as its quorum needs), its card saying so ("sent to @bob: @ana has had 30 cards this hour")
and audited (`rerouted`, one entry per person passed over). When too few are under it, it is held for the next
hour's budget: its card in the approvals channel says so (anyone there who may decide still can), nobody over budget
gets a copy by direct message now, each person is audited (`rerouted`, reason "held for the next hour"), and at the
next hour (HH:00 UTC) each of them gets one direct message listing every approval held for them still pending
(`HeldBatches`, a step of the nudger: taken for a lease, once across workers; a worker killed after posting a batch
and before letting it go leaves it to the next, which finds it in the DM by its metadata and does not post it again),
counted in that hour's budget. It only
ever narrows who decides: nobody is added, and an approval open to anyone (no named approvers) or to user groups alone
is never rerouted."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from collections.abc import Callable
from functools import partial

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.approvals.card_sync import CardService
from bot.core.fatigue import REASONS, REROUTED, WAITING, held_for, held_until, passed_over, routed
from bot.core.records import ApprovalRecord, ChannelSettings
from bot.slack.blocks.nudges import HELD_EVENT, held_batch_text
from bot.slack.directory import Directory
from bot.store import Store, StoreUnavailable, persistently

log = logging.getLogger(__name__)
SLACK_FAILED = (SlackApiError, aiohttp.ClientError, TimeoutError)


def held(approval: ApprovalRecord) -> bool:
    """Whether `approval` is held for the next hour's budget (every approver over it)."""
    return passed_over(approval.fatigue)[0] == WAITING


class FatigueRouting:
    """Reads the counts before a person is asked (`route`), holds what waits for the next hour (`hold`), counts and
    audits once the card is out (`delivered`). `rerouted`: a person passed over (the metric
    `hitl_fatigue_rerouted`)."""

    def __init__(self, store: Store, *, rerouted: Callable[[], None] | None = None) -> None:
        self._store = store
        self._rerouted = rerouted

    async def route(self, approval: ApprovalRecord, settings: ChannelSettings) -> ApprovalRecord:
        """`approval` routed around the approvers over the channel's `max_asks_per_hour` (unchanged when off)."""
        limit = settings.max_asks_per_hour
        people = [a for a in approval.approvers if not a.startswith("S")]
        if limit <= 0 or not people:
            return approval
        return routed(approval, await self._store.fatigue.counts(people), limit)

    async def hold(self, approval: ApprovalRecord) -> None:
        """An approval held for the next hour, just stored: each of its people noted for that hour's batch (tried
        again while Redis is away)."""
        people = held_for(approval)
        if people:
            await persistently(partial(self._store.fatigue.hold, approval.id, people, until=held_until(approval)),
                               what=f"holding approval {approval.id} for the next hour")

    async def delivered(self, approval: ApprovalRecord) -> None:
        """Its card is out: one more card for each named approver it went to (not those over budget: when it is held
        they get it at the next hour; Redis failing now: said and let be, the approval is asked), and each person
        passed over audited (tried again while Redis is away)."""
        how, over = passed_over(approval.fatigue)
        people = [a for a in approval.approvers if not a.startswith("S") and a not in over]
        try:
            await self._store.fatigue.delivered(people)
        except StoreUnavailable as exc:
            log.warning("approval %s: its cards were not counted (%s)", approval.id, exc.cause)
        to = ",".join(a for a in approval.approvers if a not in over) if how == REROUTED else ""
        for person, count in over.items():
            entry = {"approval": approval.id, "run": approval.run_id, "channel": approval.origin_channel,
                     "from_person": person, "to_person": to, "reason": REASONS[how], "cards": str(count)}
            if how == WAITING:
                entry["until"] = repr(held_until(approval))
            await persistently(partial(self._store.audit.append, "rerouted", **entry), what="auditing a reroute")
            if self._rerouted is not None and how == REROUTED:
                self._rerouted()


class HeldBatches:
    """At the hour, the approvals held for it: one direct message per person listing those still pending (decided
    meanwhile: left out), counted in the new hour's budget. A step of the nudger's sweep (`send`): the held entries
    are taken for a lease (another worker takes none of them; one that dies leaves them due again) and let go once
    sent; a message Slack refused is tried again when the lease ends."""

    def __init__(self, store: Store, slack: AsyncWebClient, directory: Directory, cards: CardService) -> None:
        self._store = store
        self._slack = slack
        self._directory = directory
        self._cards = cards

    async def send(self, now: float) -> int:
        """Send the batches due by `now`; how many people got one."""
        taken = await self._store.fatigue.take_held(now)
        if not taken:
            return 0
        by_person: dict[str, list[str]] = defaultdict(list)
        for person, approval_id in taken:
            by_person[person].append(approval_id)
        sent = 0
        for person, ids in by_person.items():
            approvals = [a for a in [await self._store.approvals.get(i) for i in dict.fromkeys(ids)]
                         if a is not None and a.pending]
            done = [(person, i) for i in ids]
            how = await self._post(person, approvals, now) if approvals else "none"
            if not how:
                continue  # due again when the lease ends
            sent += how == "sent"
            await self._store.fatigue.let_go(done)
        return sent

    async def _post(self, person: str, approvals: list[ApprovalRecord], now: float) -> str:
        """One direct message to `person` listing `approvals`, counted in the hour of `now`: "sent", "before" (it
        was, by a worker that died before letting it go) or "" (not sent)."""
        channel = await self._directory.dm_channel(person)
        if channel is None:
            return ""
        hour = str(int(now // 3600))
        try:
            if await self._sent_before(channel, hour):  # a worker before died after posting it and before letting go
                return "before"
            links = [await self._cards.link((a.card_channel, a.card_ts)) for a in approvals]
            await self._slack.chat_postMessage(
                channel=channel, text=held_batch_text(approvals, links, now=now), unfurl_links=False,
                unfurl_media=False,
                metadata={"event_type": HELD_EVENT,
                          "event_payload": {"hour": hour, "approvals": ",".join(a.id for a in approvals)}},
            )
        except SLACK_FAILED as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning("the approvals held for %s were not sent (%s): again shortly", person, error)
            return ""
        with contextlib.suppress(StoreUnavailable):
            await self._store.fatigue.delivered([person], now=now, cards=len(approvals))
        return "sent"

    async def _sent_before(self, channel: str, hour: str) -> bool:
        """Whether the direct message `channel` holds this hour's batch already (by its metadata, among its last
        messages)."""
        response = await self._slack.conversations_history(channel=channel, include_all_metadata=True, limit=50)
        for message in response.get("messages") or []:
            metadata = message.get("metadata") or {}
            if metadata.get("event_type") == HELD_EVENT and (metadata.get("event_payload") or {}).get("hour") == hour:
                return True
        return False

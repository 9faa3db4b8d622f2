"""The approvals held for the hour (fatigue, issue 80: bot/approvals/fatigue.py holds them, every approver over the
channel's `max_asks_per_hour`), sent at the hour as one Slack direct message per person; a step of the nudger's
sweep, through Slack's `SlackNudges` (bot/slack/nudges.py)."""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.records import ApprovalRecord
from bot.slack.blocks.nudges import HELD_EVENT, held_batch_text
from bot.slack.card_sync import CardService
from bot.slack.directory import Directory
from bot.store import Store, StoreUnavailable

log = logging.getLogger(__name__)
SLACK_FAILED = (SlackApiError, aiohttp.ClientError, TimeoutError)


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

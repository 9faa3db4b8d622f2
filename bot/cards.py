"""Keeps approval cards in Slack in step with Redis."""

from __future__ import annotations

import logging
import time
from typing import Any

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import approval_fallback_text, build_approval_blocks, build_decided_blocks, untrusted_parts
from bot.records import ApprovalRecord
from bot.store import ApprovalStore

log = logging.getLogger(__name__)

MAX_PARTS = 40  # thread messages of at most 2,900 characters when a file upload is refused


class CardService:
    """Posts a pending approval's card and rewrites it once decided (with `chat.update`, which,
    unlike `response_url`, works however late the decision comes).

    The decide step itself puts the approval in the outbox (a sorted set by due time), in the same
    atomic step as the decision; a successful update takes it out. So if Slack refuses, or this worker
    dies before it could update the card, any worker's supervisor updates it later."""

    def __init__(self, slack: AsyncWebClient, *, store: ApprovalStore | None = None, retry_after: float = 2.0) -> None:
        self._slack = slack
        self._store = store  # where refused updates wait to be retried (the outbox)
        self._retry_after = retry_after

    async def refresh(self, approval: ApprovalRecord) -> bool:
        """Draw the card as Redis has it now."""
        return await (self.show_pending(approval) if approval.pending else self.show_decision(approval))

    async def post(self, approval: ApprovalRecord) -> tuple[str, str]:
        """Post the pending card; returns its (channel id, ts)."""
        response = await self._slack.chat_postMessage(
            channel=approval.card_channel,
            text=approval_fallback_text(approval),
            blocks=build_approval_blocks(approval),
            unfurl_links=False,
            unfurl_media=False,
        )
        return str(response["channel"]), str(response["ts"])

    async def attach_full_text(self, approval: ApprovalRecord, *, channel: str, ts: str) -> None:
        """A proposal too long for the card goes in the card's thread: as a text file, or, if the
        upload is refused, as messages of at most `PART` characters each."""
        try:
            await self._slack.files_upload_v2(
                channel=channel,
                thread_ts=ts,
                content=approval.proposal,
                filename=f"proposal-{approval.run_id}.txt",
                title=f"Full proposal for run {approval.run_id}",
            )
            return
        except SlackApiError as exc:
            log.warning("upload of the full proposal refused (%s); posting it in parts", exc.response.get("error"))
        parts = untrusted_parts(approval.proposal)[:MAX_PARTS]
        for number, part in enumerate(parts, start=1):
            await self._slack.chat_postMessage(
                channel=channel,
                thread_ts=ts,
                text=f"Full proposal, part {number} of {len(parts)}",
                blocks=[{"type": "section", "text": part}],
            )

    async def show_pending(self, approval: ApprovalRecord) -> bool:
        """Redraw a still-pending card (e.g. quorum progress). False (logged) when Slack refused."""
        return await self._update(approval, build_approval_blocks(approval))

    async def show_decision(self, approval: ApprovalRecord) -> bool:
        """Rewrite the card to say what was decided. False (logged) when Slack refused."""
        return await self._update(approval, build_decided_blocks(approval))

    async def _update(self, approval: ApprovalRecord, blocks: list[dict[str, Any]]) -> bool:
        if not approval.card_ts:
            return False
        try:
            await self._slack.chat_update(
                channel=approval.card_channel, ts=approval.card_ts, text=approval_fallback_text(approval), blocks=blocks
            )
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            error = exc.response.get("error") if isinstance(exc, SlackApiError) else type(exc).__name__
            log.warning(
                "card update failed for approval %s (%s); kept in the outbox",
                approval.id,
                error,
                extra={"run_id": approval.run_id, "approval_id": approval.id},
            )
            if self._store is not None:
                await self._store.outbox_add(approval.id, due=time.time() + self._retry_after)
            return False
        if self._store is not None:
            await self._store.outbox_done(approval.id)
        return True

"""Keeps approval cards in Slack in step with Redis."""

from __future__ import annotations

import logging

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.blocks import approval_fallback_text, build_approval_blocks, build_decided_blocks
from bot.records import ApprovalRecord

log = logging.getLogger(__name__)


class CardService:
    """Posts a pending approval's card and rewrites it once decided (with `chat.update`, which,
    unlike `response_url`, works however late the decision comes)."""

    def __init__(self, slack: AsyncWebClient) -> None:
        self._slack = slack

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

    async def show_decision(self, approval: ApprovalRecord) -> bool:
        """Rewrite the card to say what was decided. False (logged) when Slack refused."""
        if not approval.card_ts:
            return False
        try:
            await self._slack.chat_update(
                channel=approval.card_channel,
                ts=approval.card_ts,
                text=approval_fallback_text(approval),
                blocks=build_decided_blocks(approval),
            )
        except SlackApiError as exc:
            log.error("card update failed for approval %s: %s", approval.id, exc.response.get("error"))
            return False
        return True

"""A card's "Reverse the model's approval" (button action `triage_reverse`, its value the approval id), while a
triage model's approval is held (TRIAGE_HOLD, bot/approvals/triage_hold.py): the clicker is answered ephemerally,
reversed (the channel's admins) or refused (anyone else: audited, naming them), by the core's one step
(`ApprovalService.reverse_triage`, as on the Teams card and the links' page)."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.approvals.refusals import STORAGE_DOWN
from bot.slack.blocks.approval_card import ACTION_TRIAGE_REVERSE
from bot.slackapp.context import parts_of
from bot.slackapp.payloads import button_press
from bot.store import StoreUnavailable

log = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    async def handle_reverse(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        services = parts_of(context)
        await ack()
        if (press := button_press(body)) is None:
            return
        user, channel, approval_id = press
        try:
            said = (await services.approvals.reverse_triage(user, "slack", approval_id=approval_id)).words
        except StoreUnavailable:
            said = STORAGE_DOWN
        log.info("approval %s: Reverse of the triage model's approval by %s: %s", approval_id, user, said,
                 extra={"approval_id": approval_id})
        await services.slack.chat_postEphemeral(channel=channel, user=user, text=said)

    app.action(ACTION_TRIAGE_REVERSE)(handle_reverse)

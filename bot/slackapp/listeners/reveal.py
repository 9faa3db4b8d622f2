"""“Show hidden values” on a card (button action `reveal`, its value the approval id): the reviewer is answered,
ephemerally, with a one-time link to the bot's reveal page (`bot/stepup/reveal.py`), or told why not (they may not
decide it: the same rights as a click; it has no hidden values; the bot has no pages URL). Never a value in Slack."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.approvals.refusals import STORAGE_DOWN
from bot.services import Services
from bot.slack.blocks.approval_card import ACTION_REVEAL
from bot.slackapp.context import parts_of
from bot.slackapp.payloads import button_press
from bot.stepup.enrolment import StepUpError
from bot.stepup.reveal import REVEAL_SECONDS
from bot.store import StoreUnavailable


def register(app: AsyncApp) -> None:
    async def handle_reveal(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        services = parts_of(context)
        await ack()
        if (press := button_press(body)) is not None:
            user, channel, approval_id = press
            await services.slack.chat_postEphemeral(channel=channel, user=user,
                                                    text=await reveal_answer(services, user, approval_id))

    app.action(ACTION_REVEAL)(handle_reveal)


async def reveal_answer(services: Services, user: str, approval_id: str) -> str:
    """What `user` is told: a new one-time link to the values, or why not."""
    try:
        url = await services.reveals.link(user, approval_id)
    except StepUpError as exc:
        return exc.message
    except StoreUnavailable:
        return STORAGE_DOWN
    return (f"<{url}|Open the hidden values>: after you sign in with Slack, they are shown once, for a minute, on"
            f" the bot's page (never here). The link works once, for {REVEAL_SECONDS // 60} minutes; your view is"
            " audited and shown on the card.")

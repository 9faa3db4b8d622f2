"""Slack's `user_change` event: a person deactivated (`deleted: true`) who sponsors API keys has left, so the agents
using those keys have nobody accountable. Each key's leaving is noted once (`ApiKeys.sponsor_left`, audited
`sponsor_left`: Slack retries events and every worker may hear one) and said to the admins: in ALERTS_CHANNEL when
it is set, else in a direct message to each of ADMIN_USERS."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError

from bot.core.key_records import ApiKey
from bot.core.records import SLACK_ID
from bot.services import Services
from bot.slack.blocks import safe, user_ref
from bot.slackapp.context import parts_of

log = logging.getLogger(__name__)


def register(app: AsyncApp) -> None:
    async def handle_user_change(event: dict[str, Any], context: AsyncBoltContext) -> None:
        await handle_person_changed(parts_of(context), event=event)

    app.event("user_change")(handle_user_change)


async def handle_person_changed(services: Services, *, event: dict[str, Any]) -> list[ApiKey]:
    """When the event says a person was deactivated: the keys they sponsor, each noted as left once and said to the
    admins. Returns the keys this call said (none for a person still active, or said before)."""
    user = event.get("user")
    if not isinstance(user, dict) or user.get("deleted") is not True:
        return []
    person = str(user.get("id") or "")
    if not SLACK_ID.fullmatch(person):
        return []
    said = [key for key in await services.store.api_keys.sponsored_by(person)
            if await services.store.api_keys.sponsor_left(key)]
    if said:
        log.warning("the sponsor %s of API key(s) %s was deactivated", person, ", ".join(k.name for k in said))
        await tell_admins(services, left_text(person, said))
    return said


def left_text(person: str, keys: list[ApiKey]) -> str:
    """What the admins are told of a sponsor who left (the keys' names shown inert: the one escaping path)."""
    names = ", ".join(f"`{safe(key.name, 40)}`" for key in keys)
    first = safe(keys[0].name, 40)
    return (f":warning: {user_ref(person)} was deactivated in Slack, and sponsors API key(s) {names}: the agents using"
            f" them have nobody accountable now. Name another sponsor (`python -m bot keys sponsor {first} @U…`) or"
            " revoke the key. Audited: `sponsor_left`.")


async def tell_admins(services: Services, text: str) -> None:
    """Say `text` where the bot tells its admins: ALERTS_CHANNEL, else each of ADMIN_USERS in a direct message."""
    where = [services.settings.alerts_channel] if services.settings.alerts_channel else list(
        services.settings.admin_users)
    if not where:
        log.warning("nobody to tell (neither ALERTS_CHANNEL nor ADMIN_USERS is set): %s", text[:200])
    for channel in where:
        try:
            await services.slack.chat_postMessage(channel=channel, text=text)
        except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
            log.error("the admins could not be told in %s (%s)", channel, type(exc).__name__)

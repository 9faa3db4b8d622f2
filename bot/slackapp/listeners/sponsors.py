"""Slack's `user_change` event: a person deactivated (`deleted: true`) who sponsors API keys has left, so the agents
using those keys have nobody accountable. Each key's leaving is noted once (`ApiKeys.sponsor_left`, audited
`sponsor_left`: Slack retries events and every worker may hear one) and said to the admins: in ALERTS_CHANNEL when
it is set, else in a direct message to each of ADMIN_USERS.

A deactivation whose event never reached the bot (the app installed later, the worker down, the event lost) is found
all the same: each TOKEN_CHECK_INTERVAL every worker asks Slack again (`users.info`, fresh) about `SPONSORS_EACH`
sponsors of the keys that work, in turn (`SponsorCheck`), and says the one deactivated through the same door as the
event (`person_left`)."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError

from bot.core.key_records import ApiKey
from bot.core.records import SLACK_ID
from bot.core.workspaces import WorkspaceRef
from bot.services import Services
from bot.slack.blocks import safe, user_ref
from bot.slack.directory import LookupFailed
from bot.slack.workspaces import NotInstalled
from bot.slackapp.context import parts_of
from bot.store.connection import StoreUnavailable
from bot.tenancy import Tenancy

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
    return await person_left(services, str(user.get("id") or ""))


async def person_left(services: Services, person: str) -> list[ApiKey]:
    """`person` was deactivated in Slack (the event said it, or Slack's `users.info` when asked again): the keys
    they sponsor, each noted as left once and said to the admins. Returns the keys this call said."""
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


SPONSORS_EACH = 20  # sponsors a worker asks Slack about again each TOKEN_CHECK_INTERVAL (`SponsorCheck`), in turn


class SponsorCheck:
    """Asks Slack again whether the sponsors of the keys that work are still active: `SPONSORS_EACH` people per
    `recheck`, in turn (with more, each is asked every few intervals), each through their key's workspace (its
    parts, with `tenancy`). One deactivated is said by `person_left`, as the `user_change` event says it (once:
    the sponsors already said are not asked again)."""

    def __init__(self, services: Services, *, tenancy: Tenancy | None = None, each: int = SPONSORS_EACH) -> None:
        self._services = services
        self._tenancy = tenancy
        self._each = each
        self._next = 0

    async def recheck(self) -> list[ApiKey]:
        """Ask about the next sponsors in turn; returns the keys said to the admins now."""
        keys = await self._services.store.api_keys.sponsors_to_ask(time.time())
        people = sorted({(key.sponsor, key.team, key.enterprise) for key in keys})
        if not people:
            return []
        start = self._next % len(people)
        turn = (people[start:] + people[:start])[:self._each]
        self._next = start + len(turn)
        said: list[ApiKey] = []
        for person, team, enterprise in turn:
            said += await self._ask(person, team, enterprise)
        return said

    async def _ask(self, person: str, team: str, enterprise: str) -> list[ApiKey]:
        try:
            parts = self._services if self._tenancy is None or not team else await self._tenancy.parts(
                WorkspaceRef(team, enterprise or None))
            found = await parts.directory.person(person, fresh=True)
        except NotInstalled as exc:
            log.info("the sponsor %s was not asked about: %s", person, exc)
            return []
        except LookupFailed as exc:
            log.warning("Slack could not say whether the sponsor %s is still active (%s): asked again later", person,
                        exc)
            return []
        return await person_left(parts, person) if found is not None and found.deleted else []


async def recheck_sponsors(check: SponsorCheck, every: float) -> None:
    """`check.recheck()` each `every` seconds (TOKEN_CHECK_INTERVAL), for as long as the worker runs."""
    while True:
        await asyncio.sleep(every)
        try:
            await check.recheck()
        except StoreUnavailable as exc:
            log.warning("the keys' sponsors were not asked about again: Redis unreachable (%s)", exc.cause)

"""Passkeys (step-up) from Slack: the App Home's "Set up a passkey" (a one-time link, in a modal over the Home, as
the Home's other answers) and "Remove" (a person's own passkey), and `/agent passkeys revoke @person` (an admin's
revocation of someone's passkeys, for a lost device; anyone else is refused, the refusal audited).

Removal and revocation are audited by `bot.stepup.enrolment.Enrolment`; the Home is republished at once."""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.approvals.refusals import STORAGE_DOWN
from bot.approvals.rights import is_admin
from bot.core.records import SLACK_ID, ChannelSettings
from bot.services import Services
from bot.slack.blocks import build_notice_modal
from bot.slack.blocks.passkeys import (
    ACTION_PASSKEY_REMOVE,
    ACTION_PASSKEY_SETUP,
    build_passkey_link_modal,
    parse_remove_value,
    passkeys_revoked_text,
)
from bot.slack.blocks.text import user_ref
from bot.slackapp.context import parts_of
from bot.slackapp.listeners.actions import open_view
from bot.stepup.enrolment import StepUpError
from bot.store import StoreUnavailable


def register(app: AsyncApp) -> None:
    async def handle_setup(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        services = parts_of(context)
        await ack()
        user, trigger, _ = _click(body)
        if SLACK_ID.fullmatch(user):
            await _guarded(services, user, trigger, give_link(services, user, trigger))

    async def handle_remove(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        services = parts_of(context)
        await ack()
        user, trigger, value = _click(body)
        if SLACK_ID.fullmatch(user):
            await _guarded(services, user, trigger, remove_from_home(services, user, trigger, value))

    app.action(ACTION_PASSKEY_SETUP)(handle_setup)
    app.action(ACTION_PASSKEY_REMOVE)(handle_remove)


async def give_link(services: Services, user: str, trigger: str) -> None:
    """A new one-time link for `user`, in a modal over their Home."""
    try:
        url = await services.stepup.link(user)
    except StepUpError as exc:
        _notice(services, trigger, user, exc.message, title="Passkeys")
        return
    view = build_passkey_link_modal(url, confirm_first=bool(await services.store.passkeys.of(user)))
    open_view(services, trigger_id=trigger, view=view, user=user, channel=None,
              what="the passkey link", name=f"passkey-{user}", instead="Click “Set up a passkey” again.")


async def remove_from_home(services: Services, user: str, trigger: str, value: str) -> None:
    """`user` removes one of their own passkeys (a Remove button's value: its credential id)."""
    credential_id = parse_remove_value(value)
    removed = None if credential_id is None else await services.stepup.remove(user, credential_id)
    if removed is None:
        _notice(services, trigger, user, "You have no such passkey (removed already?). Nothing changed.")
    services.background.spawn(services.homes.publish(user), name=f"home-{user}")


async def revoke_command(services: Services, person: str, current: ChannelSettings, *, user: str, channel: str) -> str:
    """`/agent passkeys revoke @person`: for the channel's named admins and ADMIN_USERS; refused (and audited) for
    anyone else."""
    if not is_admin(user, current, services.settings.admin_users):
        await services.store.audit.append("refused", by=user, origin_channel=channel, person=person,
                                          action="passkeys revoke", reason="needs an admin")
        return ("Only an admin of this channel (or one of ADMIN_USERS) may revoke someone's passkeys. Nothing"
                f" changed. {user_ref(person)} can remove their own from their App Home.")
    removed = await services.stepup.revoke(person, by=user, channel=channel)
    return passkeys_revoked_text(person, removed)


def _click(body: dict[str, Any]) -> tuple[str, str, str]:
    user = str((body.get("user") or {}).get("id", ""))
    value = str(((body.get("actions") or [{}])[0]).get("value", ""))
    return user, str(body.get("trigger_id", "")), value


async def _guarded(services: Services, user: str, trigger: str, work: Any) -> None:
    try:
        await work
    except StoreUnavailable:
        _notice(services, trigger, user, STORAGE_DOWN)


def _notice(services: Services, trigger: str, user: str, text: str, *, title: str = "Nothing changed") -> None:
    open_view(services, trigger_id=trigger, view=build_notice_modal(title, text), user=user, channel=None,
              what="a notice", name=f"passkey-{user}", instead=text)

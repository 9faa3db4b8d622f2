"""`/agent attest ...` (fit to decide, bot/approvals/attesting.py), answered for slash_command.py, and the brief's
modal (`register`: its submission):

    /agent attest                          your attestations, and until when
    /agent attest NAME|#channel            attest to its brief (audited `attested`)
    /agent attest brief NAME|#channel      its owner writes the brief: a modal (the text, how long an attestation
                                           lasts), kept by the bot (audited `attestation_brief`)
    /agent attest grant|revoke @person NAME|#channel
                                           its owner grants or revokes one (audited `attestation_granted`/`_revoked`)

Anyone else asking what only a brief's owner may is refused, and the refusal audited."""

from __future__ import annotations

import logging
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError

import bot.approvals.attesting as attesting
from bot.core.attestations import DEFAULT_VALID, MAX_BRIEF, MAX_VALID, SCOPE, shown
from bot.core.durations import DurationError, format_duration, parse_duration
from bot.services import Services
from bot.slack.blocks import date_ref
from bot.slack.blocks.text import modal, plain
from bot.slack.refusals import SLACK
from bot.slackapp import commands
from bot.slackapp.listeners.views import submission

log = logging.getLogger(__name__)

BRIEF_CALLBACK_ID = "attest_brief_modal"
TEXT_BLOCK, VALID_BLOCK = "attest_brief_text", "attest_brief_valid"
TEXT_ACTION, VALID_ACTION = "text", "valid"


async def attest_command(services: Services, parsed: commands.Attest, *, user: str, channel: str,
                         trigger: str = "") -> str:
    """The reply to `/agent attest ...` (see the module docstring)."""
    store, scope = services.store, parsed.scope
    if parsed.action == "list":
        held = await store.attestations.held(user)
        if not held:
            return "You hold no attestation. `/agent attest NAME` attests to a brief once you have read it."
        lines = [f"• {attesting.brief_words(s, SLACK)}: until {date_ref(until)}" for s, until in sorted(held.items())]
        return "Your attestations:\n" + "\n".join(lines)
    if parsed.action == "attest":
        return await attesting.attest(store, user, scope, writing=SLACK)
    owner = attesting.may_own(user, scope, channel_settings=await _settings(services, scope),
                              admin_users=services.settings.admin_users)
    if not owner:
        return await attesting.refused(store, user, scope, action=f"attestation_{parsed.action}", writing=SLACK)
    if parsed.action == "grant":
        return await attesting.grant(store, user, parsed.person, scope, writing=SLACK)
    if parsed.action == "revoke":
        return await attesting.revoke(store, user, parsed.person, scope, writing=SLACK)
    brief = await store.attestations.brief(scope)
    view = brief_modal(scope, text=brief.text if brief else "", valid=brief.valid if brief else DEFAULT_VALID)
    try:
        await services.slack.views_open(trigger_id=trigger, view=view)
    except SlackApiError as exc:
        log.warning("the brief's modal was not opened: %s", exc.response.get("error"))
        return "The brief's form could not be opened (Slack said it was too late): type the command again."
    return f"Write {attesting.brief_words(scope, SLACK)} in the form that opened."


async def _settings(services: Services, scope: str) -> Any:
    """The settings of a channel's scope (its admins own its brief); None for a policy's."""
    if not scope.startswith("channel:"):
        return None
    return await services.approvals.channel_settings(scope.partition(":")[2])


def brief_modal(scope: str, *, text: str, valid: int) -> dict[str, Any]:
    """The form its owner writes a brief in (`scope` kept in `private_metadata`, checked again on submission)."""
    return modal("Brief", [
        {"type": "input", "block_id": TEXT_BLOCK, "label": plain(f"The brief of {shown(scope)}"[:150]),
         "element": {"type": "plain_text_input", "action_id": TEXT_ACTION, "multiline": True,
                     "max_length": MAX_BRIEF, **({"initial_value": text} if text else {})}},
        {"type": "input", "block_id": VALID_BLOCK, "label": plain("An attestation is valid for"),
         "hint": plain("A duration: 90d, 30d, 12h. People are reminded a week before theirs ends."),
         "element": {"type": "plain_text_input", "action_id": VALID_ACTION, "max_length": 10,
                     "initial_value": format_duration(valid).replace(" ", "")}},
    ], submit="Save", callback_id=BRIEF_CALLBACK_ID, metadata=scope)


async def submit_brief(services: Services, body: dict[str, Any], view: dict[str, Any]) -> dict[str, str]:
    """The brief's form sent: kept (audited), or its errors. Who may is checked again here."""
    user = str((body.get("user") or {}).get("id") or "")
    scope = str(view.get("private_metadata") or "")
    if not SCOPE.fullmatch(scope):
        return {TEXT_BLOCK: "This form names no brief: type the command again."}
    values = (view.get("state") or {}).get("values") or {}
    text = str(((values.get(TEXT_BLOCK) or {}).get(TEXT_ACTION) or {}).get("value") or "").strip()
    given = str(((values.get(VALID_BLOCK) or {}).get(VALID_ACTION) or {}).get("value") or "").strip()
    if not text or len(text) > MAX_BRIEF:
        return {TEXT_BLOCK: f"Write the brief: 1 to {MAX_BRIEF} characters."}
    try:
        valid = parse_duration(given, max_seconds=MAX_VALID)
    except DurationError:
        return {VALID_BLOCK: "A duration such as 90d, 30d or 12h (at most 3 years)."}
    if valid < 3600:
        return {VALID_BLOCK: "At least an hour (1h)."}
    if not attesting.may_own(user, scope, channel_settings=await _settings(services, scope),
                             admin_users=services.settings.admin_users):
        return {TEXT_BLOCK: await attesting.refused(services.store, user, scope, action="attestation_brief",
                                                writing=SLACK)}
    await services.store.attestations.write_brief(scope, text=text, valid=valid, by=user)
    return {}


def register(app: AsyncApp) -> None:
    app.view(BRIEF_CALLBACK_ID)(submission(submit_brief, block=TEXT_BLOCK, kept="brief"))

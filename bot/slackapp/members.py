"""Only our own people act: every command, click and form, over HTTP or Socket Mode, passes this Bolt middleware
before any listener. The person is looked up in Slack (`users.info`, kept an hour) and checked by
`rights.outsider`: someone of another Slack organization (a Slack Connect partner in a shared channel), a guest, a
deactivated account or an id Slack does not know is refused with a clear answer and an audit entry (`refused`,
`reason` "outsider: ..."), and nothing else runs. When Slack cannot say who they are, the request is refused too
("try again"): the check never fails open.

A request that names no person (an `ssl_check`, an event other than `app_home_opened`, a person's message or a
session's Stop) passes. Refusals are told once per person and reason in `REFUSAL_QUIET` seconds, and every one
audited (the rest of a flood as one entry with
their `count`; a replayed click costs one Redis call)."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Coroutine
from functools import partial
from typing import Any

from slack_bolt.response import BoltResponse

from bot.approvals import REFUSAL_QUIET
from bot.approvals.refusals import CANNOT_CHECK, NOT_ADDED
from bot.approvals.rights import Organisation, outsider
from bot.core.records import SLACK_ID
from bot.services import Services
from bot.slack.blocks.decision_modals import build_notice_modal
from bot.slack.directory import LookupFailed
from bot.slack.refusals import outsider_text
from bot.slackapp.click_answers import response_url_of, tell_under_card
from bot.slackapp.context import parts_of, tenant_answer, workspace_of

log = logging.getLogger(__name__)

Next = Callable[[], Awaitable[None]]
INTERACTIONS = frozenset(
    {"block_actions", "view_submission", "view_closed", "block_suggestion", "shortcut", "message_action"}
)


def acting_person(body: dict[str, Any]) -> tuple[str, str] | None:
    """(the person's id, the team the request gives for them: "" when none) of a request someone made; None for
    one that names nobody."""
    if "command" in body:  # a command's `team_id` is the workspace it was typed in, not the person's
        return str(body.get("user_id") or ""), ""
    if body.get("type") in INTERACTIONS:
        user = _part(body, "user")
        return str(user.get("id") or ""), str(user.get("team_id") or "")
    event = body.get("event")
    if isinstance(event, dict) and event.get("type") == "app_home_opened":
        return str(event.get("user") or ""), ""
    if isinstance(event, dict) and event.get("type") in ("message", "agent_session_stopped") and event.get("user") \
            and not event.get("bot_id") and not event.get("subtype"):  # a task in the Messages tab, a Stop
        return str(event.get("user") or ""), ""
    return None


def _part(body: dict[str, Any], key: str) -> dict[str, Any]:
    part = body.get(key)
    return part if isinstance(part, dict) else {}


def organisation(auth: dict[str, Any]) -> Organisation:
    """The installing workspace as its `auth.test` answer describes it."""
    return Organisation(
        team_id=str(auth.get("team_id") or ""),
        enterprise_id=str(auth.get("enterprise_id") or ""),
        name=str(auth.get("team") or ""),
    )


def members_only(home: Callable[[], Awaitable[dict[str, Any] | None]]) -> Callable[..., Awaitable[BoltResponse]]:
    """The middleware; `home` gives the bot's `auth.test` answer (None while Slack cannot give it), what the home
    workspace's requests are judged against; another workspace's are judged against it (`tenant_answer`), each
    request with its own parts (`parts_of`: resolved at the edge)."""

    async def only_our_people(
        body: dict[str, Any], resp: BoltResponse, next: Next, context: dict[str, Any]
    ) -> BoltResponse:
        services = parts_of(context)
        acting = acting_person(body)
        if acting is None:
            await next()
            return resp
        user, said_team = acting
        workspace = workspace_of(context)
        installed = home if workspace is None else partial(tenant_answer, workspace)
        refused = await why_not(services, installed, user, said_team=said_team)
        if refused is None:
            await next()
            return resp
        why, text = refused
        return await refuse(services, body, user=user[:40], team=said_team[:40], why=why, text=text)

    return only_our_people


async def why_not(
    services: Services, installed: Callable[[], Awaitable[dict[str, Any] | None]], user: str, *,
    said_team: str = "", fresh: bool = False,
) -> tuple[str, str] | None:
    """Why `user` may not act here, and what they are told; None when they may (`rights.outsider`). `fresh`: Slack
    is asked who they are now, whatever the directory kept (a step-up vote's page, minutes after its click)."""
    settings = services.settings
    auth = await installed()
    if auth is None:
        return "the workspace is not known yet", CANNOT_CHECK
    ours = organisation(auth)
    try:
        person = await services.directory.person(user, fresh=fresh) if SLACK_ID.fullmatch(user) else None
    except LookupFailed as exc:
        if str(exc) == "team_access_not_granted":  # an org-wide install not added to their workspace: Slack's word
            return "the app is not added to their workspace (team_access_not_granted)", NOT_ADDED
        return f"Slack could not say who they are ({exc})", CANNOT_CHECK
    reason = outsider(person, said_team=said_team, ours=ours, external_teams=settings.external_teams,
                      allowed_guests=settings.allowed_guests)
    return None if reason is None else (reason, outsider_text(reason, ours.name))


async def refuse(
    services: Services, body: dict[str, Any], *, user: str, team: str, why: str, text: str
) -> BoltResponse:
    """Audit and answer a refused request. Every one is audited: the first of a person's for one reason in
    `REFUSAL_QUIET` seconds at once, with a told answer (a Slack call), the others counted in one summarising entry
    (`AuditLog.refusal`); a command or form is answered every time (its answer costs nothing)."""
    log.warning("refused a request from %s (team %r): %s", user or "nobody", team, why)
    first = await services.store.audit.refusal(
        f"outsider:{user}:{why[:100]}", "refused", window=REFUSAL_QUIET, by=user, team=team, reason=f"outsider: {why}",
        what=_what(body),
    )
    if "command" in body:
        return _json({"response_type": "ephemeral", "text": text})
    kind = body.get("type")
    if kind == "view_submission":
        return _json({"response_action": "update", "view": build_notice_modal("Nothing changed", text)})
    if kind == "block_actions" and first and why != "unknown":  # Slack knows no such person: nobody to tell
        container = _part(body, "container")
        channel = str(container.get("channel_id") or "")
        if container.get("type") == "message" and channel:  # (through the click's response_url if Slack fails it)
            told: Coroutine[Any, Any, object] = tell_under_card(services.slack, channel=channel, user=user,
                                                                text=text, response_url=response_url_of(body))
        else:  # a Home or a modal: a small modal over it
            told = services.slack.views_open(
                trigger_id=str(body.get("trigger_id") or ""), view=build_notice_modal("Nothing changed", text)
            )
        services.background.spawn(told, name=f"outsider-{user}")
    event = _part(body, "event")
    if event.get("type") in ("message", "agent_session_stopped") and event.get("channel") and first \
            and why != "unknown":  # a task in the Messages tab, a session's Stop: told where they wrote or clicked
        told = services.slack.chat_postEphemeral(channel=str(event["channel"]), user=user, text=text)
        services.background.spawn(told, name=f"outsider-{user}")
    return quiet(body)


def quiet(body: dict[str, Any]) -> BoltResponse:
    """The answer that shows nothing (options requests get an empty list)."""
    return _json({"options": []}) if body.get("type") == "block_suggestion" else BoltResponse(status=200, body="")


def _json(answer: dict[str, Any]) -> BoltResponse:
    return BoltResponse(status=200, body=json.dumps(answer), headers={"content-type": "application/json"})


def _what(body: dict[str, Any]) -> str:
    """What was tried, for the audit entry: the command, or the interaction's kind and first action."""
    if "command" in body:
        return str(body.get("command") or "")[:40]
    actions = body.get("actions")
    first = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
    return f"{body.get('type') or _part(body, 'event').get('type') or ''} {first.get('action_id') or ''}".strip()[:80]

"""The App Home: opening it, its own buttons (full text, pages, "Decide several…", an admin's Revoke
of a rule) and batch decisions.

Its Approve / Reject / Revise buttons are the card's (bot/slackapp/listeners/actions.py). A batch decision is
chosen in a modal, confirmed in a second one that shows exactly what will be decided (each tool call's
whole arguments, each code's whole text), and then each approval is decided on its own through the
same decide step as a click; the last modal says which were decided and which were not, and why.

Revoke (a rule on an admin's Home; value "<channel>/<rule id>", confirmed in Slack's dialog) goes
through the rule book, which checks the right (the channel's admins, or the rule's creator) and audits a
refusal; a refusal or failure is told in a small modal, as the Home's other refusals, and the Home is
republished at once either way (and the channel's other admins' Homes, when it was revoked).

Every modal opened from a click goes through `actions.open_view`: a click whose trigger expired before
Slack opened it is told so in the person's DM with the app ("click again"; a notice: its own text).
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError

from bot.approvals import verb_of
from bot.approvals.refusals import STORAGE_DOWN
from bot.core.oversight import approval_page_url
from bot.core.records import SLACK_ID, ApprovalRecord
from bot.core.security import sign_metadata, verify_metadata
from bot.services import Services
from bot.slack.blocks import (
    ACTION_DETAILS,
    ACTION_FULL_TEXT,
    ACTION_HOME_BATCH,
    ACTION_HOME_PAGE,
    build_full_text_modal,
    build_notice_modal,
)
from bot.slack.blocks.batch_modals import (
    BATCH_CALLBACK_ID,
    BATCH_CONFIRM_CALLBACK_ID,
    BATCH_LIMIT,
    BATCH_OUTCOME_ACTION,
    BATCH_OUTCOME_BLOCK,
    BATCH_REASON_ACTION,
    BATCH_REASON_BLOCK,
    BATCH_SELECT_ACTION,
    BATCH_SELECT_BLOCK,
    build_batch_confirm,
    build_batch_modal,
    build_batch_result,
    left_out_reason,
)
from bot.slack.blocks.home import parse_revoke_value
from bot.slack.blocks.rules import ACTION_RULE_REVOKE
from bot.slack.blocks.text import channel_ref, tool_label
from bot.slack.refusals import refusal_text
from bot.slackapp.context import parts_of
from bot.slackapp.listeners.actions import guarded_click, open_click_view, open_view, parse_click, tell
from bot.slackapp.listeners.views import input_text
from bot.store import StoreUnavailable

BATCH_SECONDS = 15 * 60  # a confirmation not submitted within this is forgotten
MAX_REASON_CHARS = 3000
BATCH_CHOICES = 100  # the oldest waiting approvals a batch offers (a select's limit)
BATCH_MARK = "home-batch"  # the "approval id" a batch form's metadata is signed for
Errors = dict[str, str]


def register(app: AsyncApp) -> None:
    async def handle_home_opened(event: dict[str, Any], context: AsyncBoltContext) -> None:
        services = parts_of(context)
        user = str(event.get("user", ""))
        if event.get("tab") == "home" and SLACK_ID.fullmatch(user):
            services.background.spawn(services.homes.opened(user), name=f"home-{user}")

    async def handle_page(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        services = parts_of(context)
        await ack()
        user = str((body.get("user") or {}).get("id", ""))
        value = str(((body.get("actions") or [{}])[0]).get("value", ""))
        if SLACK_ID.fullmatch(user) and value.isascii() and value.isdigit() and len(value) <= 4:
            services.background.spawn(services.homes.show_page(user, int(value)), name=f"home-page-{user}")

    async def handle_revoke(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        services = parts_of(context)
        await ack()
        try:
            await revoke_from_home(services, body)
        except StoreUnavailable:  # the rule book's steps are atomic: nothing was half revoked
            user, trigger, _ = _revoke_click(body)
            if SLACK_ID.fullmatch(user):
                _notice(services, trigger, user, STORAGE_DOWN)

    async def handle_batch_submission(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        services = parts_of(context)
        try:
            answer = await review_batch(services, body, view)
        except StoreUnavailable:  # the modal stays, with the person's choice; nothing was decided
            answer = _errors({BATCH_SELECT_BLOCK: STORAGE_DOWN})
        await ack(**answer)

    async def handle_batch_confirmed(
        ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext
    ) -> None:
        services = parts_of(context)
        await ack(response_action="update", view=await decide_batch(services, body, view))

    app.event("app_home_opened")(handle_home_opened)
    app.action(ACTION_FULL_TEXT)(guarded_click(show_full_text))
    app.action(ACTION_DETAILS)(guarded_click(show_full_text))  # Details: the same modal, with the page's link
    app.action(ACTION_HOME_PAGE)(handle_page)
    app.action(ACTION_HOME_BATCH)(guarded_click(open_batch))
    app.action(ACTION_RULE_REVOKE)(handle_revoke)
    app.view(BATCH_CALLBACK_ID)(handle_batch_submission)
    app.view(BATCH_CONFIRM_CALLBACK_ID)(handle_batch_confirmed)


async def show_full_text(services: Services, body: dict[str, Any]) -> None:
    """The whole proposal of an approval, in a modal, for who may decide it or started its run."""
    click = parse_click(body)
    if click is None:
        return
    approval = await services.store.approvals.get(click.approval_id)
    may_see = approval is not None and (
        (click.card is not None and click.card[0] == approval.card_channel)  # its card, seen in its channel
        or approval.requester == click.user
        or click.user in approval.voters
        or (await services.homes.waiting_for(click.user, [approval])) != []
    )
    if approval is None or not may_see:
        # answered once per person and approval in REFUSAL_QUIET seconds (not audited: nothing was asked)
        what = f"refused:{click.user}:{click.approval_id}:full_text"
        if await services.approvals.first_refusal(what, click.user):
            tell(services, click, "This approval is not waiting for you (it was decided, or is not yours to decide).")
        return
    await services.approvals.opened(approval.id, click.user)  # its details seen (issue 80: @require_details)
    view = build_full_text_modal(approval, page=approval_page_url(services.settings.public_url, approval.id))
    open_click_view(services, click, view, what="the full text", name=f"full-text-{approval.id}")


def _revoke_click(body: dict[str, Any]) -> tuple[str, str, str]:
    """(who clicked, the trigger, the button's value) of a Revoke click ("" for what is not there)."""
    person, actions = body.get("user"), body.get("actions")
    action = actions[0] if isinstance(actions, list) and actions else None
    user = str(person.get("id", "")) if isinstance(person, dict) else ""
    value = str(action.get("value", "")) if isinstance(action, dict) else ""
    return user, str(body.get("trigger_id", "")), value


def _notice(services: Services, trigger: str, user: str, text: str) -> None:
    """A refusal or failure over the clicker's Home, in a small modal (as the Home's other refusals)."""
    view = build_notice_modal("Nothing changed", text)
    open_view(services, trigger_id=trigger, view=view, user=user, channel=None, what="a notice", name=f"revoke-{user}",
              instead=text)


async def revoke_from_home(services: Services, body: dict[str, Any]) -> None:
    """Revoke a rule from a Home's button: through the rule book (rights, audit); a refusal in a
    modal; then the clicker's Home is republished (and the channel's admins', when it was revoked)."""
    user, trigger, value = _revoke_click(body)
    if not SLACK_ID.fullmatch(user):
        await services.store.audit.append("refused", reason="malformed rule revoke: no user", value=value[:100])
        return
    parsed = parse_revoke_value(value)
    if parsed is None:
        await services.store.audit.append("refused", by=user, reason="malformed rule revoke", value=value[:100])
        _notice(services, trigger, user, "This button does not name a rule of a channel. Nothing changed.")
        services.background.spawn(services.homes.publish(user), name=f"home-{user}")
        return
    channel, rule_id = parsed
    revoked = await services.rules.revoke(user, channel, rule_id)
    if not revoked.done:  # a revoke redraws the channel's admins' Homes (`RuleBook.on_change`)
        _notice(services, trigger, user, f"{channel_ref(channel)}: {revoked.message}")
    services.background.spawn(services.homes.publish(user), name=f"home-{user}")


async def waiting(services: Services, user: str) -> list[ApprovalRecord]:
    """The approvals waiting for `user` now, oldest first, with their texts (at most 100: a select's
    limit), read from the Home indexes (their own: the batch decides as `user`, for nobody else)."""
    _, _, chosen = await services.homes.waiting_page(user, page=0, size=BATCH_CHOICES, delegated=False)
    return chosen


async def open_batch(services: Services, body: dict[str, Any]) -> None:
    user = str((body.get("user") or {}).get("id", ""))
    trigger = str(body.get("trigger_id", ""))
    if not SLACK_ID.fullmatch(user):
        return
    found = await waiting(services, user)
    secret = services.settings.slack_signing_secret.get_secret_value()
    if len(found) < 2:
        view = build_notice_modal("Decide several", "Fewer than two approvals wait for you now.")
    else:
        view = build_batch_modal(
            found,
            now=time.time(),
            metadata=sign_metadata(secret, approval_id=BATCH_MARK, user=user),
            names=await requester_names(services, [a.requester for a in found]),
        )
    open_view(services, trigger_id=trigger, view=view, user=user, channel=None, what="the batch form",
              name=f"batch-{user}")


NAMES_WAIT = 0.8  # seconds for the requesters' names (the trigger expires 3 s after the click)
NAMES_ASKED = 10  # distinct requesters whose names are asked; the others show as ids


async def requester_names(services: Services, ids: Sequence[str]) -> dict[str, str]:
    """People's names by id (`users.info`, at most `NAMES_ASKED` of them at once, within `NAMES_WAIT`);
    those Slack did not tell in time are left out (their ids are shown)."""
    wanted = [i for i in dict.fromkeys(ids) if SLACK_ID.fullmatch(i)][:NAMES_ASKED]

    async def name_of(user_id: str) -> tuple[str, str]:
        try:
            response = await services.slack.users_info(user=user_id)
        except (SlackApiError, aiohttp.ClientError, TimeoutError):
            return user_id, ""
        user = response.get("user") or {}
        profile = user.get("profile") or {}
        return user_id, str(profile.get("display_name") or user.get("real_name") or user.get("name") or "")

    tasks = [asyncio.ensure_future(name_of(i)) for i in wanted]
    if not tasks:
        return {}
    done, pending = await asyncio.wait(tasks, timeout=NAMES_WAIT)
    for task in pending:
        task.cancel()
    return {user_id: name for user_id, name in (t.result() for t in done) if name}


def _selected(view: dict[str, Any], block: str, action: str) -> list[str]:
    entry = (((view.get("state") or {}).get("values") or {}).get(block) or {}).get(action) or {}
    options = entry.get("selected_options") if isinstance(entry, dict) else None
    if options is None and isinstance(entry, dict) and isinstance(entry.get("selected_option"), dict):
        options = [entry["selected_option"]]
    return [str(o.get("value", "")) for o in options or [] if isinstance(o, dict)]


def _user(services: Services, body: dict[str, Any], view: dict[str, Any], *, mark: str) -> str | None:
    """Whose batch form this is, if its metadata is ours, unaltered, theirs, and for `mark`."""
    user = str((body.get("user") or {}).get("id", ""))
    secret = services.settings.slack_signing_secret.get_secret_value()
    bound = verify_metadata(secret, str(view.get("private_metadata", "")), user=user)
    return user if bound is not None and bound[0] == mark else None


async def review_batch(services: Services, body: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
    """The first modal's choice, checked: the confirmation to show (the modal is updated to it), or the
    errors to show in the first modal (it stays open)."""
    user = _user(services, body, view, mark=BATCH_MARK)
    if user is None:
        await services.store.audit.append("refused", reason="batch form with altered or foreign metadata")
        return _errors({BATCH_SELECT_BLOCK: "This form is not yours or was altered. Nothing was decided."})
    ids = list(dict.fromkeys(_selected(view, BATCH_SELECT_BLOCK, BATCH_SELECT_ACTION)))
    outcomes = _selected(view, BATCH_OUTCOME_BLOCK, BATCH_OUTCOME_ACTION)
    outcome = outcomes[0] if outcomes else ""
    reason = (input_text(view, BATCH_REASON_BLOCK, BATCH_REASON_ACTION) or "").strip()
    if not ids:
        return _errors({BATCH_SELECT_BLOCK: "Choose at least one approval."})
    if len(ids) > BATCH_LIMIT:
        return _errors({BATCH_SELECT_BLOCK: f"Choose at most {BATCH_LIMIT} at once (you chose {len(ids)})."})
    if outcome not in ("approved", "rejected"):
        return _errors({BATCH_OUTCOME_BLOCK: "Choose Approve or Reject."})
    if len(reason) > MAX_REASON_CHARS:
        return _errors({BATCH_REASON_BLOCK: f"Keep it under {MAX_REASON_CHARS} characters (this is {len(reason)})."})
    if reason and outcome == "approved":
        return _errors({BATCH_REASON_BLOCK: "A reason goes with Reject only: clear it, or choose Reject."})
    records = {a.id: a for a in await services.store.approvals.get_many(ids)}
    open_to_user = {a.id for a in await services.homes.waiting_for(user, records.values())}
    chosen: list[ApprovalRecord] = []
    left_out: list[tuple[ApprovalRecord, str]] = []
    for approval_id in ids:
        approval = records.get(approval_id)
        if approval is None:
            continue  # gone: the result says nothing of what was never shown
        if approval_id not in open_to_user:
            left_out.append((approval, "it no longer waits for you (decided, or not yours to decide)"))
        elif (why := left_out_reason(approval, outcome=outcome)) is not None:
            left_out.append((approval, why))  # too long to show in full, or arguments failing the schema
        else:
            chosen.append(approval)
    if not chosen:
        return _errors({BATCH_SELECT_BLOCK: "None of these can be decided here now: " + left_out_text(left_out)})
    token = secrets.token_hex(12)
    batch = {
        "user": user,
        "ids": [a.id for a in chosen],
        "outcome": outcome,
        "reason": reason,
        "left_out": [[label(a), why] for a, why in left_out],  # the result says these were not decided, and why
    }
    await services.homes.save_batch(token, batch, seconds=BATCH_SECONDS)
    secret = services.settings.slack_signing_secret.get_secret_value()
    confirm = build_batch_confirm(
        chosen,
        outcome=outcome,
        reason=reason,
        left_out=left_out,
        metadata=sign_metadata(secret, approval_id=f"batch-{token}", user=user),
    )
    return {"response_action": "update", "view": confirm}


def _errors(errors: Errors) -> dict[str, Any]:
    return {"response_action": "errors", "errors": errors}


def left_out_text(left_out: list[tuple[ApprovalRecord, str]]) -> str:
    return "; ".join(f"{label(a)}: {why}" for a, why in left_out)[:1500]


def label(approval: ApprovalRecord) -> str:
    """Fixed words and ids naming an approval in a result (tool names pass through `tool_label`)."""
    what = {"tool_call": f"tool call {tool_label(approval.tool_name)}", "code": "code"}.get(approval.kind, "message")
    return f"{what} in run `{approval.run_id}`"


async def decide_batch(services: Services, body: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
    """Decide each approval of a confirmed batch on its own, through the decide step; the result view."""
    metadata = str(view.get("private_metadata", ""))
    token = metadata.split("|", 1)[0].removeprefix("batch-")
    user = _user(services, body, view, mark=f"batch-{token}")
    try:
        batch = await services.homes.take_batch(token) if user is not None else None
    except StoreUnavailable:  # nothing was decided
        return build_notice_modal("Nothing decided", STORAGE_DOWN)
    if user is None or batch is None or batch.get("user") != user:
        if user is None:
            await services.store.audit.append("refused", reason="batch confirmation with altered or foreign metadata")
        return build_notice_modal(
            "Nothing decided", "This confirmation was already used or has expired. Nothing changed."
        )
    outcome, reason = str(batch["outcome"]), str(batch.get("reason") or "")
    decided: list[ApprovalRecord] = []
    refused: list[tuple[str, str]] = [(str(name), str(why)) for name, why in batch.get("left_out") or []]
    for approval_id in [str(i) for i in batch.get("ids") or []]:
        try:
            result = await services.approvals.decisions.decide(user, "slack", verb_of(outcome),
                                                                approval_id=approval_id, feedback=reason)
        except StoreUnavailable:  # this one was not decided (its step is atomic): say so, go on with the next
            refused.append((f"`{approval_id}`", STORAGE_DOWN))
            continue
        shown = services.approvals.decisions.redraw_after(result, surface="slack")
        if shown and result.status == "ok" and result.approval is not None:
            decided.append(result.approval)
        else:
            name = label(result.approval) if result.approval is not None else f"`{approval_id}`"
            refused.append((name, refusal_text(result)))
    await services.store.audit.append(
        "batch", by=user, outcome=outcome, decided=str(len(decided)), refused=str(len(refused))
    )
    return build_batch_result(decided, refused)

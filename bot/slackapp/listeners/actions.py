"""The approval buttons, wherever they are: the card, its copies in direct messages, an App Home.
Approve goes through the approval service's decide step (one atomic Redis step with every approver
rule); Reject and Revise check the same rules, then open their modal (a reason; feedback or edited
arguments), whose submission decides (bot/slackapp/listeners/views.py). A click in a Home binds no card: the
rules alone decide who may.

An Approve of an approval that needs step-up counts only once the clicker's passkey confirmed it: they are answered
with a one-time link to the bot's page (bot/stepup/), or told how to set up a passkey; nothing changes until then.

Approve & always allow (a tool call's card) checks like Approve, then opens the rule modal; a suggested
rule's Create (the `/agent rules suggest` reply) checks that the clicker is a named admin and that its
example call is still kept, then opens the same modal for a rule of the whole channel.

Bolt runs with `process_before_response=True`: a click is answered when its handler returns, so the
handlers do their Redis step (about a millisecond) and leave every Slack call (the card redraw, an
ephemeral answer, `views.open`) to background tasks.

A modal opened from a click (`open_view`) needs the click's `trigger_id`, which Slack takes for 3 s only:
when Slack answers that it expired (or does not know it), the clicker is told to click again (ephemerally
under the card; in a DM for a Home click) and one WARNING line is logged, no traceback.

Refusals are answered at most once per `REFUSAL_QUIET` seconds for the same refusal, person and approval
(and button), on any worker (`first_refusal`): a replayed click costs one Redis `SET NX EX`, no Slack call.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from functools import partial
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext
from slack_sdk.errors import SlackApiError

from bot.approvals import NO_RULE_FOR_STEP_UP, REFUSAL_QUIET, card_place, verb_of
from bot.approvals.refusals import storage_words
from bot.core.logs import log_fields
from bot.core.records import APPROVAL_ID, SLACK_ID, SLACK_TS
from bot.core.security import sign_metadata
from bot.services import Services
from bot.slack.blocks import (
    ACTION_APPROVE,
    ACTION_REJECT,
    ACTION_REVISE,
    build_notice_modal,
    build_reject_modal,
    build_revise_modal,
)
from bot.slack.blocks.artifact_modals import build_artifact_revise_modal, editable_here
from bot.slack.blocks.rule_modals import build_rule_modal
from bot.slack.blocks.rules import ACTION_ALWAYS_ALLOW, ACTION_RULE_CREATE, parse_suggestion_value
from bot.slack.refusals import SLACK, refusal_text
from bot.slackapp.click_answers import response_url_of, tell_under_card
from bot.slackapp.context import parts_of
from bot.slackapp.listeners.rule_form import rule_metadata
from bot.store import DecideResult, StoreUnavailable, StoreWriteRefused, persistently

log = logging.getLogger(__name__)

FINAL_REFUSALS = ("already", "missing", "mismatch")
NOT_THROTTLED = ("vote", "late")  # not refusals: a vote counted; "try again" (Redis ran the click too late)

# what `views.open` answers for a trigger_id past its 3 s (Slack's method page; its guide says
# trigger_expired), or one it does not know
TRIGGER_GONE = frozenset({"expired_trigger_id", "invalid_trigger_id", "trigger_expired"})
TOO_SLOW = "Slack took too long to open the form; click again."


def register(app: AsyncApp) -> None:
    async def handle_rule_create(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        services = parts_of(context)
        await ack()
        try:
            await open_suggested_rule(services, body)
        except StoreUnavailable as exc:
            log.warning("rule suggestion click not handled: Redis unreachable or refusing writes (%s)", exc.cause)
            where = suggestion_click(body)
            if where is not None:
                tell_in(services, where[0], where[1], storage_words(exc))

    app.action(ACTION_APPROVE)(guarded_click(partial(decide_from_click, outcome="approved")))
    app.action(ACTION_REJECT)(guarded_click(partial(open_modal, outcome="rejected")))
    app.action(ACTION_REVISE)(guarded_click(partial(open_modal, outcome="revised")))
    app.action(ACTION_ALWAYS_ALLOW)(guarded_click(open_rule_modal))
    app.action(ACTION_RULE_CREATE)(handle_rule_create)


def guarded_click(
    work: Callable[[Services, dict[str, Any]], Coroutine[Any, Any, None]],
) -> Callable[[AsyncAck, dict[str, Any], AsyncBoltContext], Coroutine[Any, Any, None]]:
    """The listener of a button whose `work` runs after the click is acknowledged, under `storage_guard`, with the
    parts of the request's workspace."""

    async def handle(ack: AsyncAck, body: dict[str, Any], context: AsyncBoltContext) -> None:
        services = parts_of(context)
        await ack()
        await storage_guard(services, body, work(services, body))

    return handle


async def storage_guard(services: Services, body: dict[str, Any], work: Coroutine[Any, Any, None]) -> None:
    """Run a click's work; if Redis is unreachable, tell the clicker to try again, and audit it (`not_recorded`)
    once Redis answers. Nothing is half applied: a decision is one atomic script, which either ran or did not."""
    try:
        await work
    except StoreUnavailable as exc:
        why = "refuses writes" if isinstance(exc, StoreWriteRefused) else "unreachable"
        click = parse_click(body)
        log.warning("click not recorded: Redis %s (%s); approval %s, by %s, told to try again", why, exc.cause,
                    click.approval_id if click else "?", click.user if click else "?")
        if click is not None:
            tell(services, click, storage_words(exc))
            services.background.spawn(audit_not_recorded(services, click, f"Redis {why} ({exc.cause})"),
                                      name=f"not-recorded-{click.approval_id}")


async def audit_not_recorded(services: Services, click: Click, why: str) -> None:
    """`not_recorded`, written once Redis answers again (a minute at most; then, or while it refuses writes, one
    WARNING line says the entry is missing)."""
    try:
        await persistently(partial(not_recorded, services, click, why), what="a lost click's audit entry",
                           blips=(StoreUnavailable,))
    except StoreUnavailable as exc:
        log.warning("the click of %s on approval %s, not recorded, is not audited either (%s)", click.user,
                    click.approval_id, exc.cause)


async def not_recorded(services: Services, click: Click, why: str) -> None:
    """Audit a click Redis never ran (the clicker told to try again): `refused`, reason "not recorded: ..." (a flood
    of them summarised, `AuditLog.refusal`; counted as `not_recorded` in `hitl_refusals_total`)."""
    await services.store.audit.refusal(
        f"not_recorded:{click.user}:{click.approval_id}", "refused", window=REFUSAL_QUIET, approval=click.approval_id,
        by=click.user, reason=f"not recorded: {why}; told to try again", where=click.place)


@dataclass(frozen=True, slots=True)
class Click:
    """A click on an approval's button: which approval, whose, and from which card (None: a Home)."""

    approval_id: str
    user: str
    card: tuple[str, str] | None
    trigger_id: str
    response_url: str = ""  # (the click's own, to answer it when chat.postEphemeral fails: `tell_under_card`)

    @property
    def where(self) -> str:
        return f"{self.card[0]}:{self.card[1]}" if self.card else "home"

    @property
    def place(self) -> str:
        """The card clicked as the one entry's `where` ("C…/ts"; "" from a Home)."""
        return card_place(self.card)


def parse_click(body: dict[str, Any]) -> Click | None:
    """The click in a `block_actions` payload, or None when malformed."""
    actions = body.get("actions") or [{}]
    container = body.get("container") or {}
    approval_id = str(actions[0].get("value", ""))
    user = str((body.get("user") or {}).get("id", ""))
    trigger = str(body.get("trigger_id", ""))
    if not (APPROVAL_ID.fullmatch(approval_id) and SLACK_ID.fullmatch(user)):
        return None
    if container.get("type") == "view":  # an App Home: no card
        return Click(approval_id, user, None, trigger)
    channel = str(container.get("channel_id", ""))
    ts = str(container.get("message_ts", ""))
    well_formed = SLACK_ID.fullmatch(channel) and SLACK_TS.fullmatch(ts)
    return Click(approval_id, user, (channel, ts), trigger, response_url_of(body)) if well_formed else None


def tell(services: Services, click: Click, text: str) -> None:
    """Answer the clicker only: ephemerally under the card (through the click's response_url when Slack does not
    take that), or in a small modal over their Home (in a DM when that modal could not open)."""
    if click.card is not None:
        answer = tell_under_card(services.slack, channel=click.card[0], user=click.user, text=text,
                                 response_url=click.response_url)
        services.background.spawn(answer, name=f"answer-{click.approval_id}")
        return
    view = build_notice_modal("Nothing changed", text)
    open_click_view(services, click, view, what="a notice", name=f"answer-{click.approval_id}", instead=text)


def open_click_view(
    services: Services, click: Click, view: dict[str, Any], *, what: str, name: str, instead: str = TOO_SLOW
) -> None:
    """`open_view` for `click`: its trigger and person, and the card's channel (None: a click in a Home)."""
    channel = (click.card[0] if click.card else "") or None
    open_view(services, trigger_id=click.trigger_id, view=view, user=click.user, channel=channel, what=what,
              name=name, instead=instead)


def open_view(
    services: Services,
    *,
    trigger_id: str,
    view: dict[str, Any],
    user: str,
    channel: str | None,
    what: str,
    name: str,
    instead: str = TOO_SLOW,
) -> None:
    """Open `view` for the click of `user` (in the background). If Slack says the click's trigger expired
    (or is unknown), log one WARNING line and tell them `instead`: ephemerally in `channel` (the card's),
    or, for a click in their Home (`channel` None), in their DM with the app. Other errors are raised
    (and logged by the background task) as before."""
    services.background.spawn(
        _open_view(services, trigger_id=trigger_id, view=view, user=user, channel=channel, what=what, instead=instead),
        name=name,
    )


async def _open_view(
    services: Services, *, trigger_id: str, view: dict[str, Any], user: str, channel: str | None, what: str,
    instead: str,
) -> None:
    try:
        await services.slack.views_open(trigger_id=trigger_id, view=view)
    except SlackApiError as exc:
        error = str(exc.response.get("error", ""))
        if error not in TRIGGER_GONE:
            raise
        log.warning(
            "%s was not opened for %s: Slack answered %s (a click's trigger_id lasts 3 s); told them in %s",
            what, user, error, "the channel" if channel else "a DM",
        )
        if channel:
            await services.slack.chat_postEphemeral(channel=channel, user=user, text=instead)
        else:  # a Home click: no channel to answer in; the app's DM with them (its Messages tab)
            await services.slack.chat_postMessage(channel=user, text=instead)


async def decide_from_click(services: Services, body: dict[str, Any], *, outcome: str) -> None:
    click = parse_click(body)
    if click is None:
        await services.store.audit.append("refused", reason="malformed click", outcome=outcome)
        return
    with log_fields(approval_id=click.approval_id, channel=click.card[0] if click.card else ""):
        await _decide(services, body, click, outcome=outcome)


async def _decide(services: Services, body: dict[str, Any], click: Click, *, outcome: str) -> None:
    """Decide `click`'s approval as `outcome`, or say why not (a step-up first, a refusal, the card redrawn)."""
    approval_id = click.approval_id
    decisions = services.approvals.decisions
    result = await decisions.decide(click.user, "slack", verb_of(outcome), approval_id=approval_id, where=click.place)
    if decisions.redraw_after(result, surface="slack") and result.status == "ok":
        return
    if result.status == "step_up" and result.approval is not None:  # their passkey confirms it first (bot/stepup/)
        if await first_refusal(services, click, why="step_up", button=outcome):
            tell(services, click, await services.confirmations.answer(click.user, result.approval, writing=SLACK))
        return
    if await refuse(services, result, click, button=outcome, **teams_of(body)):
        shown_here = approval_id in json.dumps((body.get("message") or {}).get("blocks"))  # a card of it was clicked
        await decisions.redraw_refused(result, approval_id, where=click.place if shown_here else "")


async def refuse(services: Services, result: DecideResult, click: Click, *, button: str, team: str = "",
                 user_team: str = "") -> bool:
    """Tell the clicker why nothing (or only a vote) happened; audit forged clicks. A refusal is answered
    once in `REFUSAL_QUIET` seconds (`first_refusal`): False when this one was not (a replay).

    Audit: every refused attempt, whether or not it is answered. A refusal by the approver rules (not allowed,
    the requester) is audited by the decide step itself (lua/lib/decide.lua); a click on a card that does not
    show the approval, here: the first of a person's on an approval in `REFUSAL_QUIET` seconds at once, the others
    as one summarising entry with their `count` (lua/lib/refusals.lua); a click on an approval this workspace does
    not hold (`team`: the workspace the click was sent with, `user_team` the person's), here too."""
    if result.status == "mismatch" and click.card is not None:
        await services.store.audit.refusal(
            f"mismatch:{click.user}:{click.approval_id}", "refused", window=REFUSAL_QUIET,
            approval=click.approval_id, by=click.user, reason="approval not on this card", card_channel=click.card[0],
        )
    if result.status == "late":  # Redis ran the click after this worker stopped waiting: not counted (the decide
        await services.store.audit.append(  # step counted it as `late` in hitl_refusals_total)
            "refused", approval=click.approval_id, by=click.user, where=click.place,
            reason="not recorded: Redis ran it after the worker stopped waiting for it; told to try again")
    if result.status == "missing":  # a card of another workspace (its click sent with this one's team), or gone
        await services.store.audit.refusal(
            f"missing:{click.user}:{click.approval_id}", "refused", window=REFUSAL_QUIET, approval=click.approval_id,
            by=click.user, team=team, user_team=user_team, served_by=services.store.keys.tenant or "home",
            reason="no such approval in this workspace: another workspace's card, or one no longer kept",
            **({"card_channel": click.card[0]} if click.card is not None else {}),
        )
    if result.status not in NOT_THROTTLED and not await first_refusal(
        services, click, why=result.status, button=button
    ):
        return False
    missing = [a for a in result.approval.approvers if a in services.directory.missing] if result.approval else []
    names = await services.cards.names(result.approval) if result.approval else {}
    tell(services, click, refusal_text(result, missing=missing, names=names))
    return True


def teams_of(body: dict[str, Any]) -> dict[str, str]:
    """The workspace a click was sent with (`team`) and its person's (`user_team`), for its refusal's audit entry."""
    team, user = body.get("team"), body.get("user")
    return {"team": str((team if isinstance(team, dict) else {}).get("id") or "")[:40],
            "user_team": str((user if isinstance(user, dict) else {}).get("team_id") or "")[:40]}


async def first_refusal(services: Services, click: Click, *, why: str, button: str) -> bool:
    """Whether the clicker has not been told this in the last `REFUSAL_QUIET` seconds, on any worker (one
    Redis `SET NX EX`); from now on, they have. A final refusal (`FINAL_REFUSALS`) counts per person and
    card (or approval, in their Home): a forged click cannot vary the approval to be answered again; any
    other per person, approval, refusal (`why`) and button clicked."""
    if why in FINAL_REFUSALS:
        what = f"refused:{click.user}:{click.where}:{click.approval_id if click.card is None else ''}"
    else:
        what = f"refused:{click.user}:{click.approval_id}:{why}:{button}"
    return await services.approvals.first_refusal(what, click.user)


async def open_modal(services: Services, body: dict[str, Any], *, outcome: str) -> None:
    """Reject or Revise: if the clicker may decide the approval, open its modal (a reason to reject;
    feedback or edited arguments to revise), bound to the card clicked (or to none, from a Home)."""
    click = parse_click(body)
    if click is None:
        return
    decisions = services.approvals.decisions
    checked = await decisions.may_decide(click.user, "slack", verb_of(outcome), approval_id=click.approval_id,
                                         where=click.place)
    if checked.status != "allowed" or checked.approval is None:
        await refuse(services, checked, click, button=outcome, **teams_of(body))
        return
    secret = services.settings.slack_signing_secret.get_secret_value()
    channel, ts = click.card or ("", "")
    metadata = sign_metadata(secret, approval_id=click.approval_id, user=click.user, channel=channel, ts=ts)
    if outcome == "rejected":
        view = build_reject_modal(checked.approval, metadata=metadata)
    else:  # Save & approve is offered to who may approve the card (and, with a quorum, vote), on a run's own call:
        # a program asks about an edited call anew itself, on a card nobody has voted on
        approving = await decisions.may_decide(click.user, "slack", "approve", approval_id=click.approval_id,
                                               where=click.place)
        change = editable_here(checked.approval)  # a message's body, a file's new text (#79): the edit is bound
        if change is not None:  # to this approval, whoever asked, so its editor may approve it here
            view = build_artifact_revise_modal(checked.approval, change, metadata=metadata,
                                               may_approve=approving.status == "allowed")
        else:
            may_approve = approving.status == "allowed" and not checked.approval.asked_by
            view = build_revise_modal(checked.approval, metadata=metadata, may_approve=may_approve)
    what = "the Reject form" if outcome == "rejected" else "the Revise form"  # (not an opening of its details:
    # only Details, Show all and the pages count for @require_details, #87; submitted, the form is a decision)
    open_click_view(services, click, view, what=what, name=f"modal-{click.approval_id}")


# --------------------------------------------------------------------------------------------------- Always allow

ONLY_TOOL_CALLS = "Only a tool call whose arguments pass its schema can be always allowed. Nothing changed."


async def open_rule_modal(services: Services, body: dict[str, Any]) -> None:
    """Approve & always allow: if the clicker may approve the call (the decide step's dry run, refusals
    answered and audited as for Approve), open the rule modal bound to the card clicked."""
    click = parse_click(body)
    if click is None:
        await services.store.audit.append("refused", reason="malformed click", outcome="always_allow")
        return
    checked = await services.approvals.decisions.may_decide(click.user, "slack", "approve",
                                                            approval_id=click.approval_id, where=click.place)
    if checked.status != "allowed" or checked.approval is None:
        await refuse(services, checked, click, button="always_allow", **teams_of(body))
        return
    approval = checked.approval
    if approval.step_up:  # no rule approves what needs step-up: the card offers no such button
        if await first_refusal(services, click, why="step_up", button="always_allow"):
            await services.rules.refuse(click.user, approval.origin_channel, NO_RULE_FOR_STEP_UP, approval=approval.id)
            tell(services, click, NO_RULE_FOR_STEP_UP)
        return
    if approval.kind != "tool_call" or approval.schema_error:
        # audited and answered once per person and approval in REFUSAL_QUIET seconds (a replay: neither)
        if await first_refusal(services, click, why="not_a_tool_call", button="always_allow"):
            await services.rules.refuse(click.user, approval.origin_channel, ONLY_TOOL_CALLS, approval=approval.id)
            tell(services, click, ONLY_TOOL_CALLS)
        return
    secret = services.settings.slack_signing_secret.get_secret_value()
    channel, ts = click.card or ("", "")
    metadata = rule_metadata(secret, mode="card", approval_id=approval.id, user=click.user, channel=channel, ts=ts)
    view = build_rule_modal(approval, metadata=metadata, mode="card", channel=approval.origin_channel)
    open_click_view(services, click, view, what="the always-allow form", name=f"rule-modal-{approval.id}")


def suggestion_click(body: dict[str, Any]) -> tuple[str, str, str, str] | None:
    """(channel, user, message ts, button value) of a click in a message (the suggestion's ephemeral
    reply), or None when malformed."""

    def part(value: Any) -> dict[str, Any]:
        return value if isinstance(value, dict) else {}

    container = part(body.get("container"))
    user = str(part(body.get("user")).get("id", ""))
    channel = str(container.get("channel_id") or part(body.get("channel")).get("id") or "")
    actions = body.get("actions")
    action = part(actions[0]) if isinstance(actions, list) and actions else {}
    ts = str(container.get("message_ts") or action.get("action_ts") or "")
    if not (SLACK_ID.fullmatch(user) and SLACK_ID.fullmatch(channel) and SLACK_TS.fullmatch(ts)):
        return None
    return channel, user, ts, str(action.get("value", ""))


def tell_in(services: Services, channel: str, user: str, text: str) -> None:
    services.background.spawn(
        services.slack.chat_postEphemeral(channel=channel, user=user, text=text), name=f"answer-{user}"
    )


async def open_suggested_rule(services: Services, body: dict[str, Any]) -> None:
    """A suggested rule's Create: a named admin of the channel gets the rule modal for a rule of the whole
    channel, prefilled with the suggestion and checked against the schema its example call holds."""
    where = suggestion_click(body)
    if where is None:
        await services.store.audit.append("refused", reason="malformed click", outcome="rule_create")
        return
    channel, user, ts, value = where
    parsed = parse_suggestion_value(value)
    if parsed is None:
        why = "This button does not hold a rule suggestion: run `/agent rules suggest` again. Nothing changed."
        await services.rules.refuse(user, channel, why)
        tell_in(services, channel, user, why)
        return
    example_id, match = parsed
    if not await services.rules.is_admin(user, channel):
        why = services.rules.admin_only(channel)
        await services.rules.refuse(user, channel, why, tool=match.tool)
        tell_in(services, channel, user, why)
        return
    example = await services.store.approvals.get(example_id)
    if (
        example is None
        or example.kind != "tool_call"
        or example.tool_name != match.tool
        or example.origin_channel != channel
    ):
        why = (
            "The approved call this suggestion was made from is no longer kept, so the rule cannot be checked"
            " against its tool's schema: run `/agent rules suggest` again. Nothing changed."
        )
        tell_in(services, channel, user, why)
        return
    secret = services.settings.slack_signing_secret.get_secret_value()
    metadata = rule_metadata(secret, mode="suggestion", approval_id=example.id, user=user, channel=channel, ts=ts)
    view = build_rule_modal(example, metadata=metadata, mode="suggestion", channel=channel, match=match)
    trigger = str(body.get("trigger_id", ""))
    open_view(services, trigger_id=trigger, view=view, user=user, channel=channel, what="the suggested rule's form",
              name=f"rule-modal-{user}")

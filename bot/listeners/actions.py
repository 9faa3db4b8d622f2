"""The card's buttons. Approve and Reject are one atomic Redis step; Revise opens a modal.

Bolt runs with `process_before_response=True`: these handlers only touch Redis before they
return, so the HTTP answer goes out in about a millisecond; Slack calls happen in the background.
Who may decide is checked inside the same atomic step (self-approval, named approvers); only
user-group membership needs a (cached) Slack lookup first.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import Coroutine
from typing import Any

from redis.exceptions import RedisError
from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.blocks import ACTION_APPROVE, ACTION_REJECT, ACTION_REVISE, build_revise_modal, people_refs, user_ref
from bot.records import APPROVAL_ID, SLACK_ID, SLACK_TS, ApprovalRecord
from bot.security import sign_metadata
from bot.services import Services
from bot.store import DecideResult

log = logging.getLogger(__name__)

STORAGE_DOWN = "The bot cannot reach its storage right now, so nothing was recorded. Try again in a moment."
ATTACH_WAIT = 3.0  # seconds a click may wait for its card's ts to be stored
# A click whose answer can never change (the approval is decided, gone, or not this card's) is answered
# (and a forged one audited) once per person and card in this many seconds: replayed clicks (a
# double-click storm, a client retrying) cost one Redis SET each, nothing more.
REFUSAL_QUIET = 10
FINAL_REFUSALS = ("already", "missing", "mismatch")

ALREADY = {
    "approved": "approved",
    "rejected": "rejected",
    "revised": "sent back for revision",
    "timed_out": "timed out",
    "cancelled": "cancelled",
}


def register(app: AsyncApp, services: Services) -> None:
    async def handle_approve(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await storage_guard(services, body, decide_from_click(services, body, outcome="approved"))

    async def handle_reject(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await storage_guard(services, body, decide_from_click(services, body, outcome="rejected"))

    async def handle_revise(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await storage_guard(services, body, open_revise_modal(services, body))

    app.action(ACTION_APPROVE)(handle_approve)
    app.action(ACTION_REJECT)(handle_reject)
    app.action(ACTION_REVISE)(handle_revise)


async def storage_guard(services: Services, body: dict[str, Any], work: Coroutine[Any, Any, None]) -> None:
    """Run a click's work; if Redis is unreachable, tell the clicker to try again. Nothing is half
    applied: a decision is one atomic script, which either ran or did not."""
    try:
        await work
    except RedisError as exc:
        log.warning("click not recorded: Redis unreachable (%s)", type(exc).__name__)
        user = str((body.get("user") or {}).get("id", ""))
        channel = str((body.get("container") or {}).get("channel_id", ""))
        if SLACK_ID.match(user) and SLACK_ID.match(channel):
            services.background.spawn(
                services.slack.chat_postEphemeral(channel=channel, user=user, text=STORAGE_DOWN), name="storage-down"
            )


def _click(body: dict[str, Any]) -> tuple[str, str, str, str] | None:
    """(approval id, user, card channel, card ts) of a button click, or None when malformed."""
    actions = body.get("actions") or [{}]
    container = body.get("container") or {}
    approval_id = str(actions[0].get("value", ""))
    user = str((body.get("user") or {}).get("id", ""))
    channel = str(container.get("channel_id", ""))
    ts = str(container.get("message_ts", ""))
    ok = APPROVAL_ID.match(approval_id) and SLACK_ID.match(user) and SLACK_ID.match(channel) and SLACK_TS.match(ts)
    return (approval_id, user, channel, ts) if ok else None


async def decide_as(
    services: Services, approval_id: str, *, outcome: str, user: str, card: tuple[str, str], feedback: str = ""
) -> DecideResult:
    """A person's decision (or vote) through the atomic step, with the approver rules applied."""
    store = services.store
    result = await store.decide(approval_id, outcome=outcome, by=user, feedback=feedback, card=card, check_auth=True)
    deadline = time.monotonic() + ATTACH_WAIT
    while result.status == "unattached":  # a click within ms of the post, or the poster died in between
        await asyncio.sleep(0.01)
        late = time.monotonic() >= deadline
        result = await store.decide(
            approval_id, outcome=outcome, by=user, feedback=feedback, card=card, check_auth=True, attach=late
        )
    if result.status == "check_groups" and result.approval is not None:
        if await services.directory.in_any_group(user, result.approval.approver_ids):
            return await store.decide(
                approval_id, outcome=outcome, by=user, feedback=feedback, card=card, check_auth=True, groups_ok=True
            )
        await store.audit(
            "refused",
            approval=approval_id,
            run=result.approval.run_id,
            by=user,
            outcome=outcome,
            reason="not_allowed",
            card_channel=card[0],
            origin_channel=result.approval.origin_channel,
        )
        return DecideResult(status="not_allowed", approval=result.approval)
    return result


def show_outcome(services: Services, result: DecideResult) -> bool:
    """Bring the card up to date after a decision or vote. False when nothing was decided."""
    if result.approval is None or result.status not in ("ok", "vote"):
        return False
    if result.status == "ok":
        # the card, and the run if its worker is gone
        services.runs.after_decision(result.approval, owner_heard=result.owner_heard)
    else:
        services.cards.schedule(result.approval)
    return True


async def decide_from_click(services: Services, body: dict[str, Any], *, outcome: str) -> None:
    click = _click(body)
    if click is None:
        await services.store.audit("refused", reason="malformed click", outcome=outcome)
        return
    approval_id, user, channel, ts = click
    result = await decide_as(services, approval_id, outcome=outcome, user=user, card=(channel, ts))
    if show_outcome(services, result) and result.status == "ok":
        return
    answered = await refuse(services, result, user=user, card=(channel, ts), approval_id=approval_id)
    if answered and result.status == "already" and result.approval is not None:
        if not services.cards.shows(result.approval):  # the clicked card still showed buttons: draw the decision
            services.cards.schedule(result.approval)
    shown_here = approval_id in json.dumps((body.get("message") or {}).get("blocks"))  # a card of it was clicked
    if answered and result.status == "mismatch" and shown_here:
        await heal_copy(services, approval_id, channel=channel, ts=ts)


async def heal_copy(services: Services, approval_id: str, *, channel: str, ts: str) -> None:
    """A click on an extra card of an approval (its worker died between posting the card and noting
    it, and another worker posted it again): draw the approval's state there, without buttons."""
    approval = await services.store.get_approval(approval_id)
    if approval is None or approval.card_channel != channel or not approval.card_ts or approval.card_ts == ts:
        return
    await services.store.index_card(channel, ts, approval_id)
    services.background.spawn(services.cards.show_on_copy(approval, channel=channel, ts=ts), name="card-copy")


async def refuse(
    services: Services, result: DecideResult, *, user: str, card: tuple[str, str], approval_id: str
) -> bool:
    """Tell the clicker why nothing (or only a vote) happened, ephemerally; audit forged clicks. A
    final refusal is answered once per person and card in `REFUSAL_QUIET` seconds: False when this one
    was not (a replay)."""
    channel = card[0]
    if result.status in FINAL_REFUSALS and not await first_refusal(services, user=user, card=card):
        return False
    if result.status == "mismatch":
        await services.store.audit(
            "refused", approval=approval_id, by=user, reason="approval not on this card", card_channel=channel
        )
    services.background.spawn(
        services.slack.chat_postEphemeral(channel=channel, user=user, text=refusal_text(result)),
        name=f"refusal-{approval_id}",
    )
    return True


async def first_refusal(services: Services, *, user: str, card: tuple[str, str]) -> bool:
    """Whether `user` has been told of no final refusal about this card in the last `REFUSAL_QUIET`
    seconds, on any worker (a Redis `SET NX EX`); from now on, they have."""
    return await services.store.claim(f"refused:{user}:{card[0]}:{card[1]}", user, seconds=REFUSAL_QUIET)


def refusal_text(result: DecideResult) -> str:
    approval = result.approval
    if result.status == "vote" and approval is not None:
        return f"Your approval is counted: {len(approval.voters)} of {approval.required_approvals}."
    if result.status == "duplicate" and approval is not None:
        return (
            f"Your approval already counts ({len(approval.voters)} of {approval.required_approvals});"
            " another approver must approve. Nothing changed."
        )
    if result.status == "self":
        return (
            "You started this run, so you cannot decide its approvals (this channel's allow_self_approval"
            " is false). Nothing changed."
        )
    if result.status == "not_allowed" and approval is not None:
        return f"Only {people_refs(approval.approver_ids)} may decide this approval. Nothing changed."
    if result.status == "already" and approval is not None:
        if approval.status == "timed_out":
            return "Too late: this approval already timed out."
        by = f" by {user_ref(approval.decided_by)}" if approval.decided_by not in ("", "system", "timeout") else ""
        return f"This approval was already {ALREADY.get(approval.status, approval.status)}{by}. Nothing changed."
    if result.status == "mismatch":
        return "This button does not belong to this card. Nothing changed."
    if result.status == "late":  # Redis ran the click after this worker stopped waiting for it
        return STORAGE_DOWN
    return "This approval is no longer known (it expired or was removed). Nothing changed."


async def open_revise_modal(services: Services, body: dict[str, Any]) -> None:
    click = _click(body)
    if click is None:
        return
    approval_id, user, channel, ts = click
    approval = await services.store.get_approval(approval_id)
    deadline = time.monotonic() + ATTACH_WAIT
    while approval is not None and not approval.card_ts and time.monotonic() < deadline:  # just posted
        await asyncio.sleep(0.01)
        approval = await services.store.get_approval(approval_id)
    problem = await _not_decidable(services, approval, user=user, channel=channel, ts=ts)
    if problem is not None:
        await refuse(services, problem, user=user, card=(channel, ts), approval_id=approval_id)
        return
    assert approval is not None
    metadata = sign_metadata(
        services.settings.slack_signing_secret, approval_id=approval_id, user=user, channel=channel, ts=ts
    )
    view = build_revise_modal(approval, metadata=metadata)
    services.background.spawn(
        services.slack.views_open(trigger_id=str(body.get("trigger_id", "")), view=view), name=f"modal-{approval_id}"
    )


async def _not_decidable(
    services: Services, approval: ApprovalRecord | None, *, user: str, channel: str, ts: str
) -> DecideResult | None:
    """Why `user` cannot ask for a revision of `approval` from this card (the modal is not opened)."""
    if approval is None:
        return DecideResult(status="missing", approval=None)
    if approval.card_channel != channel or approval.card_ts != ts:
        return DecideResult(status="mismatch", approval=None)
    if not approval.pending:
        return DecideResult(status="already", approval=approval)
    if not approval.allow_self_approval and approval.requester == user:
        reason = "self"
    elif approval.approver_ids and user not in approval.approver_ids:
        if await services.directory.in_any_group(user, approval.approver_ids):
            return None
        reason = "not_allowed"
    else:
        return None
    await services.store.audit(
        "refused",
        approval=approval.id,
        run=approval.run_id,
        by=user,
        outcome="revised",
        reason=reason,
        card_channel=channel,
        origin_channel=approval.origin_channel,
    )
    return DecideResult(status=reason, approval=approval)  # type: ignore[arg-type]

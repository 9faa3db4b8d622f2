"""The card's buttons. Approve and Reject go through the approval service's decide step (one atomic
Redis step with every approver rule); Revise checks the same rules, then opens a modal.

Bolt runs with `process_before_response=True`: a click is answered when its handler returns, so the
handlers do their Redis step (about a millisecond) and leave every Slack call (the card redraw, an
ephemeral answer, `views.open`) to background tasks.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Coroutine
from typing import Any

from redis.exceptions import RedisError
from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.approvals import STORAGE_DOWN, refusal_text
from bot.blocks import ACTION_APPROVE, ACTION_REJECT, ACTION_REVISE, build_revise_modal
from bot.records import APPROVAL_ID, SLACK_ID, SLACK_TS
from bot.security import sign_metadata
from bot.services import Services
from bot.store import DecideResult

log = logging.getLogger(__name__)

# A click whose answer can never change (the approval is decided, gone, or not this card's) is answered
# (and a forged one audited) once per person and card in this many seconds: replayed clicks (a
# double-click storm, a client retrying) cost one Redis SET each, nothing more.
REFUSAL_QUIET = 10
FINAL_REFUSALS = ("already", "missing", "mismatch")


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


async def decide_from_click(services: Services, body: dict[str, Any], *, outcome: str) -> None:
    click = _click(body)
    if click is None:
        await services.store.audit.append("refused", reason="malformed click", outcome=outcome)
        return
    approval_id, user, channel, ts = click
    result = await services.approvals.decide(approval_id, outcome=outcome, user=user, card=(channel, ts))
    if services.approvals.show(result) and result.status == "ok":
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
    approval = await services.store.approvals.get(approval_id)
    if approval is None or approval.card_channel != channel or not approval.card_ts or approval.card_ts == ts:
        return
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
        await services.store.audit.append(
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
    return await services.store.workers.claim(f"refused:{user}:{card[0]}:{card[1]}", user, seconds=REFUSAL_QUIET)


async def open_revise_modal(services: Services, body: dict[str, Any]) -> None:
    click = _click(body)
    if click is None:
        return
    approval_id, user, channel, ts = click
    checked = await services.approvals.check(approval_id, outcome="revised", user=user, card=(channel, ts))
    if checked.status != "allowed" or checked.approval is None:
        await refuse(services, checked, user=user, card=(channel, ts), approval_id=approval_id)
        return
    approval = checked.approval
    secret = services.settings.slack_signing_secret.get_secret_value()
    metadata = sign_metadata(secret, approval_id=approval_id, user=user, channel=channel, ts=ts)
    view = build_revise_modal(approval, metadata=metadata)
    services.background.spawn(
        services.slack.views_open(trigger_id=str(body.get("trigger_id", "")), view=view), name=f"modal-{approval_id}"
    )

"""The card's buttons. Approve and Reject are one atomic Redis step; Revise opens a modal.

Bolt runs with `process_before_response=True`: these handlers only touch Redis before they
return, so the HTTP answer goes out in about a millisecond; Slack calls happen in the background.
"""

from __future__ import annotations

from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.blocks import ACTION_APPROVE, ACTION_REJECT, ACTION_REVISE, build_revise_modal, user_ref
from bot.records import APPROVAL_ID, SLACK_ID, SLACK_TS, ApprovalRecord
from bot.security import sign_metadata
from bot.services import Services
from bot.store import DecideResult

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
        await decide_from_click(services, body, outcome="approved")

    async def handle_reject(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await decide_from_click(services, body, outcome="rejected")

    async def handle_revise(ack: AsyncAck, body: dict[str, Any]) -> None:
        await ack()
        await open_revise_modal(services, body)

    app.action(ACTION_APPROVE)(handle_approve)
    app.action(ACTION_REJECT)(handle_reject)
    app.action(ACTION_REVISE)(handle_revise)


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
        await services.store.audit("refused", reason="malformed click", outcome=outcome)
        return
    approval_id, user, channel, ts = click
    result = await services.store.decide(approval_id, outcome=outcome, by=user, card=(channel, ts))
    if result.status == "ok" and result.approval is not None:
        services.background.spawn(services.cards.show_decision(result.approval), name=f"card-{approval_id}")
        return
    await refuse(services, result, user=user, channel=channel, approval_id=approval_id, outcome=outcome)


async def refuse(
    services: Services, result: DecideResult, *, user: str, channel: str, approval_id: str, outcome: str
) -> None:
    """Tell the clicker why nothing happened (ephemeral); audit forged clicks."""
    if result.status == "mismatch":
        await services.store.audit("refused", approval=approval_id, by=user, reason="approval not on this card")
    message = refusal_text(result)
    services.background.spawn(
        services.slack.chat_postEphemeral(channel=channel, user=user, text=message), name=f"refusal-{approval_id}"
    )


def refusal_text(result: DecideResult) -> str:
    if result.status == "already" and result.approval is not None:
        approval = result.approval
        if approval.status == "timed_out":
            return "Too late: this approval already timed out."
        by = f" by {user_ref(approval.decided_by)}" if approval.decided_by not in ("", "system", "timeout") else ""
        return f"This approval was already {ALREADY.get(approval.status, approval.status)}{by}. Nothing changed."
    if result.status == "mismatch":
        return "This button does not belong to this card. Nothing changed."
    return "This approval is no longer known (it expired or was removed). Nothing changed."


async def open_revise_modal(services: Services, body: dict[str, Any]) -> None:
    click = _click(body)
    if click is None:
        return
    approval_id, user, channel, ts = click
    approval = await services.store.get_approval(approval_id)
    problem = _not_decidable(approval, channel=channel, ts=ts)
    if problem is not None:
        await refuse(services, problem, user=user, channel=channel, approval_id=approval_id, outcome="revised")
        return
    assert approval is not None
    metadata = sign_metadata(
        services.settings.slack_signing_secret, approval_id=approval_id, user=user, channel=channel, ts=ts
    )
    view = build_revise_modal(approval, metadata=metadata)
    services.background.spawn(
        services.slack.views_open(trigger_id=str(body.get("trigger_id", "")), view=view), name=f"modal-{approval_id}"
    )


def _not_decidable(approval: ApprovalRecord | None, *, channel: str, ts: str) -> DecideResult | None:
    if approval is None:
        return DecideResult(status="missing", approval=None)
    if approval.card_channel != channel or approval.card_ts not in ("", ts):
        return DecideResult(status="mismatch", approval=None)
    if not approval.pending:
        return DecideResult(status="already", approval=approval)
    return None

"""The Reject and Revise modals' submissions.

Reject: the optional reason goes to the agent with the rejection, and to the audit log and the card.

Revise: the feedback goes to the agent as a person would type it.

For a tool call, the reviewer may instead edit its arguments: they must be valid JSON and match
the tool's schema (stored with the approval), else the modal says why and nothing is decided or run.
Edited arguments travel as the revision's feedback (`agents.approver.encode_revision`); the agent
asks again about the edited call, on a card of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from redis.exceptions import RedisError
from slack_bolt.async_app import AsyncAck, AsyncApp

from agents.approver import canonical_json, encode_revision
from agents.tools import schema_problem
from bot.approvals import STORAGE_DOWN, refusal_text
from bot.blocks import (
    ARGUMENTS_ACTION,
    ARGUMENTS_BLOCK,
    FEEDBACK_ACTION,
    FEEDBACK_BLOCK,
    REASON_ACTION,
    REASON_BLOCK,
    REJECT_CALLBACK_ID,
    REVISE_CALLBACK_ID,
)
from bot.gate import MAX_DEPTH, too_deep
from bot.records import SLACK_ID, ApprovalRecord
from bot.security import verify_metadata
from bot.services import Services

MAX_FEEDBACK_CHARS = 3000
MAX_ARGUMENTS_CHARS = 3000
Errors = dict[str, str]
_REJECT = re.compile(r"^\s*reject\b[\s:,.-]*(.*)$", re.IGNORECASE | re.DOTALL)


Submit = Callable[[Services, dict[str, Any], dict[str, Any]], Awaitable[Errors | None]]


def register(app: AsyncApp, services: Services) -> None:
    def handler(submit: Submit, *, block: str, kept: str) -> Callable[..., Awaitable[None]]:
        """A modal's submission: done, or its errors shown in the modal (which stays open, so what the
        person typed, `kept`, is not lost)."""

        async def handle(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
            try:
                errors = await submit(services, body, view)
            except RedisError:
                errors = {block: f"{STORAGE_DOWN} Your {kept} is still here: send it again."}
            if errors:
                await ack(response_action="errors", errors=errors)
            else:
                await ack()

        return handle

    app.view(REVISE_CALLBACK_ID)(handler(submit_revision, block=FEEDBACK_BLOCK, kept="feedback"))
    app.view(REJECT_CALLBACK_ID)(handler(submit_rejection, block=REASON_BLOCK, kept="reason"))


async def _bound_card(
    services: Services, body: dict[str, Any], view: dict[str, Any], *, form: str
) -> tuple[str, str, tuple[str, str] | None] | None:
    """(user, approval id, card or None from a Home) from a modal's signed metadata; None (refused and
    audited) when the metadata is not ours, altered or another person's."""
    user = str((body.get("user") or {}).get("id", ""))
    secret = services.settings.slack_signing_secret.get_secret_value()
    bound = verify_metadata(secret, str(view.get("private_metadata", "")), user=user)
    if bound is None:
        by = user if SLACK_ID.match(user) else ""
        await services.store.audit.append("refused", reason=f"{form} form with altered or foreign metadata", by=by)
        return None
    approval_id, channel, ts = bound
    return user, approval_id, (channel, ts) if channel else None


async def submit_rejection(services: Services, body: dict[str, Any], view: dict[str, Any]) -> Errors | None:
    """Reject the approval, with the reason given (if any). Errors to show in the modal, or None."""
    bound = await _bound_card(services, body, view, form="reject")
    if bound is None:
        return {REASON_BLOCK: "This form does not belong to a known approval. Nothing was rejected."}
    user, approval_id, card = bound
    reason = (input_text(view, REASON_BLOCK, REASON_ACTION) or "").strip()
    if len(reason) > MAX_FEEDBACK_CHARS:
        return {REASON_BLOCK: f"Keep it under {MAX_FEEDBACK_CHARS} characters (this is {len(reason)})."}
    result = await services.approvals.decide(approval_id, outcome="rejected", user=user, feedback=reason, card=card)
    if services.approvals.show(result):
        return None
    return {REASON_BLOCK: refusal_text(result) + (" Your reason was not sent." if reason else "")}


def input_text(view: dict[str, Any], block: str, action: str) -> str | None:
    """A text input's value; None when the modal has no such input."""
    values = ((view.get("state") or {}).get("values") or {}).get(block)
    if not isinstance(values, dict) or action not in values:
        return None
    entry = values.get(action)
    return str((entry.get("value") if isinstance(entry, dict) else "") or "")


async def submit_revision(services: Services, body: dict[str, Any], view: dict[str, Any]) -> Errors | None:
    """Decide the approval as revised. Returns errors to show in the modal by block (it stays open,
    so the reviewer's text is not lost), or None when done."""
    bound = await _bound_card(services, body, view, form="revise")
    if bound is None:
        return {FEEDBACK_BLOCK: "This form does not belong to a known approval. Nothing was sent."}
    user, approval_id, card = bound
    feedback = (input_text(view, FEEDBACK_BLOCK, FEEDBACK_ACTION) or "").strip()
    if len(feedback) > MAX_FEEDBACK_CHARS:
        return {FEEDBACK_BLOCK: f"Keep it under {MAX_FEEDBACK_CHARS} characters (this is {len(feedback)})."}
    edited = input_text(view, ARGUMENTS_BLOCK, ARGUMENTS_ACTION)
    changed = False
    if edited is not None:
        approval = await services.store.approvals.get(approval_id)
        if approval is None or approval.kind != "tool_call":
            return {FEEDBACK_BLOCK: "This approval is no longer known (it expired or was removed). Nothing was sent."}
        edit = edited_call(approval, edited)
        if edit.errors:
            return edit.errors
        changed = edit.changed
        if changed:
            feedback = encode_revision(edit.arguments, note=feedback)
        elif not feedback:
            return {FEEDBACK_BLOCK: "Edit the arguments, or write what the agent should change."}
    elif not feedback:
        return {FEEDBACK_BLOCK: "Write what the agent should change."}
    outcome = "revised"
    rejection = None if changed else _REJECT.match(feedback)
    if rejection is not None:  # "reject: too pushy": a rejection with its reason
        outcome, feedback = "rejected", rejection.group(1).strip()
    result = await services.approvals.decide(approval_id, outcome=outcome, user=user, feedback=feedback, card=card)
    if services.approvals.show(result):
        return None
    return {FEEDBACK_BLOCK: refusal_text(result) + " Your feedback was not sent; copy it if you want to keep it."}


@dataclass(frozen=True, slots=True)
class Edit:
    """What a reviewer did to a tool call's arguments in the modal."""

    arguments: Any = None
    changed: bool = False
    errors: Errors | None = None


def edited_call(approval: ApprovalRecord, text: str) -> Edit:
    """The arguments a reviewer typed: changed and valid, unchanged, or the modal's errors (not JSON,
    or not matching the tool's schema). Nothing runs here."""
    if len(text) > MAX_ARGUMENTS_CHARS:
        return Edit(
            errors={ARGUMENTS_BLOCK: f"Keep the arguments under {MAX_ARGUMENTS_CHARS} characters. Nothing was run."}
        )
    too_nested = Edit(
        errors={ARGUMENTS_BLOCK: f"The arguments are nested more than {MAX_DEPTH} levels deep. Nothing was run."}
    )
    try:
        arguments = json.loads(text)
    except ValueError as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        message = exc.msg if isinstance(exc, json.JSONDecodeError) else str(exc)
        return Edit(errors={ARGUMENTS_BLOCK: f"This is not valid JSON: {message}{where}. Nothing was run."})
    except RecursionError:  # deeper than Python's parser goes
        return too_nested
    if too_deep(arguments):  # before anything walks them (comparing, the schema check, the card)
        return too_nested
    try:
        unchanged = canonical_json(arguments) == canonical_json(json.loads(approval.arguments or "{}"))
    except ValueError:
        unchanged = False
    if unchanged:
        return Edit(arguments=arguments)
    try:
        schema = json.loads(approval.arguments_schema or "{}")
    except ValueError:
        schema = None
    if not isinstance(schema, dict):
        return Edit(
            errors={ARGUMENTS_BLOCK: "The tool's schema is unknown, so edits cannot be checked. Nothing was run."}
        )
    problem = schema_problem(arguments, schema)
    if problem is not None:
        message = f"These arguments do not match the tool's schema: {problem}. Nothing was run."
        return Edit(errors={ARGUMENTS_BLOCK: message[:1900]})
    return Edit(arguments=arguments, changed=True)

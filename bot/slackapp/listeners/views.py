"""The Reject, Revise and Always allow modals' submissions.

Reject: the optional reason goes to the agent with the rejection, and to the audit log and the card.

Revise: the feedback goes to the agent as a person would type it.

For a change (#79: a message's body, a file's new text; bot/slackapp/listeners/artifact_edits.py), the reviewer may
edit its text: the edited artefact replaces the approval's in the step that decides it (Save & approve, or a
revision), with its new digest, which the receipt binds.

For a tool call, the reviewer may instead edit its arguments: they must be valid JSON and match
the tool's schema (stored with the approval), else the modal says why and nothing is decided or run.
Edited arguments travel as the revision's feedback (`agent_approvals.approver.encode_revision`); the agent
asks again about the edited call, on a card of its own. The JSON's checks, the hidden values kept whole and the
feedback are the approval core's, one way for every surface (bot/approvals/revisions.py); this maps its words onto
the modal's blocks.

Always allow: bot/slackapp/listeners/rule_form.py reads the form; its submission is registered here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.approvals import Revision, Typed, card_place, not_editable, verb_of
from bot.approvals.refusals import STORAGE_DOWN
from bot.core import field_edits
from bot.core.field_edits import changed_fields
from bot.core.records import SLACK_ID, ApprovalRecord
from bot.core.security import verify_metadata
from bot.services import Services
from bot.slack.blocks.artifact_modals import ARTIFACT_BLOCK
from bot.slack.blocks.decision_modals import (
    ARGUMENTS_ACTION,
    ARGUMENTS_BLOCK,
    FEEDBACK_ACTION,
    FEEDBACK_BLOCK,
    FIELD_ACTION,
    FIELD_BLOCK,
    REASON_ACTION,
    REASON_BLOCK,
    REJECT_CALLBACK_ID,
    REVISE_CALLBACK_ID,
    THEN_ACTION,
    THEN_BLOCK,
)
from bot.slack.blocks.rules import RULE_CALLBACK_ID
from bot.slack.blocks.text import clean
from bot.slack.refusals import refusal_text
from bot.slackapp.context import parts_of
from bot.slackapp.listeners.artifact_edits import ChangeEdit, change_edit
from bot.slackapp.listeners.rule_form import submit_rule, top_block
from bot.slackapp.payloads import ViewState
from bot.store import StoreUnavailable

MAX_FEEDBACK_CHARS = 3000
Errors = dict[str, str]
_REJECT = re.compile(r"^\s*reject\b[\s:,.-]*(.*)$", re.IGNORECASE | re.DOTALL)


Submit = Callable[[Services, dict[str, Any], dict[str, Any]], Awaitable[Errors | None]]


def submission(submit: Submit, *, block: str, kept: str) -> Callable[..., Awaitable[None]]:
    """A modal's submission: done, or its errors shown in the modal (which stays open, so what the person typed,
    `kept`, is not lost: Redis out of reach is said on `block`)."""

    async def handle(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext) -> None:
        try:
            errors = await submit(parts_of(context), body, view)
        except StoreUnavailable:
            errors = {block: f"{STORAGE_DOWN} Your {kept} is still here: send it again."}
        if errors:
            await ack(response_action="errors", errors=errors)
        else:
            await ack()

    return handle


def register(app: AsyncApp) -> None:
    app.view(REVISE_CALLBACK_ID)(submission(submit_revision, block=FEEDBACK_BLOCK, kept="feedback"))
    app.view(REJECT_CALLBACK_ID)(submission(submit_rejection, block=REASON_BLOCK, kept="reason"))

    async def handle_rule(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext) -> None:
        services = parts_of(context)
        try:
            answer = await submit_rule(services, body, view)
        except StoreUnavailable:
            answer = {"errors": {top_block(view): STORAGE_DOWN}}
        if "view" in answer:
            await ack(response_action="update", view=answer["view"])
        else:
            await ack(response_action="errors", errors=answer["errors"])

    app.view(RULE_CALLBACK_ID)(handle_rule)


async def _bound_card(
    services: Services, body: dict[str, Any], view: dict[str, Any], *, form: str
) -> tuple[str, str, tuple[str, str] | None] | None:
    """(user, approval id, card or None from a Home) from a modal's signed metadata; None (refused and
    audited) when the metadata is not ours, altered or another person's."""
    user = str((body.get("user") or {}).get("id", ""))
    secret = services.settings.slack_signing_secret.get_secret_value()
    bound = verify_metadata(secret, str(view.get("private_metadata", "")), user=user)
    if bound is None:
        by = user if SLACK_ID.fullmatch(user) else ""
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
    decisions = services.approvals.decisions
    result = await decisions.decide(user, "slack", "reject", approval_id=approval_id, where=card_place(card),
                                    feedback=reason)
    if decisions.redraw_after(result, surface="slack"):
        return None
    return {REASON_BLOCK: refusal_text(result) + (" Your reason was not sent." if reason else "")}


def input_text(view: dict[str, Any], block: str, action: str) -> str | None:
    """A text input's value; None when the modal has no such input."""
    return ViewState.of(view).text(block, action)


async def submit_revision(services: Services, body: dict[str, Any], view: dict[str, Any]) -> Errors | None:
    """Decide the approval as revised. Returns errors to show in the modal by block (it stays open,
    so the reviewer's text is not lost), or None when done."""
    bound = await _bound_card(services, body, view, form="revise")
    if bound is None:
        return {FEEDBACK_BLOCK: "This form does not belong to a known approval. Nothing was sent."}
    user, approval_id, card = bound
    state = ViewState.of(view)
    feedback = (state.text(FEEDBACK_BLOCK, FEEDBACK_ACTION) or "").strip()
    if len(feedback) > MAX_FEEDBACK_CHARS:
        return {FEEDBACK_BLOCK: f"Keep it under {MAX_FEEDBACK_CHARS} characters (this is {len(feedback)})."}
    change = await change_edit(services, view, approval_id)  # a message's body, a file's new text (#79)
    if isinstance(change, dict):
        return change
    if change is None:
        revised = await _revision(services, view, approval_id, user=user, feedback=feedback)
    else:
        revised = _change_revision(change, feedback)
    if not isinstance(revised, Revision):
        return revised
    outcome, feedback = "approved" if revised.approve else "revised", revised.feedback
    rejection = None if revised.changed else _REJECT.match(feedback)
    if rejection is not None:  # "reject: too pushy": a rejection with its reason
        outcome, feedback = "rejected", rejection.group(1).strip()
    decisions = services.approvals.decisions
    result = await decisions.decide(user, "slack", verb_of(outcome), approval_id=approval_id, where=card_place(card),
                                    feedback=feedback, edit_hidden=revised.edit_hidden, artifacts=revised.artifacts)
    if decisions.redraw_after(result, surface="slack"):
        return None
    return {FEEDBACK_BLOCK: refusal_text(result) + " Your feedback was not sent; copy it if you want to keep it."}


def _change_revision(change: ChangeEdit, feedback: str) -> Revision | Errors:
    """A change form's revision: the edited change, approved at once (Save & approve: the note is the approver's
    comment) or sent back (the note, else what was edited, is the feedback); the note alone when the text was left
    as it was."""
    if not change.artifacts:
        return Revision(feedback) if feedback else {ARTIFACT_BLOCK: "Edit the text, or write what the agent should"
                                                                    " change."}
    said = feedback if feedback or change.approve else f"Edited {change.what}."
    return Revision(said, changed=True, artifacts=change.artifacts, approve=change.approve)


async def _revision(
    services: Services, view: dict[str, Any], approval_id: str, *, user: str, feedback: str
) -> Revision | Errors:
    """The revision a Revise modal asks for (an edit of the arguments, one field each or as JSON, noted on the
    approval; or feedback alone), or the errors to show."""
    state = ViewState.of(view)
    edited = state.text(ARGUMENTS_BLOCK, ARGUMENTS_ACTION)
    by_field = not (edited or "").strip() and state.text(FIELD_BLOCK.format(0), FIELD_ACTION) is not None
    if not by_field and edited is None:
        return Revision(feedback) if feedback else {FEEDBACK_BLOCK: "Write what the agent should change."}
    approval = await services.store.approvals.get(approval_id)
    revisions = services.approvals.revisions
    if refused := not_editable(approval):
        return {FEEDBACK_BLOCK: BY_FIELD_NOT_EDITABLE if by_field else refused}
    assert approval is not None  # (`not_editable` refuses none)
    edit = edited_fields(approval, view) if by_field else edited_call(revisions.typed(approval, edited or ""))
    if edit.errors:
        return edit.errors
    if not edit.changed:
        if feedback:
            return Revision(feedback)
        if by_field:
            return {FIELD_BLOCK.format(0): "Change a field, or write what the agent should change below."}
        return {FEEDBACK_BLOCK: "Edit the arguments, or write what the agent should change."}
    whole = await revisions.complete(approval, edit.arguments)
    if isinstance(whole, str):
        return {FEEDBACK_BLOCK: whole}
    then = state.choice(THEN_BLOCK, THEN_ACTION) or ""
    if by_field or then:  # (the field form's JSON box; the JSON-only form offers no Save & approve)
        changes = changed_fields(json.loads(approval.arguments or "{}"), whole.redacted)
        await services.approvals.edits.note(approval, whole.full, by=user, approve=then == "approve", changes=changes)
    return whole.revision(feedback)


BY_FIELD_NOT_EDITABLE = "This approval is no longer known, or its arguments cannot be edited. Nothing was sent."


def edited_fields(approval: ApprovalRecord, view: dict[str, Any]) -> Edit:
    """The arguments a reviewer edited one field each (bot/core/field_edits.py: typed as the tool's schema says):
    changed and valid, unchanged, or the errors to show, each on its field. Nothing runs here."""
    state = ViewState.of(view)
    edit = field_edits.edited_fields(approval, lambda index: state.text(FIELD_BLOCK.format(index), FIELD_ACTION),
                                     shown=clean)
    if edit.refused:
        return Edit(errors={FEEDBACK_BLOCK: edit.refused})
    if edit.errors:
        return Edit(errors={FIELD_BLOCK.format(index): said for index, said in edit.errors.items()})
    return Edit(arguments=edit.arguments, changed=edit.changed)


@dataclass(frozen=True, slots=True)
class Edit:
    """What a reviewer did to a tool call's arguments in the modal."""

    arguments: Any = None
    changed: bool = False
    errors: Errors | None = None


def edited_call(typed: Typed | str) -> Edit:
    """The arguments a reviewer typed in the JSON box (`ApprovalService.revisions.typed`: changed and valid,
    unchanged, or why not) as the modal's: its words shown on the box. Nothing runs here."""
    if isinstance(typed, str):
        return Edit(errors={ARGUMENTS_BLOCK: typed})
    return Edit(arguments=typed.arguments, changed=typed.changed)

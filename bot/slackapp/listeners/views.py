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

from agent_approvals.approver import canonical_json
from agent_approvals.schemas import schema_problem
from slack_bolt.async_app import AsyncAck, AsyncApp, AsyncBoltContext

from bot.approvals import Revision, Typed, not_editable, schema_of
from bot.approvals.refusals import STORAGE_DOWN, refusal_text
from bot.core.documents import MAX_DEPTH, too_deep
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
    HIDDEN_KEEP,
    REASON_ACTION,
    REASON_BLOCK,
    REJECT_CALLBACK_ID,
    REVISE_CALLBACK_ID,
    THEN_ACTION,
    THEN_BLOCK,
    editable_fields,
    field_kind,
    field_text,
    hidden_fields,
)
from bot.slack.blocks.rules import RULE_CALLBACK_ID
from bot.slack.blocks.text import clean
from bot.slackapp.context import parts_of
from bot.slackapp.listeners.artifact_edits import ChangeEdit, change_edit
from bot.slackapp.listeners.rule_form import submit_rule, top_block
from bot.slackapp.payloads import ViewState
from bot.store import StoreUnavailable

MAX_FEEDBACK_CHARS = 3000
Errors = dict[str, str]
_REJECT = re.compile(r"^\s*reject\b[\s:,.-]*(.*)$", re.IGNORECASE | re.DOTALL)


Submit = Callable[[Services, dict[str, Any], dict[str, Any]], Awaitable[Errors | None]]


def register(app: AsyncApp) -> None:
    def handler(submit: Submit, *, block: str, kept: str) -> Callable[..., Awaitable[None]]:
        """A modal's submission: done, or its errors shown in the modal (which stays open, so what the
        person typed, `kept`, is not lost)."""

        async def handle(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any], context: AsyncBoltContext) -> None:
            services = parts_of(context)
            try:
                errors = await submit(services, body, view)
            except StoreUnavailable:
                errors = {block: f"{STORAGE_DOWN} Your {kept} is still here: send it again."}
            if errors:
                await ack(response_action="errors", errors=errors)
            else:
                await ack()

        return handle

    app.view(REVISE_CALLBACK_ID)(handler(submit_revision, block=FEEDBACK_BLOCK, kept="feedback"))
    app.view(REJECT_CALLBACK_ID)(handler(submit_rejection, block=REASON_BLOCK, kept="reason"))

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
    result = await services.approvals.decide(approval_id, outcome="rejected", user=user, feedback=reason, card=card)
    if services.approvals.redraw_after(result):
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
    result = await services.approvals.decide(approval_id, outcome=outcome, user=user, feedback=feedback, card=card,
                                             edit_hidden=revised.edit_hidden, artifacts=revised.artifacts)
    if services.approvals.redraw_after(result):
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


_INTEGER = re.compile(r"^-?[0-9]{1,18}$")
_NUMBER = re.compile(r"^-?[0-9]{1,18}(\.[0-9]{1,18})?([eE][-+]?[0-9]{1,3})?$")


def field_value(kind: str, text: str) -> tuple[Any, str | None]:
    """A field's text as the value its kind takes, or why not (shown on the field)."""
    if kind == "string":
        return text, None
    typed = text.strip()
    if kind == "integer":
        return (int(typed), None) if _INTEGER.fullmatch(typed) else (None, "Type a whole number, e.g. 3.")
    if kind == "number":
        if not _NUMBER.fullmatch(typed):
            return None, "Type a number, e.g. 2.5."
        number = float(typed)
        return (int(number) if number.is_integer() and "." not in typed and "e" not in typed.lower() else number), None
    if kind == "boolean":
        if typed.lower() in ("true", "false"):
            return typed.lower() == "true", None
        return None, "Type true or false."
    try:
        value = json.loads(typed)
    except ValueError as exc:
        return None, f"This is not valid JSON: {exc.msg if isinstance(exc, json.JSONDecodeError) else exc}."
    except RecursionError:
        return None, f"Nested more than {MAX_DEPTH} levels deep."
    if too_deep(value):
        return None, f"Nested more than {MAX_DEPTH} levels deep."
    return value, None


def edited_fields(approval: ApprovalRecord, view: dict[str, Any]) -> Edit:
    """The arguments a reviewer edited one field each (typed as the tool's schema says): changed and valid,
    unchanged, or the errors to show, each on its field (a value of the wrong kind, or what the tool's schema
    says of it). Nothing runs here."""
    fields = editable_fields(approval)
    if fields is None:
        return Edit(errors={FEEDBACK_BLOCK: "These arguments cannot be edited field by field. Nothing was sent."})
    schema = schema_of(approval)
    props = schema.get("properties") if isinstance(schema, dict) else None
    arguments, errors = _typed_fields(approval, fields, props if isinstance(props, dict) else {}, ViewState.of(view))
    if errors:
        return Edit(errors=errors)
    if canonical_json(arguments) == canonical_json(dict(fields)):
        return Edit(arguments=arguments)
    if not isinstance(schema, dict):
        return Edit(errors={FIELD_BLOCK.format(0): "The tool's schema is unknown, so edits cannot be checked."
                            " Nothing was run."})
    if approval.hidden:  # (checked whole, hidden values put back: `full_edit`)
        return Edit(arguments=arguments, changed=True)
    problem = schema_problem(arguments, schema)
    if problem is not None:
        names = sorted(((n, i) for i, (n, _) in enumerate(fields)), key=lambda pair: -len(str(pair[0])))
        at = next((i for n, i in names if str(n) and str(n) in problem), 0)
        return Edit(errors={FIELD_BLOCK.format(at): f"The tool's schema says: {problem}. Nothing was run."[:1900]})
    return Edit(arguments=arguments, changed=True)


def _typed_fields(
    approval: ApprovalRecord, fields: list[tuple[str, Any]], props: dict[str, Any], state: ViewState
) -> tuple[dict[str, Any], Errors]:
    """Each field's value as typed (or the call's own, untouched), and the errors of those that are not of their
    kind, by field."""
    arguments: dict[str, Any] = {}
    errors: Errors = {}
    hidden = hidden_fields(approval)
    for index, (name, value) in enumerate(fields):
        block = FIELD_BLOCK.format(index)
        text = state.text(block, FIELD_ACTION)
        kept = text == HIDDEN_KEEP and name in hidden  # a hidden value left as it is
        if text is None or text == clean(field_text(value)) or kept:  # untouched: the call's own value, exactly
            arguments[name] = value
            continue
        typed, problem = field_value(field_kind(props.get(name), value), text)
        if problem is not None:
            errors[block] = problem
        arguments[name] = typed
    return arguments, errors


def changed_fields(old: Any, new: Any) -> list[tuple[str, str, str]]:
    """(name, old, new) of each argument an edit changed, values as JSON text ("" for one not there)."""
    before = old if isinstance(old, dict) else {}
    new = new if isinstance(new, dict) else {}
    def shown(value: Any) -> str:
        return value if isinstance(value, str) else canonical_json(value)

    names = list(dict.fromkeys([*before, *new]))
    return [
        (str(n), shown(before[n]) if n in before else "", shown(new[n]) if n in new else "")
        for n in names
        if canonical_json(before.get(n)) != canonical_json(new.get(n)) or (n in before) != (n in new)
    ]


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

"""The Reject, Revise and Always allow modals' submissions.

Reject: the optional reason goes to the agent with the rejection, and to the audit log and the card.

Revise: the feedback goes to the agent as a person would type it.

For a tool call, the reviewer may instead edit its arguments: they must be valid JSON and match
the tool's schema (stored with the approval), else the modal says why and nothing is decided or run.
Edited arguments travel as the revision's feedback (`agent_approvals.approver.encode_revision`); the agent
asks again about the edited call, on a card of its own.

Always allow: the form becomes a rule's match (exactly the call's arguments, or a condition per
argument), scope and expiry; the rule book checks and creates it (`services.rules.from_card`, which
also approves the card, or `from_suggestion`). What it refuses is said in the form, by input, and
nothing changes; once created, the modal shows the rule.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from agent_approvals.approver import canonical_json, encode_revision
from agent_approvals.schemas import schema_problem
from slack_bolt.async_app import AsyncAck, AsyncApp

from bot.approvals.refusals import STORAGE_DOWN, refusal_text
from bot.core.allow_rules import (
    EXPIRIES,
    OPS,
    SCOPES,
    Condition,
    Match,
    Op,
    Scope,
    condition_from_text,
    exact_match,
    properties_of,
)
from bot.core.records import SLACK_ID, ApprovalRecord
from bot.core.security import sign_metadata, verify_metadata
from bot.core.sensitive import shown_name
from bot.services import Services
from bot.slack.blocks import (
    ARGUMENTS_ACTION,
    ARGUMENTS_BLOCK,
    FEEDBACK_ACTION,
    FEEDBACK_BLOCK,
    REASON_ACTION,
    REASON_BLOCK,
    REJECT_CALLBACK_ID,
    REVISE_CALLBACK_ID,
)
from bot.slack.blocks.decision_modals import (
    FIELD_ACTION,
    FIELD_BLOCK,
    HIDDEN_KEEP,
    THEN_ACTION,
    THEN_BLOCK,
    editable_fields,
    field_kind,
    field_text,
    hidden_fields,
)
from bot.slack.blocks.rule_modals import (
    RULE_EXPIRY_ACTION,
    RULE_EXPIRY_BLOCK,
    RULE_MATCH_ACTION,
    RULE_MATCH_BLOCK,
    RULE_MODES,
    RULE_OP_ACTION,
    RULE_OP_BLOCK,
    RULE_SCOPE_ACTION,
    RULE_SCOPE_BLOCK,
    RULE_VALUE_ACTION,
    RULE_VALUE_BLOCK,
    build_rule_result,
    rule_arguments,
)
from bot.slack.blocks.rules import RULE_CALLBACK_ID
from bot.slack.blocks.text import clean
from bot.slackapp.gate import MAX_DEPTH, too_deep
from bot.store import StoreUnavailable

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
            except StoreUnavailable:
                errors = {block: f"{STORAGE_DOWN} Your {kept} is still here: send it again."}
            if errors:
                await ack(response_action="errors", errors=errors)
            else:
                await ack()

        return handle

    app.view(REVISE_CALLBACK_ID)(handler(submit_revision, block=FEEDBACK_BLOCK, kept="feedback"))
    app.view(REJECT_CALLBACK_ID)(handler(submit_rejection, block=REASON_BLOCK, kept="reason"))

    async def handle_rule(ack: AsyncAck, body: dict[str, Any], view: dict[str, Any]) -> None:
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
    edit_hidden = ""  # what an edit of a call with nothing hidden hid (`full_edit`)
    then = _selected_value(view, THEN_BLOCK, THEN_ACTION)
    if not (edited or "").strip() and input_text(view, FIELD_BLOCK.format(0), FIELD_ACTION) is not None:
        # one field per argument (the JSON box left empty)
        approval = await services.store.approvals.get(approval_id)
        if approval is None or approval.kind != "tool_call" or approval.fixed_arguments:
            return {FEEDBACK_BLOCK: "This approval is no longer known, or its arguments cannot be edited."
                    " Nothing was sent."}
        edit = edited_fields(approval, view)
        if edit.errors:
            return edit.errors
        changed = edit.changed
        if changed:
            whole = await full_edit(services, approval, edit.arguments)
            if isinstance(whole, str):
                return {FEEDBACK_BLOCK: whole}
            changes = changed_fields(json.loads(approval.arguments or "{}"), whole[1])
            await services.approvals.edits.note(approval, whole[0], by=user, approve=then == "approve", changes=changes)
            feedback, edit_hidden = encode_revision(whole[1], note=feedback), whole[2]
        elif not feedback:
            return {FIELD_BLOCK.format(0): "Change a field, or write what the agent should change below."}
    elif edited is not None:
        approval = await services.store.approvals.get(approval_id)
        if approval is None or approval.kind != "tool_call":
            return {FEEDBACK_BLOCK: "This approval is no longer known (it expired or was removed). Nothing was sent."}
        if approval.fixed_arguments:  # the modal offers no edit: a form that sends one was not ours
            return {FEEDBACK_BLOCK: "This call's arguments cannot be edited (its agent runs only the call as made)."
                    " Nothing was sent."}
        edit = edited_call(approval, edited)
        if edit.errors:
            return edit.errors
        changed = edit.changed
        if changed:
            whole = await full_edit(services, approval, edit.arguments)
            if isinstance(whole, str):
                return {FEEDBACK_BLOCK: whole}
            changes = changed_fields(json.loads(approval.arguments or "{}"), whole[1])
            if then:  # (the field form's JSON box; the JSON-only form offers no Save & approve)
                await services.approvals.edits.note(
                    approval, whole[0], by=user, approve=then == "approve", changes=changes
                )
            feedback, edit_hidden = encode_revision(whole[1], note=feedback), whole[2]
        elif not feedback:
            return {FEEDBACK_BLOCK: "Edit the arguments, or write what the agent should change."}
    elif not feedback:
        return {FEEDBACK_BLOCK: "Write what the agent should change."}
    outcome = "revised"
    rejection = None if changed else _REJECT.match(feedback)
    if rejection is not None:  # "reject: too pushy": a rejection with its reason
        outcome, feedback = "rejected", rejection.group(1).strip()
    result = await services.approvals.decide(approval_id, outcome=outcome, user=user, feedback=feedback, card=card,
                                             edit_hidden=edit_hidden)
    if services.approvals.redraw_after(result):
        return None
    return {FEEDBACK_BLOCK: refusal_text(result) + " Your feedback was not sent; copy it if you want to keep it."}


NOT_KEPT = ("This call's hidden values are not kept (the bot has no SECRETS_KEY, or they ended): its arguments"
            " cannot be edited here. Nothing was sent; reject it, or write what the agent should change.")
NOT_KEPT_NEW = ("This edit holds a value the bot hides (a card number, a key...), and the bot has no SECRETS_KEY to"
                " keep it whole for the agent: nothing was sent. Leave that value out, or write what the agent"
                " should change.")


async def full_edit(services: Services, approval: ApprovalRecord, edit: Any) -> tuple[Any, Any, str] | str:
    """A reviewer's edit of the arguments as shown (hidden values by their kind) as (the full arguments, their
    redacted copy, what it hid in a call with nothing hidden: the decision's `edit_hidden`): a hidden value left as
    shown is kept unchanged, a new one is hidden too (in a call that had none as well), sealed for the program
    (bot/redaction/hiding.py), the full arguments checked against the tool's schema; else what to tell them."""
    hiding = services.approvals.chain.hiding
    restored = await hiding.restore(approval, edit)
    if restored is None:
        return NOT_KEPT if approval.hidden else NOT_KEPT_NEW
    full, shown = restored
    redacted = json.loads(shown)
    if not approval.hidden:  # (checked whole by the modal already): sealed when the edit hid something
        return full, redacted, await hiding.keep_edit(approval, full) if redacted != full else ""
    schema = json.loads(approval.arguments_schema) if approval.arguments_schema else None
    problem = schema_problem(full, schema, name=shown_name) if isinstance(schema, dict) else None
    if problem is not None:  # (said of the full arguments; the modal checked none with hidden values)
        return f"These arguments do not match the tool's schema: {problem}. Nothing was run."[:1900]
    await hiding.keep_edit(approval, full)
    return full, redacted, ""


def _selected_value(view: dict[str, Any], block: str, action: str) -> str:
    entry = (((view.get("state") or {}).get("values") or {}).get(block) or {}).get(action) or {}
    option = entry.get("selected_option") if isinstance(entry, dict) else None
    return str(option.get("value") or "") if isinstance(option, dict) else ""


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
    try:
        schema = json.loads(approval.arguments_schema or "{}")
    except ValueError:
        schema = None
    props = schema.get("properties") if isinstance(schema, dict) else None
    props = props if isinstance(props, dict) else {}
    arguments: dict[str, Any] = {}
    errors: Errors = {}
    hidden = hidden_fields(approval)
    for index, (name, value) in enumerate(fields):
        block = FIELD_BLOCK.format(index)
        text = input_text(view, block, FIELD_ACTION)
        kept = text == HIDDEN_KEEP and name in hidden  # a hidden value left as it is
        if text is None or text == clean(field_text(value)) or kept:  # untouched: the call's own value, exactly
            arguments[name] = value
            continue
        typed, problem = field_value(field_kind(props.get(name), value), text)
        if problem is not None:
            errors[block] = problem
        arguments[name] = typed
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
    if approval.hidden:  # (checked whole, hidden values put back: `full_edit`)
        return Edit(arguments=arguments, changed=True)
    problem = schema_problem(arguments, schema)
    if problem is not None:
        message = f"These arguments do not match the tool's schema: {problem}. Nothing was run."
        return Edit(errors={ARGUMENTS_BLOCK: message[:1900]})
    return Edit(arguments=arguments, changed=True)


# --------------------------------------------------------------------------------------------------- Always allow


def _rule_key(secret: str, mode: str) -> str:
    """The rule modal's own key (one per mode): its metadata cannot pass for another form's, nor the one
    mode's for the other's."""
    return f"{secret}|rule-{mode}"


def rule_metadata(secret: str, *, mode: str, approval_id: str, user: str, channel: str = "", ts: str = "") -> str:
    """`private_metadata` of the rule modal: its mode ("card": the card's approval, and the card clicked,
    or none from a Home; "suggestion": the example approval, and the channel and message of the
    suggestion), for whom, with a MAC over all of it (`bot.core.security.sign_metadata`)."""
    signed = sign_metadata(_rule_key(secret, mode), approval_id=approval_id, user=user, channel=channel, ts=ts)
    return f"{mode}|{signed}"


def read_rule_metadata(secret: str, metadata: str, *, user: str) -> tuple[str, str, str, str] | None:
    """(mode, approval id, channel, ts) when the rule modal's `metadata` is ours, unaltered and `user`'s;
    else None. A suggestion's always names its channel."""
    mode, _, signed = metadata.partition("|")
    if mode not in RULE_MODES:
        return None
    bound = verify_metadata(_rule_key(secret, mode), signed, user=user)
    if bound is None or (mode == "suggestion" and not bound[1]):
        return None
    return mode, *bound


def top_block(view: dict[str, Any]) -> str:
    """Where the rule modal shows what is not about one input: its first input (the scope on a card's)."""
    return RULE_SCOPE_BLOCK if str(view.get("private_metadata", "")).startswith("card|") else RULE_MATCH_BLOCK


def _state_entry(view: dict[str, Any], block: str) -> dict[str, Any] | None:
    """One input block's entry in a submitted view's state (None when there is none, or it is malformed)."""
    state = view.get("state")
    values = state.get("values") if isinstance(state, dict) else None
    entry = values.get(block) if isinstance(values, dict) else None
    return entry if isinstance(entry, dict) else None


def selected(view: dict[str, Any], block: str, action: str) -> str | None:
    """The value of a radio button or select's chosen option; None when none is (or no such input)."""
    entry = (_state_entry(view, block) or {}).get(action)
    option = entry.get("selected_option") if isinstance(entry, dict) else None
    value = option.get("value") if isinstance(option, dict) else None
    return value if isinstance(value, str) else None


def _has_input(view: dict[str, Any], block: str) -> bool:
    return _state_entry(view, block) is not None


@dataclass(frozen=True, slots=True)
class RuleForm:
    """What the rule modal asks for."""

    scope: Scope
    match: Match
    expires_in: int


def read_rule_form(view: dict[str, Any], approval: ApprovalRecord, *, mode: str) -> RuleForm | Errors:
    """The rule the form describes for this call (`approval`: the card's, or a suggestion's example), or
    the errors to show by input (a choice missing, a value that is not one for its condition)."""
    errors: Errors = {}
    scope = "channel" if mode == "suggestion" else selected(view, RULE_SCOPE_BLOCK, RULE_SCOPE_ACTION)
    if scope not in SCOPES:
        errors[RULE_SCOPE_BLOCK] = "Choose this run only, or every run in the channel."
    expiries = {str(seconds): seconds for _, seconds in EXPIRIES}
    expires_in = expiries.get(selected(view, RULE_EXPIRY_BLOCK, RULE_EXPIRY_ACTION) or "")
    if expires_in is None:
        errors[RULE_EXPIRY_BLOCK] = "Choose when the rule expires: " + ", ".join(label for label, _ in EXPIRIES) + "."
    kind = selected(view, RULE_MATCH_BLOCK, RULE_MATCH_ACTION)
    match: Match | None = None
    if kind == "exact":
        try:
            match = exact_match(approval.tool_name, json.loads(approval.arguments or "{}"))
        except ValueError:
            errors[RULE_MATCH_BLOCK] = "The call's arguments cannot be read. Nothing changed."
    elif kind == "conditions":
        match = _conditions(view, approval, errors)
    else:
        errors[RULE_MATCH_BLOCK] = "Choose how the rule matches calls: exactly these arguments, or by conditions."
    if errors or match is None or expires_in is None or scope not in SCOPES:
        return errors or {RULE_MATCH_BLOCK: "The rule cannot be made of this form. Nothing changed."}
    return RuleForm(scope="run" if scope == "run" else "channel", match=match, expires_in=expires_in)


def _conditions(view: dict[str, Any], approval: ApprovalRecord, errors: Errors) -> Match | None:
    listed = rule_arguments(approval.arguments)
    if not listed:
        errors[RULE_MATCH_BLOCK] = "These arguments can only be matched exactly."
        return None
    try:
        schema = json.loads(approval.arguments_schema or "{}")
    except ValueError:
        schema = {}
    props = properties_of(schema) if isinstance(schema, dict) else {}
    where: list[tuple[str, Condition]] = []
    for index, (name, _) in enumerate(listed):
        op_block, value_block = RULE_OP_BLOCK.format(index), RULE_VALUE_BLOCK.format(index)
        op = selected(view, op_block, RULE_OP_ACTION) or "any"
        if op not in OPS:
            errors[op_block] = "Choose a condition from the list."
            continue
        if op == "any":
            continue
        text = input_text(view, value_block, RULE_VALUE_ACTION) or ""
        prop = props.get(name)
        made = condition_from_text(cast(Op, op), text, prop if isinstance(prop, dict) else {})
        if isinstance(made, str):
            errors[value_block if _has_input(view, value_block) else op_block] = f"{name[:60]} {made}."
        else:
            where.append((name, made))
    return Match(tool=approval.tool_name, where=tuple(sorted(where, key=lambda pair: pair[0])))


def problem_errors(view: dict[str, Any], approval: ApprovalRecord, problems: tuple[str, ...]) -> Errors:
    """The rule book's problems with a rule, each by the input it is about: an argument's ("to: …"), the
    expiry, or the match."""
    inputs: dict[str, str] = {}
    for index, (name, _) in enumerate(rule_arguments(approval.arguments) or []):
        value_block = RULE_VALUE_BLOCK.format(index)
        inputs[name] = value_block if _has_input(view, value_block) else RULE_OP_BLOCK.format(index)
    found: dict[str, list[str]] = {}
    for problem in problems:
        name = problem.partition(":")[0]
        block = inputs.get(name) or (RULE_EXPIRY_BLOCK if "expires" in problem else RULE_MATCH_BLOCK)
        found.setdefault(block, []).append(problem)
    return {block: ("; ".join(said) + ". Nothing changed.")[:1000] for block, said in found.items()}


async def submit_rule(services: Services, body: dict[str, Any], view: dict[str, Any]) -> dict[str, Any]:
    """Create the rule the form describes: `{"view": …}` (what was created) or `{"errors": …}` (by input;
    nothing changed)."""
    who = body.get("user")
    user = str(who.get("id", "")) if isinstance(who, dict) else ""
    secret = services.settings.slack_signing_secret.get_secret_value()
    bound = read_rule_metadata(secret, str(view.get("private_metadata", "")), user=user)
    top = top_block(view)
    if bound is None:
        by = user if SLACK_ID.fullmatch(user) else ""
        await services.store.audit.append("refused", reason="rule form with altered or foreign metadata", by=by)
        return {"errors": {top: "This form does not belong to a call you were asked about. Nothing changed."}}
    mode, approval_id, channel, ts = bound
    approval = await services.store.approvals.get(approval_id)
    if approval is None or approval.kind != "tool_call":
        return {"errors": {top: "This call is no longer known (it expired or was removed). Nothing changed."}}
    form = read_rule_form(view, approval, mode=mode)
    if not isinstance(form, RuleForm):
        return {"errors": form}
    if mode == "card":
        card = (channel, ts) if channel else None
        created = await services.rules.from_card(
            user, approval, card, scope=form.scope, match=form.match, expires_in=form.expires_in
        )
    else:
        created = await services.rules.from_suggestion(
            user, channel, example=approval, match=form.match, expires_in=form.expires_in
        )
    if created.rule is not None:
        if mode == "suggestion":
            done = ""
        elif created.decided is not None and created.decided.status == "vote":
            done = refusal_text(created.decided)
        else:
            done = "The card is approved."
        return {"view": build_rule_result(created.rule, mode=mode, decided=done)}
    if created.problems:
        return {"errors": problem_errors(view, approval, created.problems)}
    if created.decided is not None:
        return {"errors": {top: refusal_text(created.decided)}}
    return {"errors": {top: (created.message or "The rule was not created. Nothing changed.")[:1000]}}

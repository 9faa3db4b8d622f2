"""The Always allow modal's submission (bot/slack/blocks/rule_modals.py builds it): the form becomes a rule's match
(exactly the call's arguments, or a condition per argument), scope and expiry; the rule book checks and creates it
(`services.rules.from_card`, which also approves the card, or `from_suggestion`). What it refuses is said in the
form, by input, and nothing changes; once created, the modal shows the rule. Its metadata is signed with a key of its
own per mode (`rule_metadata`)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, cast

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
from bot.services import Services
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
from bot.slack.refusals import refusal_text
from bot.slackapp.payloads import ViewState

Errors = dict[str, str]


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


@dataclass(frozen=True, slots=True)
class RuleForm:
    """What the rule modal asks for."""

    scope: Scope
    match: Match
    expires_in: int


def read_rule_form(view: dict[str, Any], approval: ApprovalRecord, *, mode: str) -> RuleForm | Errors:
    """The rule the form describes for this call (`approval`: the card's, or a suggestion's example), or
    the errors to show by input (a choice missing, a value that is not one for its condition)."""
    state = ViewState.of(view)
    errors: Errors = {}
    scope = "channel" if mode == "suggestion" else state.choice(RULE_SCOPE_BLOCK, RULE_SCOPE_ACTION)
    if scope not in SCOPES:
        errors[RULE_SCOPE_BLOCK] = "Choose this run only, or every run in the channel."
    expiries = {str(seconds): seconds for _, seconds in EXPIRIES}
    expires_in = expiries.get(state.choice(RULE_EXPIRY_BLOCK, RULE_EXPIRY_ACTION) or "")
    if expires_in is None:
        errors[RULE_EXPIRY_BLOCK] = "Choose when the rule expires: " + ", ".join(label for label, _ in EXPIRIES) + "."
    kind = state.choice(RULE_MATCH_BLOCK, RULE_MATCH_ACTION)
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
    state = ViewState.of(view)
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
        op = state.choice(op_block, RULE_OP_ACTION) or "any"
        if op not in OPS:
            errors[op_block] = "Choose a condition from the list."
            continue
        if op == "any":
            continue
        text = state.text(value_block, RULE_VALUE_ACTION) or ""
        prop = props.get(name)
        made = condition_from_text(cast(Op, op), text, prop if isinstance(prop, dict) else {})
        if isinstance(made, str):
            errors[value_block if state.has(value_block) else op_block] = f"{name[:60]} {made}."
        else:
            where.append((name, made))
    return Match(tool=approval.tool_name, where=tuple(sorted(where, key=lambda pair: pair[0])))


def problem_errors(view: dict[str, Any], approval: ApprovalRecord, problems: tuple[str, ...]) -> Errors:
    """The rule book's problems with a rule, each by the input it is about: an argument's ("to: …"), the
    expiry, or the match."""
    state = ViewState.of(view)
    inputs: dict[str, str] = {}
    for index, (name, _) in enumerate(rule_arguments(approval.arguments) or []):
        value_block = RULE_VALUE_BLOCK.format(index)
        inputs[name] = value_block if state.has(value_block) else RULE_OP_BLOCK.format(index)
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

"""The "Always allow" modal: a rule made from a tool call, from a card's "Approve & always allow" or from a
suggested rule's Create. It shows the call inert and offers the rule's scope, what it matches (exactly these
arguments, or a condition per argument with its value, prefilled from the call or the suggestion) and when it
expires; then what creating the rule did. The block and action ids below are read back by
`bot.slackapp.listeners.views` when the modal is submitted; arguments and argument names are untrusted and made
inert by `bot.slack.blocks.text`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.core.allow_rules import (
    EXPIRIES,
    MAX_VALUE_CHARS,
    OP_LABELS,
    Condition,
    Match,
    Op,
    Rule,
    properties_of,
    proposed_condition,
    value_text,
)
from bot.core.records import ApprovalRecord
from bot.slack.blocks.arguments import arguments_text
from bot.slack.blocks.decision_modals import INPUT_LIMIT, build_notice_modal
from bot.slack.blocks.home import run_code
from bot.slack.blocks.rules import RULE_CALLBACK_ID, match_text
from bot.slack.blocks.text import (
    Block,
    channel_ref,
    clean,
    clip,
    code_block,
    context_block,
    date_ref,
    modal,
    mrkdwn,
    plain,
    tool_label,
)

RULE_MODES = ("card", "suggestion")  # from a card's Approve & always allow, or from a suggested rule's Create
RULE_SCOPE_BLOCK = "rule_scope"
RULE_SCOPE_ACTION = "rule_scope_input"  # option values "run" / "channel"
RULE_MATCH_BLOCK = "rule_match"
RULE_MATCH_ACTION = "rule_match_input"  # option values "exact" / "conditions"
RULE_OP_BLOCK = "rule_op_{}"  # one per top-level argument, by its position in the call's arguments
RULE_OP_ACTION = "rule_op_input"  # option values: the ops of `OP_LABELS`
RULE_VALUE_BLOCK = "rule_value_{}"
RULE_VALUE_ACTION = "rule_value_input"
RULE_EXPIRY_BLOCK = "rule_expiry"
RULE_EXPIRY_ACTION = "rule_expiry_input"  # option values: seconds, from `EXPIRIES`
RULE_MAX_ARGUMENTS = 20  # arguments offered conditions (2 blocks each); more, and only exact is offered
RULE_DEFAULT_EXPIRY = 86400
RULE_SHOWN = 1500  # the call's arguments shown in the modal (inert, cut)
RULE_NAME_SHOWN = 60  # an argument's name in a label
_TEXT_OPS: tuple[Op, ...] = ("starts_with", "ends_with")
_KIND_WORDS = {"string": "text", "integer": "whole number", "boolean": "true/false"}


def rule_arguments(arguments: str) -> list[tuple[str, Any]] | None:
    """The top-level arguments of a call (name, value) in their order, as the rule modal offers them a
    condition each; None when they are not a JSON object, or have more than `RULE_MAX_ARGUMENTS`
    (then only "exactly these arguments" is offered)."""
    try:
        parsed = json.loads(arguments or "{}")
    except ValueError:
        return None
    if not isinstance(parsed, dict) or len(parsed) > RULE_MAX_ARGUMENTS:
        return None
    return [(str(name), value) for name, value in parsed.items()]


def _kinds(prop: Any) -> set[str]:
    """The JSON types an argument's schema names (its `type`, or those of its anyOf / oneOf)."""
    if not isinstance(prop, Mapping):
        return set()
    kind = prop.get("type")
    if isinstance(kind, str):
        return {kind}
    if isinstance(kind, list):
        return {str(k) for k in kind}
    found: set[str] = set()
    for option in prop.get("anyOf") or prop.get("oneOf") or ():
        found |= _kinds(option)
    return found


def offered_ops(prop: Any, value: Any, *, known: bool = True) -> list[Op]:
    """The conditions offered on one argument: any, equals, one of; starts / ends with for a text argument,
    at most for a number (by its schema `prop`, else by the call's value); only "any value" for an
    argument the schema does not know (`known` False) or whose value is too long to match on."""
    if not known or len(value_text(value)) > MAX_VALUE_CHARS:
        return ["any"]
    kinds = _kinds(prop)
    if not kinds:
        is_number = isinstance(value, int | float) and not isinstance(value, bool)
        kinds = {"string"} if isinstance(value, str) else {"number"} if is_number else set()
    ops: list[Op] = ["any", "equals", "one_of"]
    if "string" in kinds:
        ops += _TEXT_OPS
    if kinds & {"number", "integer"}:
        ops.append("at_most")
    return ops


def condition_text(condition: Condition) -> str:
    """A condition's value as the rule modal's input holds it (one value a line for "is one of")."""
    if condition.op == "any":
        return ""
    if condition.op == "one_of":
        return "\n".join(value_text(v) for v in condition.value)
    return value_text(condition.value)


def build_rule_modal(
    approval: ApprovalRecord, *, metadata: str, mode: str, channel: str, match: Match | None = None
) -> Block:
    """ "Always allow": a rule made from a tool call. `approval` is the card's call (mode "card": the
    rule also approves it) or the example call of a suggested rule (mode "suggestion", `match` the
    suggestion: a rule for the whole channel, admins only). The call is shown inert; the person chooses
    the scope (card mode: this run, or every run in `channel`), what it matches (exactly these arguments,
    or a condition per argument, each with its value, prefilled from the call or the suggestion), and
    when it expires. `metadata` (signed) binds the modal to the approval, the card and the person."""
    if mode not in RULE_MODES:
        raise ValueError(f"mode must be card or suggestion, not {mode[:20]!r}")
    arguments = rule_arguments(approval.arguments)
    where = dict(match.where) if match is not None and not match.exact else {}
    conditions = arguments is not None and bool(arguments)
    exact = (match is not None and match.exact) or not conditions  # else the proposed conditions, one per argument
    if match is None and arguments:  # an argument that could only be "any value" (no schema, too long): exactly
        props = properties_of(_schema(approval))
        exact = exact or any(offered_ops(props.get(name), value, known=name in props) == ["any"]
                             for name, value in arguments)
    blocks: list[Block] = [
        {"type": "section", "text": mrkdwn(_rule_intro(approval, mode=mode, channel=channel))},
        {"type": "section", "text": _arguments_shown(approval.arguments or "{}")},
    ]
    if mode == "card":
        blocks.append(_rule_scope_input(channel))
    else:
        blocks.append(context_block(f":busts_in_silhouette: For every run in {channel_ref(channel)} (admins only)."))
    blocks.append(_rule_match_input(conditions=conditions, exact=exact))
    if arguments and conditions:
        blocks.append(
            context_block(
                "*The conditions*, one per argument (used with “By the conditions below”): text as typed;"
                " numbers, lists and objects as JSON; “is one of” takes one value per line."
                " An argument with “any value” may be anything."
            )
        )
        props = properties_of(_schema(approval))
        for index, (name, value) in enumerate(arguments):
            blocks.extend(_argument_inputs(index, name, value, props, where.get(name), prefill=match is not None))
    elif arguments is None:
        blocks.append(
            context_block(
                f"These arguments are not an object of at most {RULE_MAX_ARGUMENTS} arguments:"
                " a rule can only match them exactly."
            )
        )
    blocks.append(_rule_expiry_input())
    return modal("Always allow", blocks, submit="Approve & always allow" if mode == "card" else "Create rule",
                 callback_id=RULE_CALLBACK_ID, metadata=metadata)


def _arguments_shown(arguments: str) -> dict[str, Any]:
    """The call's arguments, each under its name (as on the card), or as code when not an object."""
    shown = arguments_text(arguments, limit=RULE_SHOWN)
    return shown[0] if shown is not None else code_block(arguments, label="Arguments", limit=RULE_SHOWN)


def _schema(approval: ApprovalRecord) -> dict[str, Any]:
    try:
        schema = json.loads(approval.arguments_schema or "{}")
    except ValueError:
        return {}
    return schema if isinstance(schema, dict) else {}


def _rule_intro(approval: ApprovalRecord, *, mode: str, channel: str) -> str:
    call = f"{tool_label(approval.tool_name)} from run {run_code(approval.run_id)}"
    if mode == "card":
        said = (
            f"*Approve this call of {call}*, and approve from now on the calls of"
            f" {tool_label(approval.tool_name)} that the rule below matches, without a card."
            " The rule needs an expiry; the channel's admins can revoke it at any time (`/agent rules`)."
        )
        if approval.policy_reason:  # a policy routed this call: the policies decide before any rule
            said += (
                "\n:shield: *A policy routed this call*, and the policies decide before any rule: calls a policy"
                " refuses or asks about (this one's included) still get a card or a refusal; the rule approves"
                " only calls no policy has an opinion on."
            )
        return said
    return (
        f"*Create a rule for* {tool_label(approval.tool_name)} in {channel_ref(channel)}: its calls that the rule"
        f" matches are approved without a card. The call below (of {call}) is an example the suggestion covers;"
        " the tool's schema checks the rule."
    )


def _option(text: str, value: str) -> Block:
    return {"text": plain(text, 75), "value": value}


def _rule_scope_input(channel: str) -> Block:
    run = {"text": mrkdwn("This run only"), "value": "run"}
    everywhere = {"text": mrkdwn(f"Every run in {channel_ref(channel)} (admins only)"), "value": "channel"}
    return {
        "type": "input",
        "block_id": RULE_SCOPE_BLOCK,
        "label": plain("Scope", 2000),
        "element": {
            "type": "radio_buttons",
            "action_id": RULE_SCOPE_ACTION,
            "options": [run, everywhere],
            "initial_option": run,
        },
    }


def _rule_match_input(*, conditions: bool, exact: bool) -> Block:
    exactly = _option("Exactly these arguments", "exact")
    options = [exactly, _option("By the conditions below", "conditions")] if conditions else [exactly]
    return {
        "type": "input",
        "block_id": RULE_MATCH_BLOCK,
        "label": plain("Match", 2000),
        "element": {
            "type": "radio_buttons",
            "action_id": RULE_MATCH_ACTION,
            "options": options,
            "initial_option": options[0] if exact else options[1],
        },
    }


def _argument_inputs(
    index: int, name: str, value: Any, props: Mapping[str, Any], suggested: Condition | None, *, prefill: bool
) -> list[Block]:
    """One argument's condition (a select of the ops offered) and its value (prefilled with the call's
    value, or the suggestion's). With a suggestion (`prefill`), an argument it leaves out is "any value"."""
    ops = offered_ops(props.get(name), value, known=name in props)
    proposed = proposed_condition(value, ops)  # the likely rule: "ends with @example.com", "any value" for a body
    initial: Op = proposed.op
    text = "" if proposed.op == "any" else value_text(value) if proposed.op == "equals" else condition_text(proposed)
    if prefill:
        text = value_text(value)
        initial = suggested.op if suggested is not None else "any"
        if suggested is not None and suggested.op != "any":
            text = condition_text(suggested)
        if initial not in ops:
            ops.append(initial)
    options = {op: _option(OP_LABELS[op], op) for op in ops}
    label = clip(clean(name), RULE_NAME_SHOWN)
    kinds = "/".join(sorted(_KIND_WORDS.get(k, k) for k in _kinds(props.get(name)))) or "any type"
    select: Block = {
        "type": "input",
        "block_id": RULE_OP_BLOCK.format(index),
        "label": plain(f"{label} ({kinds})", 2000),
        "element": {
            "type": "static_select",
            "action_id": RULE_OP_ACTION,
            "options": list(options.values()),
            "initial_option": options[initial],
        },
    }
    if ops == ["any"]:
        why = "not in the tool's schema" if name not in props else f"longer than {MAX_VALUE_CHARS} characters"
        select["hint"] = plain(f"Only “any value”: this argument is {why}.", 2000)
        return [select]
    element: Block = {
        "type": "plain_text_input",
        "action_id": RULE_VALUE_ACTION,
        "multiline": True,
        "max_length": INPUT_LIMIT,
    }
    if text and len(text) <= INPUT_LIMIT:
        element["initial_value"] = clean(text)
    entry: Block = {
        "type": "input",
        "block_id": RULE_VALUE_BLOCK.format(index),
        "optional": True,
        "label": plain(f"{label}: value", 2000),
        "element": element,
    }
    return [select, entry]


def _rule_expiry_input() -> Block:
    options = {seconds: _option(label, str(seconds)) for label, seconds in EXPIRIES}
    return {
        "type": "input",
        "block_id": RULE_EXPIRY_BLOCK,
        "label": plain("Expires after", 2000),
        "element": {
            "type": "static_select",
            "action_id": RULE_EXPIRY_ACTION,
            "options": list(options.values()),
            "initial_option": options[RULE_DEFAULT_EXPIRY],
        },
    }


def build_rule_result(rule: Rule, *, mode: str, decided: str = "") -> Block:
    """What creating a rule did: the rule in a line (match, scope, expiry), and what became of the card
    (`decided`: fixed words, e.g. "The card is approved.")."""
    where = f"run {run_code(rule.run)}" if rule.scope == "run" else f"every run in {channel_ref(rule.channel)}"
    text = (
        f":white_check_mark: Rule {rule.id} created: {match_text(rule)}, expires {date_ref(rule.expires_at)}."
        f"\nIt approves the calls it matches in {where}. {decided}"
    )
    return build_notice_modal("Always allow", text.strip()) | {"close": plain("Done", 24)}

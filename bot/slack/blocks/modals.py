"""Modals: Revise (feedback for the agent on a proposal or on code, or a tool call's arguments to edit,
JSON checked against the tool's schema when submitted, with optional feedback), Reject (an optional
reason), the full text of a proposal, deciding several approvals at once from the App Home (choose,
confirm exactly what will be decided, see what was), and "Always allow" (a rule made from a tool call's
card or from a suggested rule).

The block and action ids below are read back by `bot.slack.listeners.views` when a modal is submitted.
Proposals, arguments, code, tasks and reasons are untrusted and made inert by `bot.slack.blocks.text`.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Mapping, Sequence
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
    value_text,
)
from bot.core.durations import format_duration
from bot.core.records import APPROVAL_ID, ApprovalRecord
from bot.slack.blocks.approval_card import item_summary, proposal_text, quorum_line
from bot.slack.blocks.home import asked_line, packed_sections, run_code
from bot.slack.blocks.rules import RULE_CALLBACK_ID, match_text
from bot.slack.blocks.text import (
    TEXT_LIMIT,
    Block,
    channel_ref,
    clean,
    clip,
    code_block,
    code_text,
    context_block,
    date_ref,
    escape,
    mrkdwn,
    plain,
    safe,
    tool_label,
    untrusted,
    untrusted_parts,
)

REVISE_CALLBACK_ID = "approval_revise_modal"
FEEDBACK_BLOCK = "feedback"
FEEDBACK_ACTION = "feedback_input"
ARGUMENTS_BLOCK = "arguments"
ARGUMENTS_ACTION = "arguments_input"
INPUT_LIMIT = 3000  # a plain_text_input's value
REJECT_HINT = "Start with “reject:” to reject instead, giving your reason (e.g. “reject: wrong customer list”)."


def build_revise_modal(approval: ApprovalRecord, *, metadata: str) -> Block:
    """The Revise modal: the proposal for reference and a multi-line feedback field; for a tool call,
    its arguments to edit (JSON, checked against the tool's schema on submit) and optional feedback.

    `metadata` (signed, see `bot.core.security.sign_metadata`) says which card the modal belongs to."""
    if approval.kind == "tool_call":
        return _tool_revise_modal(approval, metadata=metadata)
    if approval.kind == "code":
        reference: dict[str, Any] = code_text(approval.proposal, label="Code", limit=TEXT_LIMIT - 40)
    else:
        reference = untrusted(approval.proposal, label="Current proposal", limit=TEXT_LIMIT)
    return {
        "type": "modal",
        "callback_id": REVISE_CALLBACK_ID,
        "private_metadata": metadata,
        "title": plain("Request a revision", 24),
        "submit": plain("Send to agent", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            {"type": "section", "text": reference},
            {
                "type": "input",
                "block_id": FEEDBACK_BLOCK,
                "label": plain("What should the agent change?", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": FEEDBACK_ACTION,
                    "multiline": True,
                    "min_length": 1,
                    "max_length": 3000,
                    "placeholder": plain("e.g. Make it shorter and more formal", 150),
                },
                "hint": plain(REJECT_HINT, 2000),
            },
        ],
    }


def _tool_revise_modal(approval: ApprovalRecord, *, metadata: str) -> Block:
    shown = approval.arguments or "{}"
    editable = len(shown) <= INPUT_LIMIT
    intro = (
        f"*Tool call* {tool_label(approval.tool_name)}: edit its arguments below (JSON); the edited call gets a"
        " card of its own to approve. Or leave them and tell the agent what to change: nothing runs."
    )
    blocks: list[Block] = [{"type": "section", "text": mrkdwn(intro)}]
    if approval.schema_error:
        blocks.append(context_block(f":warning: Now: {safe(approval.schema_error, 1000)}"))
    if editable:
        blocks.append(
            {
                "type": "input",
                "block_id": ARGUMENTS_BLOCK,
                "label": plain("Arguments (JSON)", 2000),
                "element": {
                    "type": "plain_text_input",
                    "action_id": ARGUMENTS_ACTION,
                    "multiline": True,
                    "initial_value": clean(shown),
                    "max_length": INPUT_LIMIT,
                },
            }
        )
    else:
        blocks.append({"type": "section", "text": code_block(shown, label="Arguments (too long to edit here)")})
    blocks.append(
        {
            "type": "input",
            "block_id": FEEDBACK_BLOCK,
            "optional": editable,
            "label": plain("Or: what should the agent change?" if editable else "What should the agent change?", 2000),
            "element": {
                "type": "plain_text_input",
                "action_id": FEEDBACK_ACTION,
                "multiline": True,
                "max_length": 3000,
                "placeholder": plain("e.g. Send it to the finance list instead", 150),
            },
            "hint": plain(REJECT_HINT, 2000),
        }
    )
    return {
        "type": "modal",
        "callback_id": REVISE_CALLBACK_ID,
        "private_metadata": metadata,
        "title": plain("Revise the tool call", 24),
        "submit": plain("Send", 24),
        "close": plain("Cancel", 24),
        "blocks": blocks,
    }


# --------------------------------------------------------------------------------------------------- Reject

REJECT_CALLBACK_ID = "approval_reject_modal"
REASON_BLOCK = "reason"
REASON_ACTION = "reason_input"
REASON_HINT = "The agent, the card and the audit log get it."
REJECT_SHOWN = 500  # the proposal shown for reference in the Reject modal


def build_reject_modal(approval: ApprovalRecord, *, metadata: str) -> Block:
    """The Reject modal: what is rejected (kind or tool, run, who asked, from where, the proposal's start)
    and an optional reason. `metadata` (signed) says which approval the modal belongs to."""
    return {
        "type": "modal",
        "callback_id": REJECT_CALLBACK_ID,
        "private_metadata": metadata,
        "title": plain("Reject", 24),
        "submit": plain("Reject", 24),
        "close": plain("Cancel", 24),
        "blocks": [
            {"type": "section", "text": mrkdwn(f"You are rejecting: {asked_line(approval)}")},
            {"type": "section", "text": proposal_text(approval, limit=REJECT_SHOWN)},
            _reason_input(REASON_BLOCK, REASON_ACTION, hint=REASON_HINT),
        ],
    }


def _reason_input(block_id: str, action_id: str, *, hint: str) -> Block:
    """An optional multi-line "Reason" field (Slack marks it optional)."""
    return {
        "type": "input",
        "block_id": block_id,
        "optional": True,
        "label": plain("Reason", 2000),
        "element": {
            "type": "plain_text_input",
            "action_id": action_id,
            "multiline": True,
            "max_length": INPUT_LIMIT,
            "placeholder": plain("e.g. Wrong customer list", 150),
        },
        "hint": plain(hint, 2000),
    }


# --------------------------------------------------------------------------------------------------- Full text

VIEW_BLOCKS = 100  # a modal's most blocks
PART_SIZE = 2900  # a section of a long text
TASK_PARTS = 5  # the task, in sections at most
_WHOLE = sys.maxsize  # a limit nothing reaches: the text as it shows whole
FULL_TEXT_CUT = ":scissors: Cut here: the full text is attached in the card's thread."


def build_full_text_modal(approval: ApprovalRecord) -> Block:
    """The whole proposal (a tool call's arguments as code, code as code) and the task, in as many
    sections as they take; past what a modal holds, it says where the full text is."""
    task_parts, task_cut = _parts(approval.task, most=TASK_PARTS)
    blocks: list[Block] = [
        {"type": "section", "text": mrkdwn(asked_line(approval))},
        {"type": "section", "text": mrkdwn("*Task*")},
        *task_parts,
        *([context_block(":scissors: The task is cut here.")] if task_cut else []),
    ]
    room = VIEW_BLOCKS - len(blocks) - 1  # one for the note when cut
    proposal_parts, cut = _proposal_parts(approval, most=room)
    blocks.extend(proposal_parts)
    if cut:
        blocks.append(context_block(FULL_TEXT_CUT))
    return {
        "type": "modal",
        "title": plain("Full proposal", 24),
        "close": plain("Close", 24),
        "blocks": blocks,
    }


def _parts(text: str, *, most: int) -> tuple[list[Block], bool]:
    """Untrusted text in at most `most` sections, and whether some was left out."""
    parts = untrusted_parts(text, size=PART_SIZE) or [untrusted("")]
    return [{"type": "section", "text": part} for part in parts[:most]], len(parts) > most


def _proposal_parts(approval: ApprovalRecord, *, most: int) -> tuple[list[Block], bool]:
    """The proposal as the card shows it when it fits in one section; else a message in plain sections
    and arguments or code in code blocks (the code's own ``` shown as text), at most `most` sections
    (with a label section first), and whether some was left out."""
    whole = proposal_text(approval, limit=_WHOLE)
    if len(whole["text"]) <= TEXT_LIMIT:
        return [{"type": "section", "text": whole}], False
    if approval.kind not in ("tool_call", "code"):
        parts, cut = _parts(approval.proposal, most=most - 1)
        return [{"type": "section", "text": mrkdwn("*Proposal*")}, *parts], cut
    label = "*Arguments*" if approval.kind == "tool_call" else "*Code*"
    pieces, cut = code_pieces(approval.arguments or approval.proposal, size=PART_SIZE, most=most - 1)
    code = [{"type": "section", "text": code_block(piece, limit=PART_SIZE)} for piece in pieces]
    return [{"type": "section", "text": mrkdwn(label)}, *code], cut


def code_pieces(text: str, *, size: int, most: int) -> tuple[list[str], bool]:
    """Untrusted code cut into pieces that each show whole in `code_block(piece, limit=size)` (each
    character counted at its escaped length, and each backtick once more for the ``` broken up), ending
    at a line end where one is in the piece's second half; at most `most` pieces, and whether some was
    left out."""
    text = clean(text)
    pieces: list[str] = []
    start = 0
    while start < len(text) and len(pieces) < most:
        end, cost, line_end = start, 0, 0
        while end < len(text):
            step = len(escape(text[end])) + (text[end] == "`")
            if cost + step > size:
                break
            cost += step
            end += 1
            if text[end - 1] == "\n":
                line_end = end
        if end < len(text) and line_end > start + size // 2:
            end = line_end
        pieces.append(text[start:end])
        start = end
    return pieces, start < len(text)


# --------------------------------------------------------------------------------------------------- Decide several

BATCH_LIMIT = 25  # approvals decided at once
BATCH_OPTIONS = 100  # approvals offered in the batch modal (a multi-select holds 100 options)
BATCH_CALLBACK_ID = "home_batch_modal"
BATCH_SELECT_BLOCK = "batch_select"
BATCH_SELECT_ACTION = "batch_select_input"
BATCH_OUTCOME_BLOCK = "batch_outcome"
BATCH_OUTCOME_ACTION = "batch_outcome_input"  # option values "approved" / "rejected"
BATCH_REASON_BLOCK = "batch_reason"
BATCH_REASON_ACTION = "batch_reason_input"
BATCH_CONFIRM_CALLBACK_ID = "home_batch_confirm"
BATCH_OUTCOMES = {"approved": "Approve", "rejected": "Reject"}
CONFIRM_MESSAGE_SHOWN = 1000  # a message's proposal in the confirmation (arguments and code are shown whole)
LEFT_OUT_SECTIONS = 15


def build_batch_modal(waiting: Sequence[ApprovalRecord], *, now: float, metadata: str) -> Block:
    """ "Decide several": choose up to 25 of the approvals waiting for this person (the 100 oldest are
    offered), Approve or Reject, and a reason for Reject; submitting shows exactly what will be decided
    before anything is."""
    offered = list({a.id: a for a in waiting if APPROVAL_ID.match(a.id)}.values())[:BATCH_OPTIONS]
    blocks: list[Block] = [
        {
            "type": "section",
            "text": mrkdwn(
                f"Choose up to {BATCH_LIMIT} approvals and one decision for all of them. Next you see exactly"
                " what will be decided: nothing is decided before you confirm."
            ),
        }
    ]
    if len(waiting) > BATCH_OPTIONS:
        blocks.append(context_block(f"{len(waiting):,} wait for you: the {BATCH_OPTIONS} oldest are listed."))
    view: Block = {
        "type": "modal",
        "callback_id": BATCH_CALLBACK_ID,
        "private_metadata": metadata,
        "title": plain("Decide several", 24),
        "close": plain("Cancel", 24),
        "blocks": blocks,
    }
    if not offered:
        blocks.append({"type": "section", "text": mrkdwn("Nothing waits for you right now.")})
        return view
    blocks.extend(_batch_inputs(offered, now=now))
    view["submit"] = plain("Review", 24)
    return view


def _batch_inputs(offered: Sequence[ApprovalRecord], *, now: float) -> list[Block]:
    """Which approvals (a multi-select), Approve or Reject (Approve first), and an optional reason."""
    approve, reject = ({"text": plain(word, 75), "value": value} for value, word in BATCH_OUTCOMES.items())
    return [
        {
            "type": "input",
            "block_id": BATCH_SELECT_BLOCK,
            "label": plain("Approvals", 2000),
            "element": {
                "type": "multi_static_select",
                "action_id": BATCH_SELECT_ACTION,
                "placeholder": plain("Choose approvals", 150),
                "max_selected_items": BATCH_LIMIT,
                "options": [{"text": plain(option_text(a, now=now), 75), "value": a.id} for a in offered],
            },
        },
        {
            "type": "input",
            "block_id": BATCH_OUTCOME_BLOCK,
            "label": plain("Decision", 2000),
            "element": {
                "type": "radio_buttons",
                "action_id": BATCH_OUTCOME_ACTION,
                "options": [approve, reject],
                "initial_option": approve,
            },
        },
        _reason_input(
            BATCH_REASON_BLOCK,
            BATCH_REASON_ACTION,
            hint="Only used when you reject: the agents, the cards and the audit log get it.",
        ),
    ]


def option_text(approval: ApprovalRecord, *, now: float) -> str:
    """An approval in a few plain words of fixed text and cleaned ids, e.g.
    "send_email · run r12ab34 · 5m ago · U0ALICE" (the caller cuts it to an option's 75 characters)."""
    if approval.kind == "tool_call":
        what = tool_label(approval.tool_name).strip("`")[:30]
    else:
        what = "code" if approval.kind == "code" else "message"
    if approval.schema_error:
        what += " (reject only)"
    ago = format_duration(now - approval.created_at)
    return f"{what} · run {clean(approval.run_id)[:20]} · {ago} ago · {clean(approval.requester)[:24]}"


def fits_in_confirmation(approval: ApprovalRecord) -> bool:
    """Whether the confirmation can show what a decision covers whole in one section: a tool call's
    arguments, or code (a message always fits: its text may be cut there)."""
    if approval.kind not in ("tool_call", "code"):
        return True
    return len(proposal_text(approval, limit=_WHOLE)["text"]) <= TEXT_LIMIT


def left_out_reason(approval: ApprovalRecord, *, outcome: str) -> str | None:
    """Why an approval cannot be decided with others (fixed words, for `build_batch_confirm`'s
    `left_out`), or None when it can."""
    if outcome == "approved" and approval.schema_error:
        return "its arguments do not match the tool's schema: reject or revise it on its own"
    if not fits_in_confirmation(approval):
        what = "arguments are" if approval.kind == "tool_call" else "code is"
        return f"its {what} too long to show here: decide it on its own"
    return None


def build_batch_confirm(
    chosen: Sequence[ApprovalRecord],
    *,
    outcome: str,
    reason: str,
    left_out: Sequence[tuple[ApprovalRecord, str]],
    metadata: str,
) -> Block:
    """The confirmation: exactly what will be decided, each approval with what it is and its whole
    arguments or code (a message's text may be cut), the reason when rejecting, and apart, what will
    not be decided and why. Submit says what happens ("Approve 3").

    Raises ValueError for an outcome other than "approved" or "rejected", more than `BATCH_LIMIT`
    approvals, or one that `left_out_reason` refuses (the caller puts those in `left_out`)."""
    verb = BATCH_OUTCOMES.get(outcome)
    if verb is None:
        raise ValueError(f"outcome must be approved or rejected, not {outcome[:20]!r}")
    if len(chosen) > BATCH_LIMIT:
        raise ValueError(f"at most {BATCH_LIMIT} approvals are decided at once, not {len(chosen)}")
    for approval in chosen:
        refused = left_out_reason(approval, outcome=outcome)
        if refused:
            raise ValueError(f"approval {approval.id[:64]} cannot be confirmed with others: {refused}")
    blocks = _confirm_intro(len(chosen), verb=verb, reason=reason if outcome == "rejected" else None)
    for number, approval in enumerate(chosen, 1):
        blocks.extend(_confirm_item(number, approval))
    if left_out:
        blocks.extend(_left_out_blocks(left_out))
    view: Block = {
        "type": "modal",
        "callback_id": BATCH_CONFIRM_CALLBACK_ID,
        "private_metadata": metadata,
        "title": plain("Confirm", 24),
        "close": plain("Cancel", 24),
        "blocks": blocks,
    }
    if chosen:
        view["submit"] = plain(f"{verb} {len(chosen)}", 24)
    return view


def _confirm_intro(count: int, *, verb: str, reason: str | None) -> list[Block]:
    """What will happen, and the reason (when rejecting)."""
    if not count:
        return [{"type": "section", "text": mrkdwn("None of the approvals you chose can be decided here.")}]
    what = "this approval" if count == 1 else f"these {count} approvals"
    blocks: list[Block] = [
        {"type": "section", "text": mrkdwn(f"*{verb} {what}?* Only what is listed here is decided.")}
    ]
    if reason is not None and reason.strip():
        blocks.append({"type": "section", "text": untrusted(reason, label="Reason", limit=TEXT_LIMIT)})
    elif reason is not None:
        blocks.append(context_block("No reason given."))
    return blocks


def _confirm_item(number: int, approval: ApprovalRecord) -> list[Block]:
    """One approval in 3 blocks: what it is, what the decision covers (whole, but a message's text), a divider."""
    limit = _WHOLE if approval.kind in ("tool_call", "code") else CONFIRM_MESSAGE_SHOWN
    return [
        {"type": "section", "text": mrkdwn(f"*{number}.* {asked_line(approval)}")},
        {"type": "section", "text": proposal_text(approval, limit=limit)},
        {"type": "divider"},
    ]


def _left_out_blocks(left_out: Sequence[tuple[ApprovalRecord, str]]) -> list[Block]:
    lines = [f"*Not included, and not decided ({len(left_out):,})*"]
    lines.extend(f"• {asked_line(approval)}: {safe(why, 300)}" for approval, why in left_out)
    return packed_sections(lines, most=LEFT_OUT_SECTIONS)


# --------------------------------------------------------------------------------------------------- Batch result

RESULT_SECTIONS = 60
_DONE = {  # a status a batch leaves, and how its group is headed
    "approved": "*Approved {n}*",
    "rejected": "*Rejected {n}*",
    "pending": "*Approval counted on {n}*: more approvals are needed",
}


def build_batch_result(decided: Sequence[ApprovalRecord], refused: Sequence[tuple[str, str]]) -> Block:
    """What a batch did: the approvals decided, by outcome ("Approved 19", one line each: kind or tool,
    run), and those that were not, with why (`refused`: (label, reason) pairs the caller made of fixed
    words, shown inert all the same)."""
    others = dict.fromkeys(a.status for a in decided if a.status not in _DONE)  # timed out or cancelled meanwhile
    headings: dict[str, str] = {
        **_DONE,
        **{status: f"*{status.replace('_', ' ').capitalize()} {{n}}*" for status in others},
    }
    lines: list[str] = []
    for status, heading in headings.items():
        group = [a for a in decided if a.status == status]
        if group:
            lines.append(heading.format(n=len(group)))
            lines.extend(_result_line(a) for a in group)
    if refused:
        lines.append(f"*Not decided {len(refused)}*")
        lines.extend(f"• {safe(label, 200)}: {safe(why, 300)}" for label, why in refused)
    return {
        "type": "modal",
        "title": plain("Batch decided", 24),
        "close": plain("Close", 24),
        "blocks": packed_sections(lines or ["Nothing was decided."], most=RESULT_SECTIONS),
    }


def _result_line(approval: ApprovalRecord) -> str:
    quorum = quorum_line(approval) if approval.pending else ""
    return f"• {item_summary(approval)} · run {run_code(approval.run_id)}" + (f" ({quorum})" if quorum else "")


def build_notice_modal(title: str, text: str) -> dict[str, Any]:
    """`title` (fixed words, at most 24 characters) and `text` (already made safe by its builder)."""
    return {
        "type": "modal",
        "title": plain(title, 24),
        "close": plain("OK", 24),
        "blocks": [{"type": "section", "text": mrkdwn(text[:3000])}],
    }


# --------------------------------------------------------------------------------------------------- Always allow

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
    exact = match is None or match.exact or not conditions
    blocks: list[Block] = [
        {"type": "section", "text": mrkdwn(_rule_intro(approval, mode=mode, channel=channel))},
        {"type": "section", "text": code_block(approval.arguments or "{}", label="Arguments", limit=RULE_SHOWN)},
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
    return {
        "type": "modal",
        "callback_id": RULE_CALLBACK_ID,
        "private_metadata": metadata,
        "title": plain("Always allow", 24),
        "submit": plain("Approve & always allow" if mode == "card" else "Create rule", 24),
        "close": plain("Cancel", 24),
        "blocks": blocks,
    }


def _schema(approval: ApprovalRecord) -> dict[str, Any]:
    try:
        schema = json.loads(approval.arguments_schema or "{}")
    except ValueError:
        return {}
    return schema if isinstance(schema, dict) else {}


def _rule_intro(approval: ApprovalRecord, *, mode: str, channel: str) -> str:
    call = f"{tool_label(approval.tool_name)} from run {run_code(approval.run_id)}"
    if mode == "card":
        return (
            f"*Approve this call of {call}*, and approve from now on the calls of"
            f" {tool_label(approval.tool_name)} that the rule below matches, without a card."
            " The rule needs an expiry; the channel's admins can revoke it at any time (`/agent rules`)."
        )
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
    initial: Op = "equals" if "equals" in ops else "any"
    text = value_text(value)
    if prefill:
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

"""Modals of one decision: Revise (feedback for the agent on a proposal or on code, or a tool call's arguments
to edit, JSON checked against the tool's schema when submitted, with optional feedback), Reject (an optional
reason), the full text of a proposal, and a notice (fixed words and text its builder made safe). The block and
action ids below are read back by `bot.slackapp.listeners.views` when a modal is submitted; proposals, arguments,
code, tasks and reasons are untrusted and made inert by `bot.slack.blocks.text`.
"""

from __future__ import annotations

import json
import sys
from typing import Any

from agent_approvals.approver import pretty_json

from bot.core.field_edits import (
    HIDDEN_KEEP,
    KIND_HINTS,
    editable_fields,
    field_kind,
    field_text,
    hidden_fields,
    properties,
)
from bot.core.records import ApprovalRecord
from bot.slack.blocks.approval_card import proposal_text
from bot.slack.blocks.arguments import argument_value
from bot.slack.blocks.home import asked_line
from bot.slack.blocks.text import (
    TEXT_LIMIT,
    Block,
    clean,
    code_block,
    code_text,
    context_block,
    escape,
    link,
    made_safe,
    modal,
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


def build_revise_modal(approval: ApprovalRecord, *, metadata: str, may_approve: bool = False) -> Block:
    """The Revise modal: the proposal for reference and a multi-line feedback field; for a tool call,
    its arguments to edit (JSON, checked against the tool's schema on submit) and optional feedback.

    `metadata` (signed, see `bot.core.security.sign_metadata`) says which card the modal belongs to."""
    if approval.kind == "tool_call":
        return _tool_revise_modal(approval, metadata=metadata, may_approve=may_approve)
    if approval.kind == "code":
        reference: dict[str, Any] = code_text(approval.proposal, label="Code", limit=TEXT_LIMIT - 40)
    else:
        reference = untrusted(approval.proposal, label="Current proposal", limit=TEXT_LIMIT)
    feedback = {
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
    }
    return modal("Request a revision", [{"type": "section", "text": reference}, feedback], submit="Send to agent",
                 callback_id=REVISE_CALLBACK_ID, metadata=metadata)


FIELD_BLOCK = "arg_{}"  # one input per top-level argument, by its index in the call's arguments
FIELD_ACTION = "arg_input"
THEN_BLOCK = "then"
THEN_ACTION = "then_input"  # option values: "approve" (Save & approve) or "ask" (a new card)


def _field_inputs(approval: ApprovalRecord, fields: list[tuple[str, Any]]) -> list[Block]:
    props = properties(approval)
    blocks: list[Block] = []
    hidden = hidden_fields(approval)
    for index, (name, value) in enumerate(fields):
        kind = field_kind(props.get(name), value)
        text = HIDDEN_KEEP if name in hidden else clean(field_text(value))
        element: Block = {"type": "plain_text_input", "action_id": FIELD_ACTION, "max_length": INPUT_LIMIT}
        if "\n" in text or len(text) > 60 or kind == "json":
            element["multiline"] = True
        if text:
            element["initial_value"] = text
        blocks.append(
            {
                "type": "input",
                "block_id": FIELD_BLOCK.format(index),
                "optional": kind == "string",  # (an empty text is a value)
                "label": plain(f"{' '.join(clean(str(name)).split())[:60] or '?'} ({kind})", 2000),
                "element": element,
                "hint": plain(hidden_hint(hidden[name]) if name in hidden else KIND_HINTS[kind], 2000),
            }
        )
    return blocks


def hidden_hint(shown: str) -> str:
    return (f"Hidden ({shown}): leave “{HIDDEN_KEEP}” to keep it unchanged, or type a new value (hidden too). Its"
            " value is never shown in Slack.")


def then_input(*, approve: str, ask: str, hint: str = "") -> Block:
    """A Revise modal's "Then" choice, Save & approve first: `approve` and `ask` say what each does."""
    approving = {"text": plain(approve, 75), "value": "approve"}
    block: Block = {
        "type": "input",
        "block_id": THEN_BLOCK,
        "label": plain("Then", 2000),
        "element": {"type": "radio_buttons", "action_id": THEN_ACTION,
                    "options": [approving, {"text": plain(ask, 75), "value": "ask"}], "initial_option": approving},
    }
    return {**block, "hint": plain(hint, 2000)} if hint else block


def _then_input() -> Block:
    return then_input(approve="Save & approve: the edited call counts as approved by you",
                      ask="Save, and ask for approval of the edited call on a new card",
                      hint="The edited call is a new call: the policies decide it first, and may send it to other"
                      " approvers; where more than one approval is needed, yours counts as one of them.")


def _tool_revise_modal(approval: ApprovalRecord, *, metadata: str, may_approve: bool = False) -> Block:
    fields = None if approval.fixed_arguments else editable_fields(approval)
    if fields is not None:
        return _fields_revise_modal(approval, fields, metadata=metadata, may_approve=may_approve)
    shown = approval.arguments or "{}"
    editable = len(shown) <= INPUT_LIMIT and not approval.fixed_arguments
    if approval.fixed_arguments:
        intro = (
            f"*Tool call* {tool_label(approval.tool_name)}: the asking agent's framework runs only the call as"
            " made, so its arguments cannot be edited here. Tell the agent what to change: nothing runs."
        )
    else:
        intro = (
            f"*Tool call* {tool_label(approval.tool_name)}: edit its arguments below (JSON); the edited call gets"
            " a card of its own to approve. Or leave them and tell the agent what to change: nothing runs."
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
        label = "Arguments (not editable)" if approval.fixed_arguments else "Arguments (too long to edit here)"
        blocks.append({"type": "section", "text": code_block(shown, label=label)})
    label = "Or: what should the agent change?" if editable else "What should the agent change?"
    blocks.append(_feedback_input(label, optional=editable))
    return _revise_modal(blocks, metadata=metadata, submit="Send")


def _feedback_input(label: str, *, optional: bool) -> Block:
    """What the agent should change, in words (the Revise forms' last field)."""
    return {
        "type": "input",
        "block_id": FEEDBACK_BLOCK,
        "optional": optional,
        "label": plain(label, 2000),
        "element": {
            "type": "plain_text_input",
            "action_id": FEEDBACK_ACTION,
            "multiline": True,
            "max_length": 3000,
            "placeholder": plain("e.g. Send it to the finance list instead", 150),
        },
        "hint": plain(REJECT_HINT, 2000),
    }


def _revise_modal(blocks: list[Block], *, metadata: str, submit: str) -> Block:
    return modal("Revise the tool call", blocks, submit=submit, callback_id=REVISE_CALLBACK_ID, metadata=metadata)


def _fields_revise_modal(
    approval: ApprovalRecord, fields: list[tuple[str, Any]], *, metadata: str, may_approve: bool
) -> Block:
    """Revise a tool call one field per argument (checked against the tool's schema on submit, each error on its
    field), with Save & approve for a reviewer who may approve; or only feedback for the agent."""
    blocks: list[Block] = [
        {
            "type": "section",
            "text": mrkdwn(
                f"*Tool call* {tool_label(approval.tool_name)}: edit its arguments, one field each. Or leave them"
                " and tell the agent what to change: nothing runs."
            ),
        }
    ]
    if approval.schema_error:
        blocks.append(context_block(f":warning: Now: {safe(approval.schema_error, 1000)}"))
    blocks.extend(_field_inputs(approval, fields))
    blocks.append(
        {
            "type": "input",
            "block_id": ARGUMENTS_BLOCK,
            "optional": True,
            "label": plain("Or: all arguments as one JSON object (replaces the fields above)", 2000),
            "element": {"type": "plain_text_input", "action_id": ARGUMENTS_ACTION, "multiline": True,
                        "max_length": INPUT_LIMIT},
            "hint": plain("Leave it empty to use the fields.", 2000),
        }
    )
    if may_approve:
        blocks.append(_then_input())
    blocks.append(_feedback_input("Or: what should the agent change? (a note with an edit)", optional=True))
    return _revise_modal(blocks, metadata=metadata, submit="Save")


# --------------------------------------------------------------------------------------------------- Reject

REJECT_CALLBACK_ID = "approval_reject_modal"
REASON_BLOCK = "reason"
REASON_ACTION = "reason_input"
REASON_HINT = "The agent, the card and the audit log get it."
REJECT_SHOWN = 500  # the proposal shown for reference in the Reject modal


def build_reject_modal(approval: ApprovalRecord, *, metadata: str) -> Block:
    """The Reject modal: what is rejected (kind or tool, run, who asked, from where, the proposal's start)
    and an optional reason. `metadata` (signed) says which approval the modal belongs to."""
    return modal("Reject", [
        {"type": "section", "text": mrkdwn(f"You are rejecting: {asked_line(approval)}")},
        {"type": "section", "text": proposal_text(approval, limit=REJECT_SHOWN)},
        reason_input(REASON_BLOCK, REASON_ACTION, hint=REASON_HINT),
    ], submit="Reject", callback_id=REJECT_CALLBACK_ID, metadata=metadata)


def reason_input(block_id: str, action_id: str, *, hint: str) -> Block:
    """An optional multi-line "Reason" field (Slack marks it optional): Reject's, and a batch's."""
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
WHOLE = sys.maxsize  # a limit nothing reaches: the text as it shows whole
FULL_TEXT_CUT = ":scissors: Cut here: the full text is attached in the card's thread."


def build_full_text_modal(approval: ApprovalRecord, *, page: str = "") -> Block:
    """The whole proposal (a tool call's arguments as code, code as code) and the task, in as many
    sections as they take; past what a modal holds, it says where the full text is. `page`: the bot's page of the
    approval's details (a link first), or "" for none."""
    task_parts, task_cut = _parts(approval.task, most=TASK_PARTS)
    blocks: list[Block] = [
        {"type": "section", "text": mrkdwn(asked_line(approval))},
        {"type": "section", "text": mrkdwn("*Task*")},
        *task_parts,
        *([context_block(":scissors: The task is cut here.")] if task_cut else []),
    ]
    if page:
        blocks.insert(0, context_block(f":mag: {link(page, 'Open its page')} (signed in with Slack)"))
    room = VIEW_BLOCKS - len(blocks) - 1  # one for the note when cut
    proposal_parts, cut = _proposal_parts(approval, most=room)
    blocks.extend(proposal_parts)
    if cut:
        blocks.append(context_block(FULL_TEXT_CUT))
    return modal("Full proposal", blocks, close="Close")


def _parts(text: str, *, most: int) -> tuple[list[Block], bool]:
    """Untrusted text in at most `most` sections, and whether some was left out."""
    parts = untrusted_parts(text, size=PART_SIZE) or [untrusted("")]
    return [{"type": "section", "text": part} for part in parts[:most]], len(parts) > most


def _proposal_parts(approval: ApprovalRecord, *, most: int) -> tuple[list[Block], bool]:
    """The proposal as the card shows it when it fits in one section; else a message in plain sections
    and arguments or code in code blocks (the code's own ``` shown as text), at most `most` sections
    (with a label section first), and whether some was left out."""
    whole = proposal_text(approval, limit=WHOLE)
    if len(whole["text"]) <= TEXT_LIMIT:
        return [{"type": "section", "text": whole}], False
    if approval.kind not in ("tool_call", "code"):
        parts, cut = _parts(approval.proposal, most=most - 1)
        return [{"type": "section", "text": mrkdwn("*Proposal*")}, *parts], cut
    if approval.kind == "tool_call":
        named = _named_parts(approval.arguments or approval.proposal, most=most)
        if named is not None:
            return named
    label = "*Arguments*" if approval.kind == "tool_call" else "*Code*"
    pieces, cut = code_pieces(approval.arguments or approval.proposal, size=PART_SIZE, most=most - 1)
    code = [{"type": "section", "text": code_block(piece, limit=PART_SIZE)} for piece in pieces]
    return [{"type": "section", "text": mrkdwn(label)}, *code], cut


def _named_parts(arguments: str, *, most: int) -> tuple[list[Block], bool] | None:
    """A tool call's arguments (a JSON object) each under its name, whole, in at most `most` sections; None
    when they are not a JSON object."""
    try:
        values = json.loads(arguments) if arguments else None
    except ValueError:
        return None
    if not isinstance(values, dict) or not values:
        return None
    blocks: list[Block] = [{"type": "section", "text": mrkdwn("*Arguments*")}]
    for name, value in values.items():
        shown, _ = argument_value(value, cut=False)
        label = "*" + safe(" ".join(str(name).replace("*", " ").replace("`", " ").split()) or "?", 60) + "*"
        text = label + "\n" + shown
        if len(text) <= TEXT_LIMIT:
            blocks.append({"type": "section", "text": made_safe(text)})
            continue
        blocks.append({"type": "section", "text": made_safe(label)})
        if isinstance(value, str):
            blocks.extend({"type": "section", "text": part} for part in untrusted_parts(value, size=PART_SIZE))
        else:
            pieces, _ = code_pieces(pretty_json(value), size=PART_SIZE, most=most)
            blocks.extend({"type": "section", "text": code_block(piece, limit=PART_SIZE)} for piece in pieces)
    return blocks[:most], len(blocks) > most


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


# --------------------------------------------------------------------------------------------------- Notice


def build_notice_modal(title: str, text: str) -> dict[str, Any]:
    """`title` (fixed words, at most 24 characters) and `text` (already made safe by its builder)."""
    return modal(title, [{"type": "section", "text": mrkdwn(text[:3000])}], close="OK")

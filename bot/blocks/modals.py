"""The Revise modal: feedback for the agent on a proposal or on code, or a tool call's arguments to
edit (JSON, checked against the tool's schema when submitted) with optional feedback.

The block and action ids below are read back by `bot.listeners.views` when the modal is submitted.
The proposal shown for reference is untrusted and made inert by `bot.blocks.text`.
"""

from __future__ import annotations

from typing import Any

from bot.blocks.text import (
    TEXT_LIMIT,
    Block,
    clean,
    code_block,
    code_text,
    context_block,
    mrkdwn,
    plain,
    safe,
    tool_label,
    untrusted,
)
from bot.records import ApprovalRecord

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

    `metadata` (signed, see `bot.security.sign_metadata`) says which card the modal belongs to."""
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

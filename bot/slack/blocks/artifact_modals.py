"""The Revise modal of a change (#79): the message's body or the file's new text (`bot.core.artifact_edits`) in a
text input to edit, what it is (recipients, subject, path: untrusted, made inert by `bot.slack.blocks.text`), then
Save & approve (the edited change counts as approved by you) or Send to the agent (a revision carrying the edited
change), and an optional note. Read back by `bot.slackapp.listeners.artifact_edits` (the ids below)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from bot.core.artifact_edits import EDITABLE_CHARS, Editable, editable_artifact
from bot.core.records import ApprovalRecord
from bot.slack.blocks.decision_modals import (
    FEEDBACK_ACTION,
    FEEDBACK_BLOCK,
    REJECT_HINT,
    REVISE_CALLBACK_ID,
    then_input,
)
from bot.slack.blocks.text import Block, clean, context_block, modal, mrkdwn, plain, safe

ARTIFACT_BLOCK = "artifact"
ARTIFACT_ACTION = "artifact_input"


def editable_here(approval: ApprovalRecord) -> Editable | None:
    """The artefact of `approval` a reviewer may edit in Slack (`editable_artifact`, and its text shown whole in a
    text input: no control characters), or None: a call its program runs only as made has none."""
    if approval.fixed_arguments:
        return None
    found = editable_artifact(approval.artifact_items)
    return found if found is not None and clean(found.text) == found.text else None


def may_approve_edit(approval: ApprovalRecord) -> bool:
    """Whether Save & approve of an edited change can be one decision: one approval needed and no step-up (a
    quorum's vote or a passkey's confirmation would come apart from the edit)."""
    return approval.required_approvals <= 1 and not approval.step_up


def build_artifact_revise_modal(
    approval: ApprovalRecord, editable: Editable, *, metadata: str, may_approve: bool = False
) -> Block:
    """The Revise modal of `editable` (the approval's artefact to edit): its text in a multi-line input, Save &
    approve where the reviewer `may_approve` (and `may_approve_edit`), and a note for the agent."""
    item = approval.artifact_items[editable.index]
    blocks: list[Block] = [
        {"type": "section", "text": mrkdwn(_intro(item))},
        {
            "type": "input",
            "block_id": ARTIFACT_BLOCK,
            "label": plain("Body" if editable.kind == "message" else "New text of the file", 2000),
            "element": {"type": "plain_text_input", "action_id": ARTIFACT_ACTION, "multiline": True,
                        "initial_value": editable.text, "max_length": EDITABLE_CHARS},
            "hint": plain("The program gets this text as you leave it, and the receipt binds it.", 2000),
        },
    ]
    if may_approve and may_approve_edit(approval):
        blocks.append(_then_input(editable))
    else:
        blocks.append(context_block("Sent to the agent as a revision: it gets the edited text and asks again."))
    blocks.append(_note_input())
    return modal("Revise the change", blocks, submit="Save", callback_id=REVISE_CALLBACK_ID, metadata=metadata)


def _intro(item: Mapping[str, Any]) -> str:
    if item.get("kind") == "message":
        to = ", ".join(str(r) for r in item.get("to") or [])
        subject = item.get("subject")
        about = f" · subject {safe(str(subject), 300)}" if subject else ""
        return f"*Message* to {safe(to, 600)}{about}: edit its body below, as it will be sent."
    return f"*File* `{safe(str(item.get('path')), 600)}`: edit its new text below, as it will be written."


def _then_input(editable: Editable) -> Block:
    what = "message" if editable.kind == "message" else "change"
    return then_input(approve=f"Save & approve: the edited {what} counts as approved by you",
                      ask=f"Send the edited {what} to the agent as a revision")


def _note_input() -> Block:
    return {
        "type": "input",
        "block_id": FEEDBACK_BLOCK,
        "optional": True,
        "label": plain("A note (optional)", 2000),
        "element": {"type": "plain_text_input", "action_id": FEEDBACK_ACTION, "multiline": True,
                    "max_length": 3000},
        "hint": plain(REJECT_HINT, 2000),
    }

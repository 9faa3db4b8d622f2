"""A Revise modal's edit of a change (#79, bot/slack/blocks/artifact_modals.py): the edited message body or file
text read back, checked (the artefact still editable, within EDITABLE_CHARS, still an artefact, and holding no
value the bot hides: an edit is never kept in the clear with a secret in it), and the approval's artefacts with the
edit as the decide step keeps them (`Decisions.decide(artifacts=...)`), with Save & approve or a revision.
Nothing is decided here: `bot.slackapp.listeners.views.submit_revision` decides."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from agent_approvals.artifacts import ArtifactError

from bot.core.artifact_edits import EDITABLE_CHARS, replaced
from bot.services import Services
from bot.slack.blocks.artifact_modals import ARTIFACT_ACTION, ARTIFACT_BLOCK, editable_here, may_approve_edit
from bot.slack.blocks.decision_modals import THEN_ACTION, THEN_BLOCK
from bot.slackapp.payloads import ViewState

Errors = dict[str, str]

NOT_EDITABLE = "This change can no longer be edited here (the approval is gone or its change is not one to edit)."
HIDDEN_IN_EDIT = ("This text holds a value the bot hides (a card number, a key...): an edited change is never kept"
                  " with one in the clear. Nothing was sent; leave that value out, or reject and say why.")
NO_QUORUM_EDIT = ("An edited change that needs more than one approval, or a passkey, cannot be approved from this"
                  " form: send it to the agent as a revision. Nothing was sent.")


@dataclass(frozen=True, slots=True)
class ChangeEdit:
    """What the form asks: the approval's artefacts with the edit (JSON, "" when the text was left as it was),
    whether the editor approves the edited change at once (Save & approve), and what was edited, in words."""

    artifacts: str = ""
    approve: bool = False
    what: str = ""


async def change_edit(services: Services, view: dict[str, Any], approval_id: str) -> ChangeEdit | Errors | None:
    """The edit of a change a Revise modal sends (None: the modal edits no change), or the errors to show."""
    state = ViewState.of(view)
    text = state.text(ARTIFACT_BLOCK, ARTIFACT_ACTION)
    if text is None:
        return None
    approval = await services.store.approvals.get(approval_id)
    editable = editable_here(approval) if approval is not None else None
    if approval is None or editable is None:
        return {ARTIFACT_BLOCK: NOT_EDITABLE + " Nothing was sent."}
    if len(text) > EDITABLE_CHARS:
        return {ARTIFACT_BLOCK: f"Keep it under {EDITABLE_CHARS} characters (this is {len(text)}). Nothing was sent."}
    if text == editable.text:
        return ChangeEdit()
    try:
        items = replaced(approval.artifact_items, editable.index, text)
    except ArtifactError as error:
        return {ARTIFACT_BLOCK: f"This is not a change the program can apply: {error}. Nothing was sent."[:1900]}
    kept = json.dumps(items, ensure_ascii=False, separators=(",", ":"))
    hiding = services.approvals.chain.hiding
    if hiding.artifacts(kept, known=await hiding.known(approval_id)) != kept:  # the one door of free text
        return {ARTIFACT_BLOCK: HIDDEN_IN_EDIT}
    approve = state.choice(THEN_BLOCK, THEN_ACTION) == "approve"
    if approve and not may_approve_edit(approval):
        return {ARTIFACT_BLOCK: NO_QUORUM_EDIT}
    return ChangeEdit(artifacts=kept, approve=approve, what=editable.what)

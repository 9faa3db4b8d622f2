"""A reviewer's edit of a tool call's arguments, between the card that was edited and the call the agent asks next.

    note      before the edit is sent to the agent: what changed and whether its editor approves it at once (Save &
              approve), kept in Redis for EDIT_KEPT seconds, bound to the run and the edited arguments' digest
    made      the note of the edit that made a request (read once, by the worker that asks about the edited call)
    approve   Save & approve: the editor's approval of the edited call through the decide step, as a click on its
              card (one that needs step-up: they are sent to confirm it with their passkey, `set_step_up_handler`)
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from agent_approvals.approver import ApprovalRequest, digest_of

from bot.approvals.decisions import Decisions, card_place
from bot.approvals.opening import EDIT_KEPT, FIELD_CHANGES
from bot.core.records import ApprovalRecord, RunRecord
from bot.core.tasks import Background
from bot.store import Store, StoreUnavailable, persistently

log = logging.getLogger(__name__)
StepUpHandler = Callable[[str, ApprovalRecord, tuple[str, str]], Coroutine[Any, Any, None]]


class Edits:
    """The edits of one worker's (or tenant's) approvals (the module docstring).

    Args:
        decisions: the one entry of a person's vote (`Decisions.decide`, then `redraw_after`).
    """

    def __init__(self, store: Store, *, decisions: Decisions, background: Background) -> None:
        self.store = store
        self._decisions = decisions
        self._background = background
        self._on_step_up: dict[str, StepUpHandler] = {}

    def set_step_up_handler(self, handler: StepUpHandler, *, surface: str = "") -> None:
        """Who sends an editor whose Save & approve (made on `surface`: "" Slack, "teams") needs their passkey
        (step-up) to confirm it: (user, approval, its card) (bot/stepup/; wired by the composition root, bot/root.py,
        and the Teams part, bot/msteams/__init__.py: step-up is built over the core)."""
        self._on_step_up[surface] = handler

    async def note(
        self,
        approval: ApprovalRecord,
        arguments: Any,
        *,
        by: str,
        approve: bool,
        changes: Sequence[tuple[str, str, str]],
        surface: str = "",
    ) -> None:
        """Before an edit is sent to the agent: what changed (shown on the card of the edited call that follows)
        and whether its editor approves it at once (Save & approve). Kept in Redis for EDIT_KEPT seconds, for
        the worker that asks about the edited call (bound to the run and the edited arguments' digest); `surface`: where
        it was made ("" Slack, "teams"), where its Save & approve is audited and its step-up link goes."""
        note = {"by": by, "approve": approve, "changes": [list(change) for change in changes[:FIELD_CHANGES]],
                "surface": surface}
        await persistently(
            lambda: self.store.approvals.note_edit(approval.run_id, digest_of(arguments), json.dumps(note),
                                                   seconds=EDIT_KEPT),
            what="noting an edit",
        )

    async def made(self, request: ApprovalRequest, run: RunRecord) -> dict[str, Any] | None:
        """The noted edit that made `request` (read once), or None."""
        if not request.edited_by or request.kind != "tool_call":
            return None
        try:
            raw = await self.store.approvals.take_edit(run.id, request.digest)
        except StoreUnavailable:
            log.warning("could not read the edit of %s", request.approval_id)
            return None
        try:
            note = json.loads(raw) if raw else None
        except ValueError:
            return None
        if not isinstance(note, dict) or note.get("by") != request.edited_by:
            return None
        return note

    async def approve(self, approval_id: str, user: str, card: tuple[str, str], *, surface: str = "") -> None:
        """Save & approve: the editor's approval of the edited call (a vote, where more are needed), through the
        decide step with every approver rule, as if they had clicked Approve on its card (on `surface`, "" Slack's
        card, "teams" a Teams card: no Slack card checked, audited `surface: teams`; one that needs step-up: they
        are sent to confirm it with their passkey, `set_step_up_handler`)."""
        result = await self._decisions.decide(user, "teams" if surface == "teams" else "slack", "approve",
                                              approval_id=approval_id, where="" if surface else card_place(card),
                                              feedback="approved with their edit (Save & approve)")
        handler = self._on_step_up.get(surface)
        if result.status == "step_up" and result.approval is not None and handler is not None:
            self._background.spawn(handler(user, result.approval, card), name=f"step-up-{approval_id}")
            return
        if not self._decisions.redraw_after(result, surface=surface or "slack"):
            log.info("save & approve of %s refused: %s", approval_id, result.status)

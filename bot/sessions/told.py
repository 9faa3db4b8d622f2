"""What a run's thread and agent session say of its approvals, told by the approval core's events
(bot/approvals/events.py; subscribed by the composition root, bot/root.py).

    ApprovalOpened   decided at once: the deciding link's line; waiting for a person: where (a link to its card)
                     and for how long, or in a session its pending task, the stream stopped and the session
                     suspended; the header "waiting"
    ApprovalEnded    how it was decided (in a session: its task, complete or denied, and by whom), or that it was
                     withdrawn; the header "running" again and the session `processing`

Everything is drawn off the agent's path, in the run's order (`RunThreads`): a click is taken at once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from functools import partial
from typing import Any

from bot.approvals import ApprovalEnded, ApprovalOpened, Event
from bot.core.records import ApprovalRecord, RunRecord
from bot.sessions.chunks import step_name, task_chunk, withdrawn_task
from bot.sessions.run_thread import RunThreads
from bot.slack.blocks.approval_card import build_outcome_blocks
from bot.slack.blocks.runs import waiting_line
from bot.slack.blocks.text import TEAMS_MARK
from bot.slack.card_sync import CardService
from bot.store import Store, StoreUnavailable

Names = Callable[[str], Awaitable[str]]  # a person's name in plain text (`ApprovalService.name_of`)


class ThreadsTold:
    """A worker's (or tenant's) runs' threads, told of their approvals (the module docstring)."""

    def __init__(self, threads: RunThreads, *, store: Store, cards: CardService, names: Names) -> None:
        self.threads = threads
        self._store = store
        self._cards = cards
        self._names = names

    def heard(self, event: Event) -> None:
        """The listener (`Events.subscribe`)."""
        if isinstance(event, ApprovalOpened):
            self._opened(event)
        elif isinstance(event, ApprovalEnded):
            self._ended(event)

    def _opened(self, event: ApprovalOpened) -> None:
        run, answer = event.run, event.answer
        if event.line:  # decided at once: the link's word, the thread's record of it
            self.threads.post(run, text=event.line)
        if not event.waits or answer.decided is not None:
            return
        if self.threads.in_session(run):  # its pending task is the thread's record: the stream stopped,
            self.threads.suspend(run, partial(self._pending_task, event))  # the session suspended
        else:
            self.threads.post(run, text=partial(self._waiting_line, event))  # the thread's record
        self.threads.redraw_header(run.with_(status="waiting"))  # as `/agent status` says

    def _ended(self, event: ApprovalEnded) -> None:
        run, approval = event.run, event.approval
        if event.announce and approval is not None:
            self.announce(run, approval)
        elif event.running:  # withdrawn while the run goes on (its card not delivered, expired, gone): its task says so
            reason, what = (approval.feedback, step_name(approval)) if approval else ("the approval is gone", "")
            self.threads.step(run, withdrawn_task(event.approval_id, reason, what=what))
        if event.running:  # off the agent's path, drawn after the thread's line and before any later state
            self.threads.redraw_header(run.with_(status="running"))
            self.threads.resume(run)  # a session: `processing` again

    def announce(self, run: RunRecord, approval: ApprovalRecord) -> None:
        """Say in the run's thread how the approval was decided (in the background: the agent resumes at once)."""
        if approval.pending:
            return
        if not self.threads.in_session(run):  # (Teams-only people by name: `CardService.names`)
            self.threads.post(run, made=lambda: self._outcome(approval))
        else:  # its task, complete or denied (and by whom), in the new stream: the thread's record of it
            self.threads.step_made(run, partial(self._decided_task, approval))

    async def _outcome(self, approval: ApprovalRecord) -> tuple[str, list[dict[str, Any]]]:
        return build_outcome_blocks(approval, names=await self._cards.names(approval))

    async def _pending_task(self, event: ApprovalOpened) -> dict[str, Any]:
        """The session's task for a step that waits (`task_update`, pending): what, how many approvals of how many
        so far, and a link to its card."""
        request, opened = event.request, event.answer
        what = request.tool_name or ("the code" if request.kind == "code" else "the message")
        try:
            record = await self._store.approvals.get(opened.approval_id)
        except StoreUnavailable:
            record = None
        votes = f" · {len(record.voters)} of {record.required_approvals}" if record is not None else ""
        chunk = task_chunk(opened.approval_id, f"Waiting for approval: {what}", "pending", kept=votes)
        url = await self._cards.link(opened.card)
        if url:
            chunk["sources"] = [{"type": "url", "url": url, "text": "its card"}]
        return chunk

    async def _waiting_line(self, event: ApprovalOpened) -> str:
        """The thread's line for a run waiting on its approval, with a link to its card."""
        answer = event.answer
        timeout = answer.settings.timeout if answer.settings is not None else 0
        return waiting_line(answer.card, answer.dms, timeout=timeout, card_url=await self._cards.link(answer.card))

    async def _decided_task(self, approval: ApprovalRecord) -> list[dict[str, Any]]:
        """A decided approval's task in its run's session, naming who decided as a person (plain text: no mention)."""
        what = step_name(approval)
        teams = (await self._cards.names(approval)).get(approval.decided_by)  # a Teams-only person's name, if known
        who = teams + TEAMS_MARK if teams else await self._names(approval.decided_by) if approval.decided_by else ""
        by = f" by {who}" if who else ""
        status = "complete" if approval.status == "approved" else "error"
        return [task_chunk(approval.id, f"{what}: {approval.status}{by}", status, details=approval.feedback)]

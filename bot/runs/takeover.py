"""Taking over a run whose worker is gone (bot/runs/manager.py adopts it): where it goes on from (a decided
approval's checkpoint, an earlier one, or the task) and what its thread is told."""

from __future__ import annotations

from dataclasses import dataclass

from bot.approvals import Writing
from bot.core.records import ApprovalRecord
from bot.store import Store


@dataclass(frozen=True)
class Resume:
    """What an adopting worker continues a run from: a decided approval and its checkpoint, or
    (neither) the task itself, when the run's worker died before any decision."""

    approval: ApprovalRecord | None = None
    checkpoint: str | None = None
    announce: bool = True  # False when replaying an earlier decision (it is in the thread already)


async def resume_point(store: Store, run_id: str, approval: ApprovalRecord | None, *, replay: bool) -> Resume:
    """Where an adopted run goes on from: `approval` with its checkpoint; else (a tool call or code
    waited: no checkpoint is taken mid-call) the latest earlier decision that has one, or the task.
    The agent then redoes what it did since, and asks again for what needs approval. `replay`: the
    decision was already acted on (and announced) by the dead worker."""
    run_approvals = sorted(await store.approvals.of_run(run_id), key=lambda a: a.created_at)
    candidates = [approval] if approval is not None else []
    candidates += [a for a in reversed(run_approvals) if approval is None or a.created_at < approval.created_at]
    resume = Resume()
    for candidate in candidates:
        if candidate.pending or candidate.status == "cancelled":
            continue
        checkpoint = await store.approvals.checkpoint(candidate.id)
        if checkpoint is None:
            continue
        if candidate is approval and not replay:
            return Resume(approval=candidate, checkpoint=checkpoint)
        resume = Resume(approval=candidate, checkpoint=checkpoint, announce=False)
        break
    return resume


def takeover_note(approval: ApprovalRecord | None, *, replay: bool, writing: Writing) -> str:
    """What the run's thread is told when another worker took the run over (from `approval`, decided)."""
    note = (
        "The worker running this stopped while the agent was working; another one picked the run up"
        " from its last checkpoint, and the agent will ask again for anything that still needs approval."
    )
    if approval is not None and approval.kind != "message" and approval.status == "approved" and not replay:
        what = writing.untrusted(approval.tool_name or "the code", 80)
        note += f" {what} was approved but had not run when its worker stopped: it did not run."
    return note

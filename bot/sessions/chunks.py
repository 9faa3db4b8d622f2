"""The chunks a run's agent session streams (`task_update`, `plan_update`, `markdown_text`: slack_sdk's chunk
models), each within Slack's limits and its text made inert by the one escaping path (`safe`), and the titles they
carry: what a step is called, how a run ended (pure)."""

from __future__ import annotations

import time
from typing import Any, Final

from bot.core.records import ApprovalRecord, RunRecord
from bot.slack.blocks import safe

TEXT_PER_CALL: Final = 12_000  # markdown_text's limit (chat.appendStream's page)
CHUNK_TEXT: Final = 256  # a task_update's or plan_update's text (Slack's agent design guide; slack_sdk checks none)
TITLE_LIMIT: Final = 128  # a task's title: the rest of CHUNK_TEXT is left to its details
DETAILS_LEAST: Final = 16  # details that would have less room than this are left out
TASK_STATUSES: Final = ("pending", "in_progress", "complete", "error")  # slack_sdk's TaskUpdateChunk
_OUTCOMES: Final = {"cancelled": "Cancelled", "rejected": "Rejected", "timed_out": "Timed out", "failed": "Error"}


def task_chunk(task_id: str, title: str, status: str, *, details: str = "", kept: str = "") -> dict[str, Any]:
    """A `task_update` chunk (slack_sdk.models.messages.chunk.TaskUpdateChunk), its text escaped (the one path) and
    within CHUNK_TEXT: the title first (`kept` at its end whole, the title cut before it: a long tool name never
    costs "· 0 of 2"), the details in what is left."""
    end = safe(kept, TITLE_LIMIT // 2)
    chunk: dict[str, Any] = {"type": "task_update", "id": task_id[:64],
                             "title": safe(title, TITLE_LIMIT - len(end)) + end,
                             "status": status if status in TASK_STATUSES else "in_progress"}
    room = CHUNK_TEXT - len(chunk["title"])
    if details and room >= DETAILS_LEAST:
        chunk["details"] = safe(details, room)
    return chunk


def step_name(approval: ApprovalRecord) -> str:
    """What an approval's task calls its step: the tool, the code or the message."""
    return approval.tool_name or ("the code" if approval.kind == "code" else "the message")


def withdrawn_task(approval_id: str, reason: str, *, what: str = "") -> dict[str, Any]:
    """The task of an approval cancelled without a decision while its run goes on: an error, saying why."""
    return task_chunk(approval_id, f"{what + ': ' if what else ''}withdrawn: {reason or 'cancelled'}", "error")


def plan_chunk(title: str) -> dict[str, Any]:
    """A `plan_update` chunk of text already made inert (`safe`), within CHUNK_TEXT."""
    return {"type": "plan_update", "title": title[:CHUNK_TEXT]}


def outcome_title(run: RunRecord, *, stopped: bool = False, now: float | None = None, waited: float = 0.0) -> str:
    """The plan's title when the run ended: how long it worked (its time since it started, less the `waited` seconds
    its session was suspended for people), or how it ended."""
    if run.status == "completed":
        took = (now if now is not None else time.time()) - run.created_at - waited
        return f"Worked for {_duration(max(0, round(took)) if run.created_at else 0)}"
    if stopped:
        return "Stopped"
    return _OUTCOMES.get(run.status, "Error")


def _duration(seconds: int) -> str:
    """`seconds` as "12s", "2m 5s" or "1h 2m"."""
    if seconds >= 3600:
        return f"{seconds // 3600}h {seconds % 3600 // 60}m"
    return f"{seconds // 60}m {seconds % 60}s" if seconds >= 60 else f"{seconds}s"


def text_chunk(text: str) -> dict[str, Any]:
    """A `markdown_text` chunk of untrusted text, escaped."""
    return {"type": "markdown_text", "text": safe(text, TEXT_PER_CALL // 4)}

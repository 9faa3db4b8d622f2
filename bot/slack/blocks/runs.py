"""A run's messages: its header in the origin channel (who, team, mode, model, task, status) and
its result in the header's thread.

The task, the result and the reason a run ended are untrusted and made inert by `bot.slack.blocks.text`.
"""

from __future__ import annotations

from bot.core.records import RunRecord
from bot.slack.blocks.text import TASK_LIMIT, TEXT_LIMIT, Block, context_block, escape, mrkdwn, untrusted, user_ref

RUN_STATUS_LINE = {
    "starting": ":hourglass_flowing_sand: starting",
    "running": ":gear: running",
    "waiting": ":raised_hand: waiting for approval",
    "completed": ":white_check_mark: completed",
    "rejected": ":x: rejected",
    "timed_out": ":hourglass: timed out",
    "failed": ":warning: failed",
    "cancelled": ":no_entry_sign: cancelled",
}


def build_run_header_blocks(run: RunRecord) -> list[Block]:
    """The run's header in its origin channel; progress and result go in its thread."""
    status = RUN_STATUS_LINE.get(run.status, run.status)
    if run.ended_by:
        status += f" by {user_ref(run.ended_by)}"
    blocks: list[Block] = [
        context_block(
            f"Run `{run.id}` · started by {user_ref(run.requester)} · team `{escape(run.preset)}`"
            + (f" · mode `{escape(run.mode)}`" if run.mode else "")
            + f" · {escape(run.model)}"
        ),
        {"type": "section", "text": untrusted(run.task, label="Task", limit=TASK_LIMIT + 12)},
        context_block(f"Status: {status}"),
    ]
    if run.reason and run.final:
        blocks.append({"type": "context", "elements": [untrusted(run.reason, limit=500)]})
    return blocks


def run_fallback_text(run: RunRecord) -> str:
    """Notification text: fixed words and ids only, never untrusted text."""
    return f"Run {run.id}: {run.status}"


def build_result_blocks(run: RunRecord, result: str) -> list[Block]:
    """The run's final result in its thread."""
    return [
        {"type": "section", "text": mrkdwn(f"{RUN_STATUS_LINE.get(run.status, run.status)}: run `{run.id}`")},
        {"type": "section", "text": untrusted(result, label="Result", limit=TEXT_LIMIT)},
    ]

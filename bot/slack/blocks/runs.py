"""A run's messages: its header in the origin channel (who, team, mode, model, task, status),
its result in the header's thread, and the thread's line while it waits for an approval.

The task, the result and the reason a run ended are untrusted and made inert by `bot.slack.blocks.text`.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.durations import format_duration
from bot.core.records import RunRecord
from bot.slack.blocks.text import (
    TASK_LIMIT,
    TEXT_LIMIT,
    Block,
    channel_ref,
    context_block,
    escape,
    message_link,
    mrkdwn,
    people_refs,
    untrusted,
    user_ref,
)

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


def waiting_line(card: tuple[str, str], dms: Sequence[str], *, timeout: int, card_url: str = "") -> str:
    """What the run's thread says while it waits for an approval (`Opened`: its `card`, the people its `dms` went to,
    the channel's `timeout`): where, with a link to the card itself (`card_url`, its permalink, when known)."""
    channel = card[0]
    where = channel_ref(channel) if channel and not channel.startswith("D") else ""
    if where and card_url:
        where = f"{message_link(card_url, 'its card')} in {where}"
    if dms:
        where = (where + " and " if where else "") + f"direct messages to {people_refs(list(dms))}"
    expiry = f"times out after {format_duration(timeout)}" if timeout else "never times out"
    on = "on " if where.startswith("<http") else "in "
    return f"Waiting for approval {on}{where} ({expiry})"

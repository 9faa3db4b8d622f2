"""A run's team, its messages shown as they come as the plan of its agent session: a task per agent turn (with its
text) and per tool call (in progress, then complete or failed). A run that is no session shows nothing more than
before (its header and thread)."""

from __future__ import annotations

from collections.abc import Callable

from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import BaseChatMessage, TextMessage, ToolCallExecutionEvent, ToolCallRequestEvent
from autogen_agentchat.teams import BaseGroupChat
from autogen_core import CancellationToken

from bot.core.records import RunRecord
from bot.runs.teams import HUMAN
from bot.sessions.run_thread import RunThreads

Clean = Callable[[str], str]


async def run_with_plan(
    team: BaseGroupChat,
    *,
    task: str | TextMessage,
    token: CancellationToken,
    threads: RunThreads,
    run: RunRecord,
    clean: Clean,
) -> TaskResult:
    """`team.run(task)`, each message shown in the run's session (`clean`: what hides the bot's secrets)."""
    turns = 0
    async for item in team.run_stream(task=task, cancellation_token=token):
        if isinstance(item, TaskResult):
            return item
        if threads.in_session(run):
            turns = show(item, threads=threads, run=run, turns=turns, clean=clean)
    raise RuntimeError("the team ended without a result")


def show(item: object, *, threads: RunThreads, run: RunRecord, turns: int, clean: Clean) -> int:
    """Stream one message of the team as the plan's tasks; the number of agent turns so far."""
    if isinstance(item, ToolCallRequestEvent):
        for call in item.content:
            threads.task(run, call.id or call.name, f"Calling {call.name}", "in_progress")
    elif isinstance(item, ToolCallExecutionEvent):
        for done in item.content:
            status = "error" if done.is_error else "complete"
            threads.task(run, done.call_id or done.name, f"{done.name}", status, details=clean(done.content)[:300])
    elif isinstance(item, BaseChatMessage) and item.source not in (HUMAN, "user"):
        turns += 1
        threads.turn(run, f"turn-{turns}", f"{item.source}: turn {turns}", clean(item.to_text()))
    return turns

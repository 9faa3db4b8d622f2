"""How a run's end is said (bot/runs/manager.py ends it): the result a completed team gives, and why a failed one
failed, in one line."""

from __future__ import annotations

from autogen_agentchat.base import TaskResult
from autogen_agentchat.messages import BaseChatMessage

from bot.runs.teams import HUMAN


def last_text(result: TaskResult) -> str:
    """What a completed run's team said last (the result its thread shows): its last message but the human's."""
    for message in reversed(result.messages):
        if isinstance(message, BaseChatMessage) and message.source != HUMAN and message.source != "user":
            return message.to_text()
    return ""


def short_reason(exc: BaseException) -> str:
    """Why a run failed, in one line: its root error, without the traceback AutoGen appends, at most 300 characters."""
    root: BaseException = exc
    while root.__cause__ is not None:
        root = root.__cause__
    text = f"{type(root).__name__}: {root}" if str(root) else type(root).__name__
    # AutoGen's group chat raises the agent's error with its traceback appended: the reason is what precedes it
    return text.split("\nTraceback", 1)[0].strip()[:300]

"""A worker that decides by the policies of a folder the test writes (POLICY_DIR), and a refund tool's ask."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Coroutine
from pathlib import Path
from typing import Any

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, Worker, bot_env, start_worker

REFUNDS = '''
@id("refunds-within-budget")
permit (principal, action == Action::"refund", resource)
when { context.args.amount_cents + context.window.refunds_24h <= 50000 };

@id("refunds-over-budget")
@outcome("ask")
@approvers("S0FINANCE")
@quorum("2")
@reason("would exceed $500 in 24 h (spent {window.refunds_24h|usd})")
forbid (principal, action == Action::"refund", resource)
when { context.args.amount_cents + context.window.refunds_24h > 50000 };
'''
REFUND_WINDOWS = """windows:
  refunds_24h: {sum: args.amount_cents, per: [principal, action], over: 24h}
"""

StartPolicyWorker = Callable[..., Coroutine[Any, Any, Worker]]


def write_bundle(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder


@pytest.fixture
async def policy_worker(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[StartPolicyWorker]:
    """Start a worker on the policies `files` ({name: text}) written to a fresh POLICY_DIR."""
    started: list[Worker] = []

    async def start(files: dict[str, str], **env: str) -> Worker:
        folder = write_bundle(tmp_path / f"policies{len(started)}", files)
        worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None,
                                            POLICY_DIR=str(folder), **env))
        slack.events_url = worker.url + "/slack/events"
        started.append(worker)
        return worker

    yield start
    for worker in started:
        await worker.stop()


def refund(cents: int, **extra: Any) -> dict[str, Any]:
    return {"kind": "tool", "title": "Refund an order", "requester": ALICE,
            "tool": {"name": "refund", "arguments": {"order": "A-1", "amount_cents": cents}}, **extra}

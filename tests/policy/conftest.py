"""A worker that decides by the policies of a folder the test writes (POLICY_DIR)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import Worker, bot_env, start_worker
from tests.support.policies import StartPolicyWorker, write_bundle


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

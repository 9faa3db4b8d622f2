"""Fixtures of the fault scenarios: clusters of worker processes and stores, each on the Redis a test names."""

from __future__ import annotations

import json
import signal
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest
from redis.asyncio import Redis

from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import Worker
from tests.support.cluster import Cluster
from tests.support.tenants import several_worker


@pytest.fixture
async def clusters(slack: SlackStandIn, tmp_path: Path) -> AsyncIterator[Callable[..., Cluster]]:
    """Make a `Cluster` of worker processes on a Redis URL, with the demo model taking `delay` seconds per
    answer; every worker is killed at the end (stopped ones too)."""
    made: list[Cluster] = []

    def make(redis_url: str, *, delay: float = 0.0) -> Cluster:
        model = tmp_path / f"model-{len(made)}.json"
        model.write_text(
            json.dumps({"provider": "bot.runs.demo_model.DemoChatCompletionClient", "config": {"delay": delay}})
        )
        group = Cluster(slack, redis_url, tmp_path, model)
        made.append(group)
        return group

    try:
        yield make
    finally:
        for group in made:
            for worker in group.workers:
                if worker.process.poll() is None:
                    worker.process.send_signal(signal.SIGCONT)  # in case a test left it stopped
            group.stop_all()


@pytest.fixture
async def stores() -> AsyncIterator[Callable[[str], Store]]:
    """The test's own view of a Redis (short timeouts, so that a frozen Redis cannot hang the test)."""
    clients: list[Redis] = []

    def open_store(url: str) -> Store:
        client = Redis.from_url(url, decode_responses=True, socket_timeout=2, socket_connect_timeout=1)
        clients.append(client)
        return Store(client)

    yield open_store
    for client in clients:
        await client.aclose()


@pytest.fixture
async def several(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[Worker]:
    """A worker installed in the home workspace, T0OTHER, and org-wide in E0GRID (tests/support/tenants.py)."""
    worker = await several_worker(slack, redis_url, tmp_path)
    yield worker
    await worker.stop()

"""The push surface's tests' parts: the local push service (bot/devpush/), started in its own thread for each test
that asks for it (`push_service`), a worker serving Slack and Web Push (`pushing`), its environment (`push_env`: a
VAPID key made for the test, the pages at ORIGIN, the local Slack as the company's identity provider)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bot.devpush.service import PushService
from bot.devslack.server import SlackStandIn
from tests.conftest import Worker, bot_env, start_worker
from tests.support.push import push_env


@pytest.fixture
def push_service() -> Iterator[PushService]:
    with PushService() as service:
        yield service


@pytest.fixture
async def pushing(slack: SlackStandIn, push_service: PushService, redis_url: str) -> AsyncIterator[Worker]:
    """A worker serving Slack and Web Push (no e-mail, no Teams)."""
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None,
                                        **push_env(slack, push_service)))
    slack.events_url = worker.url + "/slack/events"
    yield worker
    await worker.stop()

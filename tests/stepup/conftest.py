"""A worker whose passkey pages are at `ORIGIN` (STEP_UP_URL), and a client of its pages."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import Worker, bot_env, start_worker

ORIGIN = "http://localhost:8999"  # where people's browsers open the pages (the worker itself is on 127.0.0.1)


@pytest.fixture
async def stepup(slack: SlackStandIn, redis_url: str) -> AsyncIterator[Worker]:
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, STEP_UP_URL=ORIGIN,
                                        ADMIN_USERS="U0CAROL"))
    slack.events_url = worker.url + "/slack/events"
    yield worker
    await worker.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session

"""The stand-in, a receiver it delivers to, a slack-sdk client of its Web API, and dev mode's stack in process."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

from bot.dev import DevStack
from bot.devslack.server import SlackStandIn
from tests.support.receiver import SECRET, TOKEN, Receiver


@pytest.fixture
async def standin() -> AsyncIterator[SlackStandIn]:
    s = SlackStandIn(signing_secret=SECRET, bot_token=TOKEN)
    await s.start()
    yield s
    await s.stop()


@pytest.fixture
async def bot(standin: SlackStandIn) -> AsyncIterator[Receiver]:
    receiver = Receiver()
    app = web.Application()
    app.router.add_post("/slack/events", receiver.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    receiver.url = f"http://{host}:{port}/slack/events"
    standin.events_url = receiver.url
    yield receiver
    await runner.cleanup()


@pytest.fixture
def client(standin: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(token=TOKEN, base_url=standin.api_url)


@pytest.fixture
async def stack(redis_url: str) -> AsyncIterator[DevStack]:
    """Dev mode (the page, the API, a worker) in this process, on a free port, on the test's Redis."""
    made = DevStack(host="127.0.0.1", port=0, environ={"REDIS_URL": redis_url, "PATH": os.environ.get("PATH", "")})
    try:
        await made.start()
        yield made
    finally:
        await made.stop()

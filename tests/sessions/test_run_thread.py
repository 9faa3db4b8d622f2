"""A run's thread and session (`bot.sessions.run_thread`), against the local Slack: a stopping worker waits out
no batching window of a run's stream."""

from __future__ import annotations

import asyncio
import time

from slack_sdk.web.async_client import AsyncWebClient

from bot.core.records import RunRecord
from bot.core.tasks import Background
from bot.devslack.server import SlackStandIn
from bot.sessions.chunks import text_chunk
from bot.sessions.run_session import RunSessions
from bot.sessions.run_thread import RunThreads
from tests.conftest import ALICE, BOT_TOKEN, SALES
from tests.support.hitl import until

WINDOW = 30.0  # a batching window no test waits out


async def test_a_stopping_worker_does_not_wait_out_a_batching_window(slack: SlackStandIn) -> None:
    """A step waits for its batching window (`flush_every`) before it is streamed; when the worker stops
    (`closing`, from `RunManager.shutdown`), the wait ends at once, so draining the worker's background tasks
    (its shutdown) does not take the window."""
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    header = await client.chat_postMessage(channel=SALES, text="run header")
    run = RunRecord(id="r1", requester=ALICE, channel=SALES, task="Draft an email", header_ts=header["ts"])
    background = Background()
    threads = RunThreads(client, background, sessions=RunSessions(client, flush_every=WINDOW))
    assert await threads.open_session(run)
    threads.step(run, text_chunk("First turn."))
    waiting = await until(lambda: [t for t in asyncio.all_tasks() if t.get_name() == "stream-r1"],
                          what="the step waiting for its window")
    assert not waiting[0].done()
    threads.closing()
    started = time.monotonic()
    await background.drain(grace=WINDOW)
    assert time.monotonic() - started < 5  # not the window (nor the drain's grace)
    assert waiting[0].done() and not waiting[0].cancelled()  # it ended by itself, its flush asked for

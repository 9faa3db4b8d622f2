"""A person's long wait on a scaled clock (#37): 20 minutes of a harness's limit shrunk to a fraction of a second
a round. The rounds are counted, not timed away; only the clock is scaled, so a key's requests per minute must
scale with it: a round's long poll at 0.2 s is several short requests where the real one is one, and 20 rounds
come in seconds, past the default 120 a minute (bot/store/api_keys.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, SALES, Worker, bot_env, start_worker

WAIT = 20 * 60  # seconds: the wait a person takes that these tests stand for
PER_MINUTE = 100_000  # the most a key may be given: the scaled clock's requests all fit in it


@asynccontextmanager
async def scaled_emailer(slack: SlackStandIn, redis_url: str) -> AsyncIterator[tuple[Worker, str]]:
    """As the `emailer` fixture (tests/conftest.py): a worker and a key named `emailer` that may ask in #sales,
    with the per-minute limit a scaled clock needs."""
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None))
    try:
        slack.events_url = worker.url + "/slack/events"
        made = await worker.services.store.api_keys.create("emailer", [SALES], by=BOB, per_minute=PER_MINUTE)
        assert made is not None
        yield worker, made.key
    finally:
        await worker.stop()


def rounds_in(limit: float) -> int:
    """How many rounds of a harness's `limit` (seconds) a person's 20 minutes last."""
    return int(WAIT // limit)

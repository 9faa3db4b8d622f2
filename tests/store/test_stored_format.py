"""The Redis-wide stored format (`{p}:format`, bot/store/stored_format.py, docs/operators/upgrades.md): a worker
keeps it at its start. A Redis without it (every one from before the key) is format 1 and is upgraded in place; one
of a newer format than the worker knows is refused with a clear message before the worker writes anything; a value
that is no format is refused too. The previous commit's worker beside this one: tests/store/test_rolling_upgrade.py;
as a process: tests/scenarios/test_start_checks.py."""

from __future__ import annotations

import pytest
from redis.asyncio import Redis

import bot
from bot.core.settings import SettingsError
from bot.devslack.server import SlackStandIn
from bot.store import NewerFormat, Store
from bot.store.stored_format import FORMAT, ONE_TAG
from tests.conftest import bot_env, start_worker


async def test_a_redis_without_a_format_is_upgraded_in_place_once(store: Store) -> None:
    assert await store.format.stored() == 1
    assert await store.format.keep(version="9.9.9") == (1, ONE_TAG)  # (format 3 only by a move: test_move.py)
    held = await store.redis.hgetall("hitl:format")  # type: ignore[misc]
    assert held["format"] == str(ONE_TAG) and held["by"] == "9.9.9", held
    assert await store.format.keep(version="9.9.10") == (ONE_TAG, ONE_TAG)
    assert (await store.redis.hgetall("hitl:format"))["by"] == "9.9.9"  # type: ignore[misc]  # (nothing to do)


@pytest.mark.parametrize(("stored", "said"), [
    (str(FORMAT + 1), f"this Redis holds stored format {FORMAT + 1}, newer than this worker knows"),
    ("2x", "this Redis says its stored format is '2x', none this worker knows"),
    ("-1", "this Redis says its stored format is '-1', none this worker knows"),
])
async def test_a_newer_or_unknown_format_is_refused_and_left_as_it_is(store: Store, stored: str, said: str) -> None:
    await store.redis.hset("hitl:format", mapping={"format": stored, "by": "7.0.0"})  # type: ignore[misc]
    with pytest.raises(NewerFormat, match=said):
        await store.format.keep(version="1.0.0")
    assert (await store.redis.hgetall("hitl:format")) == {"format": stored, "by": "7.0.0"}  # type: ignore[misc]


async def test_a_worker_refuses_to_start_on_a_newer_format_before_it_writes(slack: SlackStandIn,
                                                                            redis_url: str) -> None:
    redis = Redis.from_url(redis_url, decode_responses=True)
    try:
        await redis.hset("hitl:format", mapping={"format": str(FORMAT + 1)})  # type: ignore[misc]
        with pytest.raises(SettingsError, match=f"this Redis holds stored format {FORMAT + 1}, newer than this"
                                                f" worker knows \\(up to {FORMAT}\\)"):
            worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None))
            await worker.stop()
        assert await redis.keys("*") == ["hitl:format"]  # nothing else written
    finally:
        await redis.aclose()


async def test_a_starting_worker_writes_its_format(slack: SlackStandIn, redis_url: str) -> None:
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None))
    try:
        held = await worker.services.store.redis.hgetall("hitl:format")  # type: ignore[misc]
        assert held["format"] == str(ONE_TAG) and held["by"] == bot.__version__, held
    finally:
        await worker.stop()

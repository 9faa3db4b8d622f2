"""Writes a full Redis refuses (#87.1), against the real redis-server: each command, pipeline and Lua step raises the
store's one `StoreWriteRefused` (a `StoreUnavailable`) with its reason, counted once by the client's
`WriteRefusals`; a refused Lua step (the open and the decide steps, each several keys) wrote nothing, and works
again once Redis has room."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import cast

import pytest
import redis as sync_redis

from bot.store import Store, StoreUnavailable, StoreWriteRefused
from bot.store.connection import write_refused
from tests.conftest import RedisServer
from tests.support.records import approval


@pytest.fixture
async def full(store: Store, redis_server: RedisServer) -> AsyncIterator[sync_redis.Redis]:
    """The session's Redis made full (`maxmemory` 1 byte, noeviction) for one test, its limit lifted after."""
    client = sync_redis.Redis(port=redis_server.port)
    client.config_set("maxmemory-policy", "noeviction")
    try:
        yield client
    finally:
        client.config_set("maxmemory", "0")
        client.close()


async def test_a_full_redis_refuses_a_lua_step_whole_and_says_why(store: Store, full: sync_redis.Redis) -> None:
    said: list[str] = []
    store.refusals.listen(said.append)
    await store.approvals.create(approval("a1b2c3d4-0001"))
    keys_before = sorted(cast(list[bytes], full.keys("*")))
    full.config_set("maxmemory", "1")

    with pytest.raises(StoreWriteRefused) as refused:
        await store.approvals.create(approval("a1b2c3d4-0002"))  # the open step: approval, texts, deadline, audit
    assert refused.value.reason == "oom" and isinstance(refused.value, StoreUnavailable)
    with pytest.raises(StoreWriteRefused):
        await store.approvals.decide("a1b2c3d4-0001", outcome="approved", by="U0BOB")
    with pytest.raises(StoreWriteRefused):
        await store.workers.writable("w1")  # what /readyz asks
    assert said == ["oom", "oom", "oom"]
    assert sorted(cast(list[bytes], full.keys("*"))) == keys_before  # nothing half-written
    pending = await store.approvals.get("a1b2c3d4-0001")
    assert pending is not None and pending.pending

    full.config_set("maxmemory", "0")
    assert (await store.approvals.decide("a1b2c3d4-0001", outcome="approved", by="U0BOB")).status == "ok"
    await store.workers.writable("w1")


def test_redis_words_for_a_refused_write_are_read_as_redis_says_them(redis_server: RedisServer) -> None:
    client = sync_redis.Redis(port=redis_server.port)
    client.config_set("maxmemory-policy", "noeviction")
    client.config_set("maxmemory", "1")
    try:
        errors = []
        for call in (lambda: client.set("k", "v"),
                     lambda: client.eval("redis.call('SET', KEYS[1], 'v') return 1", 1, "k")):
            try:
                call()
            except sync_redis.ResponseError as exc:
                errors.append(exc)
    finally:
        client.config_set("maxmemory", "0")
        client.close()
    assert [write_refused(exc) for exc in errors] == ["oom", "oom"]
    assert write_refused(sync_redis.ResponseError("MISCONF Redis is configured to save RDB snapshots")) == "misconf"
    assert write_refused(sync_redis.ResponseError("WRONGTYPE Operation against a key")) is None

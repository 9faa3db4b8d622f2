"""A Redis Cluster client whose connections to a node are all busy waits for one, as the plain client's blocking pool
does, instead of failing at once (redis-py's `MaxConnectionsError`): under load, a click was answered "try again"
while Redis was well. Real parts: the test process's Redis Cluster (tests/support/redis_cluster.py)."""

from __future__ import annotations

import asyncio
import time

import pytest

from bot.store import StoreUnavailable, connect
from bot.store.connection import aw
from bot.store.slots import key_slot
from tests.support.redis_cluster import LocalCluster

pytestmark = pytest.mark.slow  # (a cluster of six redis-servers)


async def test_a_command_waits_for_a_connection_of_its_node_when_all_are_busy(redis_cluster: LocalCluster) -> None:
    redis = connect(redis_cluster.url, max_connections=2, command_timeout=5)
    try:
        began = time.monotonic()
        # six BLPOPs of one slot, each holding one of the node's two connections 0.3 s (Redis's wait, not ours)
        answers = await asyncio.gather(*(aw(redis.blpop([f"{{pool}}:empty:{n}"], timeout=0.3)) for n in range(6)))
        assert answers == [None] * 6
        assert time.monotonic() - began >= 0.9  # three rounds of two: the others waited for a connection
    finally:
        await redis.aclose()


async def test_a_command_that_waits_longer_than_its_timeout_for_a_connection_fails_closed(
        redis_cluster: LocalCluster) -> None:
    redis = connect(redis_cluster.url, max_connections=1, timeout=0.2, command_timeout=5)
    try:
        node = redis_cluster.primary_of(key_slot("{pool}:empty"))
        holding = asyncio.ensure_future(aw(redis.blpop(["{pool}:empty"], timeout=2)))
        deadline = time.monotonic() + 5
        while int(redis_cluster.ask(node, "INFO", "clients")["blocked_clients"]) < 1:  # its one connection taken
            assert time.monotonic() < deadline, "the BLPOP never reached its node"
            await asyncio.sleep(0.01)
        with pytest.raises(StoreUnavailable) as raised:
            await aw(redis.get("{pool}:other"))
        assert raised.value.cause == "MaxConnectionsError"
        assert await holding is None
    finally:
        await redis.aclose()

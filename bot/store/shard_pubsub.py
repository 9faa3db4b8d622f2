"""Sharded pub/sub on Redis Cluster (issue 89 item 3): a worker's channels heard through `SSUBSCRIBE` on the primary
that serves each channel's slot, where a decide step's `SPUBLISH` lands (Redis 7), instead of a `PUBLISH` every node
of the cluster relays to every other.

`ShardedPubSub` looks like the plain `PubSub` the waiter uses (`subscribe`, `get_message`, `aclose`): one
connection per primary serving a channel subscribed, and one plain subscription to one node as well, so that a
worker of the release before (which publishes with `PUBLISH`) is still heard during a rolling upgrade; a tenant's own
channels (in its slot, `ssubscribe`) are heard on their primaries alone, added as the worker starts waiting there.
Messages are given as plain pub/sub's (`type` "message"). When a primary fails, or its slot moves (Redis says
`sunsubscribe`), `get_message` raises `StoreUnavailable`: the waiter subscribes again (the cluster's map read afresh)
and reads what it waits for again, as after any outage. redis-py's asyncio cluster client has no pub/sub of its own
(6.4)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any, Protocol

from redis.asyncio import Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster

from bot.store.connection import _CONNECT_TIMEOUT, _CONNECTION, StoreUnavailable, guarded
from bot.store.slots import key_slot

PUBLISH, SPUBLISH = "PUBLISH", "SPUBLISH"


class Subscription(Protocol):
    """What the waiter subscribes with: a plain `PubSub`, or a `ShardedPubSub`."""

    async def subscribe(self, *channels: str) -> Any: ...

    async def get_message(self, *, ignore_subscribe_messages: bool = ..., timeout: float = ...  # noqa: ASYNC109
                          ) -> Any: ...

    async def aclose(self) -> None: ...


class _ShardChannel(PubSub):
    """A plain asyncio `PubSub` that knows a shard channel's messages (`smessage`) and their end (`sunsubscribe`)."""

    PUBLISH_MESSAGE_TYPES = ("message", "pmessage", "smessage")  # type: ignore[assignment]
    UNSUBSCRIBE_MESSAGE_TYPES = ("unsubscribe", "punsubscribe", "sunsubscribe")  # type: ignore[assignment]


async def supports_sharded(redis: Redis) -> bool:
    """Whether `redis` is a Cluster whose every primary is Redis 7 or later (`SSUBSCRIBE`, `SPUBLISH`)."""
    if not isinstance(redis, RedisCluster):
        return False
    await redis.initialize()
    found = await redis.info("server", target_nodes=RedisCluster.PRIMARIES)
    nodes = [v for v in found.values() if isinstance(v, dict)] or [found]
    majors = [str(node.get("redis_version", "0")).split(".")[0] for node in nodes]
    return bool(majors) and all(m.isascii() and m.isdigit() and int(m) >= 7 for m in majors)  # (unsaid: plain)


async def slot_owners(cluster: RedisCluster) -> dict[tuple[int, int], tuple[str, int]]:
    """(first slot, last slot) -> (host, port) of the primary serving them, as the cluster says now (`CLUSTER
    SLOTS`: after a failover, the replica promoted)."""
    said = await cluster.execute_command("CLUSTER SLOTS")
    return {(int(first), int(last)): (str(node["primary"][0]), int(node["primary"][1]))
            for (first, last), node in said.items()}


class ShardedPubSub:
    """Channels heard on the primaries serving their slots (`SSUBSCRIBE`), and on one node as plain ones."""

    def __init__(self, owners: Mapping[tuple[int, int], tuple[str, int]], plain: Subscription, *,
                 password: str | None = None) -> None:
        self._owners = owners  # (first slot, last slot) -> (host, port) of its primary, as the cluster said now
        self._password = password
        self._plain = plain
        self._shards: dict[str, tuple[Redis, _ShardChannel]] = {}  # node name -> its client and subscription
        self._heard: asyncio.Queue[dict[str, Any] | BaseException] = asyncio.Queue()
        self._readers: list[asyncio.Task[None]] = []

    async def subscribe(self, *channels: str) -> None:
        await self._plain.subscribe(*channels)
        if not self._readers:
            self._readers.append(asyncio.ensure_future(self._read(self._plain)))
        await self.ssubscribe(*channels)

    async def ssubscribe(self, *channels: str) -> None:
        """`channels` heard on their slots' primaries alone (a tenant's own channels to a worker: nothing publishes
        them plainly), added to those heard at any time."""
        for channel in channels:
            slot = key_slot(channel)
            node = next((where for (first, last), where in self._owners.items() if first <= slot <= last), None)
            if node is None:
                raise StoreUnavailable(f"no primary serves the slot of channel {channel[:60]!r}")
            host, port = node[0], int(node[1])
            found = self._shards.get(f"{host}:{port}")
            fresh = found is None
            if found is None:
                client = guarded(Redis(host=host, port=port, socket_connect_timeout=_CONNECT_TIMEOUT,
                                       password=self._password, **_CONNECTION))
                found = self._shards[f"{host}:{port}"] = (client, _ShardChannel(client.connection_pool))
            try:
                await found[1].execute_command("SSUBSCRIBE", channel)
            except Exception as exc:
                raise StoreUnavailable(f"{type(exc).__name__}: {exc}"[:300]) from exc
            if fresh:  # (read once subscribed: its connection is made by the first)
                self._readers.append(asyncio.ensure_future(self._read(found[1])))

    async def _read(self, channel: Subscription) -> None:
        while True:
            try:
                message = await channel.get_message(ignore_subscribe_messages=False, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a node gone: the waiter subscribes again
                await self._heard.put(StoreUnavailable(f"{type(exc).__name__}: {exc}"[:300]))
                return
            if message is None:
                continue
            kind = message.get("type")
            if kind == "sunsubscribe":  # its slot moved to another node (a failover, a resharding)
                await self._heard.put(StoreUnavailable("a shard channel's slot moved"))
                return
            if kind in ("message", "smessage"):
                await self._heard.put({**message, "type": "message"})

    async def get_message(self, *, ignore_subscribe_messages: bool = True, timeout: float = 5.0  # noqa: ASYNC109
                          ) -> Any:
        try:
            async with asyncio.timeout(timeout):  # (not `wait_for`: a task of its own, two turns of the loop later)
                found = await self._heard.get()
        except TimeoutError:
            return None
        if isinstance(found, BaseException):
            raise found
        return found

    async def aclose(self) -> None:
        for reader in self._readers:
            reader.cancel()
        for reader in self._readers:
            with contextlib.suppress(BaseException):
                await reader
        for client, channel in self._shards.values():
            with contextlib.suppress(Exception):
                await channel.aclose()  # type: ignore[no-untyped-call]
            with contextlib.suppress(Exception):
                await client.aclose()
        with contextlib.suppress(Exception):
            await self._plain.aclose()

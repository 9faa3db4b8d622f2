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
(6.4).

A primary's connection is read as its bytes arrive (`_ShardNode`, an asyncio protocol parsing with hiredis, as
redis-py does): each message is handed to whoever waits in `get_message` by the event loop's own callback, so the
reader resumes one turn of the loop after the message came, as on a plain subscription (a task reading each node and
a queue between took two more turns: #89's click -> resumed)."""

from __future__ import annotations

import asyncio
import contextlib
import socket
from collections import deque
from collections.abc import Callable, Mapping
from typing import Any, Protocol, cast

import hiredis
from redis.asyncio import Redis
from redis.asyncio.cluster import RedisCluster

from bot.store.connection import _CONNECT_TIMEOUT, StoreUnavailable, tls_of
from bot.store.slots import key_slot

PUBLISH, SPUBLISH = "PUBLISH", "SPUBLISH"


class Subscription(Protocol):
    """What the waiter subscribes with: a plain `PubSub`, or a `ShardedPubSub`."""

    async def subscribe(self, *channels: str) -> Any: ...

    async def get_message(self, *, ignore_subscribe_messages: bool = ..., timeout: float = ...  # noqa: ASYNC109
                          ) -> Any: ...

    async def aclose(self) -> None: ...


Heard = dict[str, Any] | StoreUnavailable  # a message (as plain pub/sub's), or the end of a connection


def command(*parts: str) -> bytes:
    """A command as Redis reads it (RESP: an array of bulk strings)."""
    encoded = [part.encode() for part in parts]
    return b"".join([b"*%d\r\n" % len(encoded), *(b"$%d\r\n%s\r\n" % (len(p), p) for p in encoded)])


class _ShardNode(asyncio.Protocol):
    """One primary's subscribed connection: its replies parsed as they arrive, each message (`smessage`, or
    `message`) told at once; an error, a `sunsubscribe` (the slot moved) or the connection lost told once as
    `StoreUnavailable`, the connection closed then. Subscriptions' confirmations, AUTH's OK: nothing to tell."""

    def __init__(self, tell: Callable[[Heard], None]) -> None:
        self._tell = tell
        self._replies = hiredis.Reader(encoding="utf-8", errors="replace")
        self._transport: asyncio.Transport | None = None
        self._done = False  # (told its end, or closed by us: nothing more told)
        self.confirming: dict[str, asyncio.Future[None]] = {}  # a channel subscribed -> Redis said so (`confirmed`)

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)  # (uvloop's is none of asyncio's classes: not checked)
        with contextlib.suppress(OSError, AttributeError):
            transport.get_extra_info("socket").setsockopt(socket.SOL_SOCKET, socket.SO_KEEPALIVE, 1)

    def send(self, *parts: str) -> None:
        if self._done or self._transport is None or self._transport.is_closing():
            raise StoreUnavailable("ConnectionError: a shard channel's connection is closed")
        self._transport.write(command(*parts))

    def data_received(self, data: bytes) -> None:
        self._replies.feed(data)
        while not self._done:
            try:
                reply = self._replies.gets()
            except hiredis.ProtocolError as exc:
                self._end(f"ProtocolError: {exc}")
                return
            if reply is False:
                return
            if isinstance(reply, hiredis.ReplyError):  # (MOVED: the slot is another primary's now; NOAUTH, ...)
                self._end(f"ResponseError: {reply}")
            elif isinstance(reply, list) and len(reply) == 3 and reply[0] in ("smessage", "message"):
                self._tell({"type": "message", "pattern": None, "channel": reply[1], "data": reply[2]})
            elif isinstance(reply, list) and reply and reply[0] == "sunsubscribe":  # its slot moved (a failover)
                self._end("a shard channel's slot moved")
            elif isinstance(reply, list) and len(reply) == 3 and reply[0] == "ssubscribe":
                said = self.confirming.pop(str(reply[1]), None)
                if said is not None and not said.done():
                    said.set_result(None)

    @property
    def ended(self) -> bool:
        """Its end told, or closed."""
        return self._done

    def eof_received(self) -> bool | None:
        self._end("ConnectionError: Connection closed by server.")
        return None

    def connection_lost(self, exc: Exception | None) -> None:
        self._end(f"ConnectionError: {exc or 'Connection closed by server.'}")

    def _end(self, why: str) -> None:
        if not self._done:
            self._done = True
            self._tell(StoreUnavailable(why[:300]))
        for said in self.confirming.values():  # (ended: `confirmed` raises; no exception left unread in a future)
            if not said.done():
                said.set_result(None)
        self.confirming.clear()
        self.close()

    def close(self) -> None:
        self._done = True
        if self._transport is not None:
            self._transport.close()


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
                 options: Mapping[str, Any] | None = None) -> None:
        self._owners = owners  # (first slot, last slot) -> (host, port) of its primary, as the cluster said now
        self._options = dict(options or {})  # how the cluster's client reaches a node (`node_options`: user, TLS)
        self._plain = plain
        self._shards: dict[str, _ShardNode] = {}  # node name -> its subscribed connection
        self._heard: deque[Heard] = deque()  # told, not yet read
        self._waiting: list[asyncio.Future[None]] = []  # the readers waiting in `get_message`
        self._readers: list[asyncio.Task[None]] = []  # the plain subscription's
        self._closed = False

    async def subscribe(self, *channels: str) -> None:
        await self._plain.subscribe(*channels)
        if not self._readers:
            self._readers.append(asyncio.ensure_future(self._read(self._plain)))
        await self.ssubscribe(*channels)

    async def ssubscribe(self, *channels: str) -> None:
        """`channels` heard on their slots' primaries alone (a tenant's own channels to a worker: nothing publishes
        them plainly), added to those heard at any time."""
        for channel in channels:
            host, port = self._owner(channel)
            found = self._shards.get(f"{host}:{port}")
            if found is None:
                found = self._shards[f"{host}:{port}"] = await self._connect(host, port)
            found.confirming.setdefault(channel, asyncio.get_running_loop().create_future())
            found.send("SSUBSCRIBE", channel)

    async def confirmed(self, channel: str) -> None:
        """Once Redis has said `channel` (`ssubscribe`d) is heard: whatever is published there after it reaches us
        (within the connect timeout, else `StoreUnavailable`, as when its connection ends first)."""
        host, port = self._owner(channel)
        node = self._shards.get(f"{host}:{port}")
        if node is None or node.ended:
            raise StoreUnavailable(f"ConnectionError: channel {channel[:60]!r} not subscribed")
        said = node.confirming.get(channel)
        if said is None:  # (said already)
            return
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                await asyncio.shield(said)
        except TimeoutError as exc:
            raise StoreUnavailable(f"TimeoutError: channel {channel[:60]!r} not confirmed") from exc
        if node.ended:
            raise StoreUnavailable(f"ConnectionError: channel {channel[:60]!r} ended before it was confirmed")

    def _owner(self, channel: str) -> tuple[str, int]:
        """(host, port) of the primary serving `channel`'s slot, as the cluster said."""
        slot = key_slot(channel)
        node = next((where for (first, last), where in self._owners.items() if first <= slot <= last), None)
        if node is None:
            raise StoreUnavailable(f"no primary serves the slot of channel {channel[:60]!r}")
        return node[0], int(node[1])

    async def _connect(self, host: str, port: int) -> _ShardNode:
        """A connection to the primary at `host`:`port`, over TLS when the cluster's are (its certificate checked as
        theirs; one that fails is refused, never asked in the clear), AUTH first when the cluster has a password."""
        tls = tls_of(self._options)
        try:
            async with asyncio.timeout(_CONNECT_TIMEOUT):
                _, node = await asyncio.get_running_loop().create_connection(
                    lambda: _ShardNode(self._tell), host, port, ssl=tls, server_hostname=host if tls else None)
        except (OSError, TimeoutError) as exc:  # (a certificate refused: ssl.SSLError, an OSError)
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}"[:300]) from exc
        user, password = self._options.get("username"), self._options.get("password")
        if password:  # (refused: its error ends the connection, said as StoreUnavailable)
            node.send("AUTH", *([str(user)] if user else []), str(password))
        return node

    def _tell(self, heard: Heard) -> None:
        self._heard.append(heard)
        for waiting in self._waiting:
            if not waiting.done():
                waiting.set_result(None)

    def interrupt(self) -> None:
        """The readers waiting in `get_message` given None now (nothing is lost: what is told later is read next)."""
        for waiting in self._waiting:
            if not waiting.done():
                waiting.set_result(None)

    async def _read(self, channel: Subscription) -> None:
        """The plain subscription's messages told (a worker of the release before publishes there)."""
        while True:
            try:
                message = await channel.get_message(ignore_subscribe_messages=True, timeout=1.0)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # a node gone: the waiter subscribes again
                self._tell(StoreUnavailable(f"{type(exc).__name__}: {exc}"[:300]))
                return
            if message is not None and message.get("type") == "message":
                self._tell(message)

    async def get_message(self, *, ignore_subscribe_messages: bool = True, timeout: float = 5.0  # noqa: ASYNC109
                          ) -> Any:
        if not self._heard:
            waiting = asyncio.get_running_loop().create_future()
            self._waiting.append(waiting)
            try:
                async with asyncio.timeout(timeout):
                    await waiting
            except TimeoutError:
                return None
            finally:
                self._waiting.remove(waiting)
            if not self._heard:  # (another reader took it)
                return None
        found = self._heard.popleft()
        if isinstance(found, BaseException):
            raise found
        return found

    @property
    def live(self) -> bool:
        """Whether every shard connection still hears what it subscribed to (none ended, not closed): what is
        published on them reaches us (a freeze's number: bot/store/freeze_copies.py)."""
        return not self._closed and not any(node.ended for node in self._shards.values())

    async def aclose(self) -> None:
        self._closed = True
        for reader in self._readers:
            reader.cancel()
        for reader in self._readers:
            with contextlib.suppress(BaseException):
                await reader
        for node in self._shards.values():
            node.close()
        with contextlib.suppress(Exception):
            await self._plain.aclose()

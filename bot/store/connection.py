"""Connections to Redis: a plain URL, Sentinel or Cluster; pub/sub; and riding out a blip."""

from __future__ import annotations

import asyncio
import inspect
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisClusterException
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.core.redis_urls import is_cluster_url

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R", bound=Redis)
REDIS_DOWN: tuple[type[BaseException], ...] = (RedisConnectionError, RedisTimeoutError, OSError)
# What Redis Cluster's client raises, with no class of its own, when none of its nodes answers (the whole cluster
# is down or restarting): its other `RedisClusterException`s are misuses, not outages.
CLUSTER_DOWN = "Redis Cluster cannot be connected"
_MAYBE_DOWN: tuple[type[BaseException], ...] = (*REDIS_DOWN, RedisClusterException)


class StoreUnavailable(RedisConnectionError):
    """The approval store (Redis) cannot be reached or does not answer in time: the one error the store raises for
    it, whatever the client saw (a refused or reset connection, a timeout, a failover); `__cause__` is that error.
    Raised at one boundary (`guarded`: every command, pipeline and pub/sub call of the store's clients), so
    nobody above the store catches Redis's own exceptions."""

    @property
    def cause(self) -> str:
        """The name of what the client saw (`ConnectionError`, `TimeoutError`, ...): what a log line says, never
        where Redis is."""
        return type(self.__cause__ or self).__name__


def _unavailable(call: Callable[..., Awaitable[T]]) -> Callable[..., Awaitable[T]]:
    async def guarded_call(*args: Any, **kwargs: Any) -> T:
        task = asyncio.current_task()
        asked = task.cancelling() if task is not None else 0
        try:
            result = await call(*args, **kwargs)
        except StoreUnavailable:
            raise
        except _MAYBE_DOWN as exc:
            if isinstance(exc, RedisClusterException) and not str(exc).startswith(CLUSTER_DOWN):
                raise  # a misuse, not an outage
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}"[:300]) from exc
        if task is not None and task.cancelling() > asked:
            raise asyncio.CancelledError  # a cancellation the client lost on its way (see `guarded`)
        return result

    return guarded_call


def guarded(redis: R) -> R:
    """`redis` whose commands, pipelines and pub/sub raise `StoreUnavailable` when Redis cannot be reached (the
    store's one boundary for it).

    They also never lose a cancellation. With a command timeout, redis-py sends each command inside
    `asyncio.wait_for`, which on Python 3.11 returns instead of raising when the task is cancelled in the tick the
    send completes: about one cancel in three that came while a command was on its way was lost, and a worker's
    loop went on after it was stopped. A call that returns while its task has a cancellation it did not have
    before raises `CancelledError` (a timeout around the call then raises `TimeoutError`, as it should)."""
    redis.execute_command = _unavailable(redis.execute_command)  # type: ignore[method-assign, assignment]
    if isinstance(redis, RedisCluster):  # finding the nodes again after an outage (`pubsub_client` asks it too)
        redis.initialize = _unavailable(redis.initialize)
    pipeline = redis.pipeline

    def guarded_pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = pipeline(*args, **kwargs)
        pipe.execute = _unavailable(pipe.execute)  # type: ignore[method-assign, assignment]
        return pipe

    redis.pipeline = guarded_pipeline  # type: ignore[method-assign]
    if hasattr(redis, "pubsub"):
        pubsub = redis.pubsub

        def guarded_pubsub(*args: Any, **kwargs: Any) -> Any:
            channel = pubsub(*args, **kwargs)
            for name in ("subscribe", "unsubscribe", "get_message", "ping", "execute_command"):
                setattr(channel, name, _unavailable(getattr(channel, name)))
            return channel

        redis.pubsub = guarded_pubsub  # type: ignore[method-assign]
    return redis


async def persistently(call: Callable[[], Awaitable[T]], *, what: str, patience: float | None = 60.0) -> T:
    """`call()`, tried again while Redis is unreachable or slow (a blip, a restart, a failover), for at
    most `patience` seconds (None: until it works or the task is cancelled). For an owner's writes,
    which are safe to repeat: a run must not fail because Redis was away for a few seconds."""
    delay, waited, warned = 0.05, 0.0, False
    while True:
        try:
            return await call()
        except REDIS_DOWN as exc:
            if patience is not None and waited >= patience:
                raise
            if not warned:
                log.warning("%s: Redis unreachable (%s); trying again", what, type(exc).__name__)
                warned = True
            await asyncio.sleep(delay)
            waited += delay
            delay = min(delay * 2, 2.0)


def connect(
    redis_url: str, *, max_connections: int = 64, timeout: float = 5.0, command_timeout: float | None = None
) -> Redis:
    """A client on a blocking pool: under load it waits for a connection instead of raising.

    `redis+sentinel://[:password@]host:26379[,host2:26379]/<service name>[/<db>]` asks Redis Sentinel
    for the current master (and follows failovers). `redis+cluster://[:password@]host:port[,host:port]`
    uses Redis Cluster: every key then shares one hash tag (see `cluster_prefix`), so each Lua step runs
    on one node, and pub/sub goes through a plain connection to one node (Cluster broadcasts PUBLISH).

    `command_timeout`: seconds a command may wait for its answer (a frozen or partitioned Redis then
    fails the command instead of holding it, and whoever waits on it, forever); opening a connection may take as
    long (2 s at least), since a command that finds none free waits for that too: on a loaded worker whose event
    loop is a few seconds late, a fixed 2 s failed a connection Redis had already accepted."""
    connecting = max(_CONNECT_TIMEOUT, command_timeout or 0.0)
    options = {**_CONNECTION, "socket_timeout": command_timeout, "socket_connect_timeout": connecting}
    if redis_url.startswith(("redis+sentinel://", "rediss+sentinel://")):
        return guarded(_sentinel_master(redis_url, max_connections=max_connections, timeout=timeout, options=options))
    if is_cluster_url(redis_url):
        return guarded(_cluster(redis_url, max_connections=max_connections, options=options))
    pool = BlockingConnectionPool.from_url(
        redis_url,
        max_connections=max_connections,
        timeout=min(timeout, command_timeout) if command_timeout else timeout,
        health_check_interval=15,
        **options,
    )
    return guarded(Redis(connection_pool=pool))


# How every client connects: decoded strings, TCP keepalive (and a connect timeout: `connect`, `_CONNECT_TIMEOUT`).
_CONNECT_TIMEOUT = 2.0  # seconds opening a connection may take, when commands may take less
_CONNECTION: dict[str, Any] = {"decode_responses": True, "socket_keepalive": True}


def _hosts(netloc: str, *, default_port: int) -> list[tuple[str, int]]:
    """`host:port,host2:port` (after any `:password@`) as (host, port) pairs."""
    hosts = []
    for item in netloc.rsplit("@", 1)[-1].split(","):
        host, _, port = item.rpartition(":")
        hosts.append((host or item, int(port) if port.isascii() and port.isdigit() else default_port))
    return hosts


def _cluster(url: str, *, max_connections: int, options: dict[str, Any]) -> Redis:
    parts = urlsplit(url)
    cluster = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in _hosts(parts.netloc, default_port=6379)],
        password=parts.password,
        ssl=parts.scheme.startswith("rediss"),
        max_connections=max_connections,
        **options,
    )
    return cast(Redis, cluster)  # the commands we use are the same; pub/sub goes through `pubsub_client`


async def pubsub_client(redis: Redis) -> Redis:
    """A client that can subscribe: the client itself, or for Cluster a plain connection to one node."""
    if isinstance(redis, RedisCluster):
        await redis.initialize()
        node = redis.get_random_node()
        return guarded(Redis(
            host=node.host,
            port=node.port,
            password=redis.get_connection_kwargs().get("password"),
            socket_connect_timeout=_CONNECT_TIMEOUT,
            **_CONNECTION,
        ))
    return redis


def _sentinel_master(url: str, *, max_connections: int, timeout: float, options: dict[str, Any]) -> Redis:
    parts = urlsplit(url)
    hosts = _hosts(parts.netloc, default_port=26379)
    path = [p for p in parts.path.split("/") if p]
    if not path:
        raise ValueError("a Sentinel URL names the service: redis+sentinel://host:26379/mymaster/0")
    service, db = path[0], int(path[1]) if len(path) > 1 else 0
    sentinel = Sentinel(  # type: ignore[no-untyped-call]
        hosts,
        socket_connect_timeout=_CONNECT_TIMEOUT,
        sentinel_kwargs={"password": parts.password} if parts.password else None,
    )
    master: Redis = sentinel.master_for(
        service,
        db=db,
        password=parts.password,
        ssl=parts.scheme.startswith("rediss"),
        max_connections=max_connections,
        **options,
    )
    return master


async def aw(value: Awaitable[T] | T) -> T:
    """redis-py types some asyncio commands as `Awaitable[T] | T`; they are always awaitable here."""
    return await value if inspect.isawaitable(value) else value

"""Connections to Redis: a plain URL, Sentinel or Cluster; pub/sub; and riding out a blip."""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import inspect
import logging
import ssl
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from typing import Any, TypeVar, cast
from urllib.parse import urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import ClusterNode, RedisCluster
from redis.asyncio.connection import RedisSSLContext, SSLConnection
from redis.asyncio.sentinel import Sentinel
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import (
    OutOfMemoryError,
    ReadOnlyError,
    RedisClusterException,
    ResponseError,
)
from redis.exceptions import TimeoutError as RedisTimeoutError

from bot.core.logs import LogThrottle
from bot.core.redis_urls import is_cluster_url
from bot.store.cluster_mends import cluster_retries_of as cluster_retries_of
from bot.store.cluster_mends import (
    lost_while_connecting,
    one_tag_steps,
    read_transactions,
    ride_failovers,
)

log = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R", bound=Redis)
K = TypeVar("K")  # what a client keeps one of (`_one_of`)
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


class StoreHeld(StoreUnavailable):
    """This worker's commands are held while the store's workspaces move to tags of their own (`Hold`): nothing was
    sent. A worker of one tag stays held until it is restarted with REDIS_WORKSPACE_TAGS=true, so trying again
    here gains nothing (`persistently` raises it at once): a click says "try again", the API answers 503, and the
    asker's next try reaches a worker that serves."""


class StoreWriteRefused(StoreUnavailable):
    """Redis answers but refuses to write: `reason` "oom" (full: `maxmemory` reached with `noeviction`), "misconf"
    (it cannot persist and `stop-writes-on-bgsave-error` is on) or "readonly" (a replica). Nothing was written by
    the refused command or Lua step (Redis refuses a step at its first write, before it changed anything), so it is
    a `StoreUnavailable` to everyone above the store: a click says "try again", the API answers 503."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(f"Redis refuses writes ({reason}): {message}"[:300])
        self.reason = reason


# What Redis says when it refuses a write, by reason: the first word of its error, as a command gets it (redis-py
# makes OOM and READONLY classes of their own) or inside a Lua step's error (Redis 6: "Error running script ...:
# -OOM command not allowed ...").
REFUSED_WRITES = {"OOM": "oom", "MISCONF": "misconf", "READONLY": "readonly"}


def write_refused(exc: BaseException) -> str | None:
    """The reason Redis refused a write with `exc` ("oom", "misconf", "readonly"), or None when `exc` is no such
    refusal."""
    if isinstance(exc, OutOfMemoryError):
        return "oom"
    if isinstance(exc, ReadOnlyError):
        return "readonly"
    if not isinstance(exc, ResponseError):
        return None
    text = str(exc)
    for word, reason in REFUSED_WRITES.items():
        if text.startswith(word + " ") or f"-{word} " in text or f": {word} " in text:
            return reason
    return None


class WriteRefusals:
    """The writes Redis refused one client, told to listeners by reason (a worker's metric:
    `hitl_redis_writes_refused_total`) and said in the log: the first at ERROR, then at most one line a minute
    while they go on."""

    def __init__(self, *, every: float = 60.0) -> None:
        self._listeners: list[Callable[[str], None]] = []
        self._said = LogThrottle(every=every)
        self.last: float | None = None  # (monotonic) when Redis last refused a write

    def listen(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def refused(self, reason: str) -> None:
        now = time.monotonic()
        self.last = now
        for listener in self._listeners:
            listener(reason)
        left_out = self._said.allow(reason, now)
        if left_out is not None:
            more = f" ({left_out} more refused since it was last said)" if left_out else ""
            log.error("Redis refuses writes (%s): %s; see docs/operators/runbooks.md#redisrefusingwrites%s",
                      reason, REFUSAL_WORDS.get(reason, reason), more)


REFUSAL_WORDS = {
    "oom": "it is full (maxmemory reached, noeviction)",
    "misconf": "it cannot save its snapshot (stop-writes-on-bgsave-error)",
    "readonly": "REDIS_URL names a read-only replica",
}
_REFUSALS: weakref.WeakKeyDictionary[Any, WriteRefusals] = weakref.WeakKeyDictionary()


def refusals_of(redis: Any) -> WriteRefusals:
    """The one `WriteRefusals` of the Redis client `redis` (its commands, pipelines and Lua steps report to it)."""
    return _one_of(_REFUSALS, redis, WriteRefusals)


class Hold:
    """A worker's commands held while the store's workspaces move to tags of their own (bot/store/workspace_move.py):
    `held` (set by the worker's heartbeat, `Workers.beat`), each new command waits, `SECONDS` of the clock at most,
    then fails closed (`StoreHeld`, a `StoreUnavailable`: the caller asks again, as in an outage, and is answered by a
    worker restarted for the new layout); `quiet` once the commands in flight are done, which the heartbeat says for
    the move to go on. The heartbeat's own commands are not held (`unheld`)."""

    SECONDS = 5.0

    def __init__(self) -> None:
        self.held = False
        self.in_flight = 0

    @property
    def quiet(self) -> bool:
        return self.held and self.in_flight == 0

    async def enter(self) -> bool:
        """Before a command: False when it is not counted (the heartbeat's)."""
        if _UNHELD.get():
            return False
        deadline = time.monotonic() + self.SECONDS
        while self.held:
            if time.monotonic() >= deadline:
                raise StoreHeld("held: this Redis's workspaces are being moved (python -m bot store"
                                " move-workspaces)")
            await asyncio.sleep(0.05)
        self.in_flight += 1
        return True


_UNHELD: contextvars.ContextVar[bool] = contextvars.ContextVar("unheld", default=False)
_HOLDS: weakref.WeakKeyDictionary[Any, Hold] = weakref.WeakKeyDictionary()


def hold_of(redis: Any) -> Hold:
    """The one `Hold` of the Redis client `redis`."""
    return _one_of(_HOLDS, redis, Hold)


@contextlib.contextmanager
def unheld() -> Iterator[None]:
    """Commands in this context are never held (the heartbeat's: it says the worker is held, and sees the move end)."""
    token = _UNHELD.set(True)
    try:
        yield
    finally:
        _UNHELD.reset(token)


def _one_of(kept: weakref.WeakKeyDictionary[Any, K], redis: Any, make: Callable[[], K]) -> K:
    """The one `make()` that `kept` holds for the Redis client `redis` (made at the first asking, gone with it)."""
    found = kept.get(redis)
    if found is None:
        found = kept[redis] = make()
    return found


def _unavailable(call: Callable[..., Awaitable[T]], refusals: WriteRefusals, hold: Hold | None = None,
                 ) -> Callable[..., Awaitable[T]]:
    async def guarded_call(*args: Any, **kwargs: Any) -> T:
        task = asyncio.current_task()
        asked = task.cancelling() if task is not None else 0
        counted = hold is not None and await hold.enter()
        try:
            result = await call(*args, **kwargs)
        except StoreUnavailable:
            raise
        except ResponseError as exc:
            reason = write_refused(exc)
            if reason is None:
                raise
            refusals.refused(reason)
            raise StoreWriteRefused(reason, str(exc)) from exc
        except _MAYBE_DOWN as exc:
            if isinstance(exc, RedisClusterException) and not str(exc).startswith(CLUSTER_DOWN):
                raise  # a misuse, not an outage
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}"[:300]) from exc
        except AttributeError as exc:  # (a cluster pipeline's connection closed under it: `lost_while_connecting`)
            if not lost_while_connecting(exc):
                raise
            raise StoreUnavailable(f"ConnectionError: connection lost while it was made ({exc})"[:300]) from exc
        finally:
            if counted and hold is not None:
                hold.in_flight -= 1
        if task is not None and task.cancelling() > asked:
            raise asyncio.CancelledError  # a cancellation the client lost on its way (see `guarded`)
        return result

    return guarded_call


def _as_redis_said(exception: Exception, number: int, command: Any) -> None:
    """A pipeline's error left as Redis said it: redis-py's asyncio pipeline (5, 6) replaces its text with a broken
    template ("... of pipeline caused error: {exception.args}"), losing Redis's word (MISCONF) and so its reason."""


def guarded(redis: R) -> R:
    """`redis` whose commands, pipelines and pub/sub raise `StoreUnavailable` when Redis cannot be reached (the
    store's one boundary for it).

    They also never lose a cancellation. With a command timeout, redis-py sends each command inside
    `asyncio.wait_for`, which on Python 3.11 returns instead of raising when the task is cancelled in the tick the
    send completes: about one cancel in three that came while a command was on its way was lost, and a worker's
    loop went on after it was stopped. A call that returns while its task has a cancellation it did not have
    before raises `CancelledError` (a timeout around the call then raises `TimeoutError`, as it should)."""
    refusals, hold = refusals_of(redis), hold_of(redis)
    redis.execute_command = _unavailable(redis.execute_command, refusals, hold)  # type: ignore[method-assign, assignment]
    if isinstance(redis, RedisCluster):  # finding the nodes again after an outage (`pubsub_client` asks it too)
        redis.initialize = _unavailable(redis.initialize, refusals)
    pipeline = redis.pipeline

    def guarded_pipeline(*args: Any, **kwargs: Any) -> Any:
        pipe = pipeline(*args, **kwargs)
        pipe.execute = _unavailable(pipe.execute, refusals, hold)  # type: ignore[method-assign, assignment]
        pipe.annotate_exception = _as_redis_said  # type: ignore[method-assign]
        return pipe

    redis.pipeline = guarded_pipeline  # type: ignore[method-assign]
    if hasattr(redis, "pubsub"):
        pubsub = redis.pubsub

        def guarded_pubsub(*args: Any, **kwargs: Any) -> Any:
            channel = pubsub(*args, **kwargs)
            for name in ("subscribe", "unsubscribe", "get_message", "ping", "execute_command"):
                setattr(channel, name, _unavailable(getattr(channel, name), refusals))
            return channel

        redis.pubsub = guarded_pubsub  # type: ignore[method-assign]
    return redis


async def persistently(call: Callable[[], Awaitable[T]], *, what: str, patience: float | None = 60.0,
                       blips: tuple[type[BaseException], ...] = REDIS_DOWN) -> T:
    """`call()`, tried again while Redis is unreachable or slow (a blip, a restart, a failover), for at
    most `patience` seconds of the clock, the calls' own time included (None: until it works or the task is
    cancelled). For an owner's writes, which are safe to repeat: a run must not fail because Redis was away for a
    few seconds. A write Redis refuses (`StoreWriteRefused`: full, or unable to persist) is no blip, nor are this
    worker's commands held for a move (`StoreHeld`, until it restarts): raised at once, so the asker hears it now.
    `blips`: what counts as Redis away (a call that also speaks to others, e.g. Slack, whose timeouts and refused
    connections are theirs: `(StoreUnavailable,)`, the store's own error)."""
    delay, warned = 0.05, False
    deadline = None if patience is None else time.monotonic() + patience
    while True:
        try:
            return await call()
        except (StoreWriteRefused, StoreHeld):
            raise
        except blips as exc:
            if deadline is not None and time.monotonic() >= deadline:
                raise
            if not warned:
                log.warning("%s: Redis unreachable (%s); trying again", what, type(exc).__name__)
                warned = True
            await asyncio.sleep(delay if deadline is None else max(0.0, min(delay, deadline - time.monotonic())))
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
        wait = min(timeout, command_timeout) if command_timeout else timeout
        return guarded(_cluster(redis_url, max_connections=max_connections, wait=wait, options=options))
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


def _cluster(url: str, *, max_connections: int, wait: float, options: dict[str, Any]) -> Redis:
    parts = urlsplit(url)
    cluster = RedisCluster(
        startup_nodes=[ClusterNode(host, port) for host, port in _hosts(parts.netloc, default_port=6379)],
        password=parts.password,
        ssl=parts.scheme.startswith("rediss"),
        max_connections=max_connections,
        **options,
    )
    ride_failovers(cluster, wait=wait)
    read_transactions(cluster)
    one_tag_steps(cluster)
    return cast(Redis, cluster)  # the commands we use are the same; pub/sub goes through `pubsub_client`


async def pubsub_client(redis: Redis) -> Redis:
    """A client that can subscribe: the client itself, or for Cluster a plain connection to one node (as the
    cluster's own client reaches it: `node_options`)."""
    if isinstance(redis, RedisCluster):
        await redis.initialize()
        node = redis.get_random_node()
        return guarded(Redis(
            host=node.host,
            port=node.port,
            socket_connect_timeout=_CONNECT_TIMEOUT,
            **node_options(redis),
            **_CONNECTION,
        ))
    return redis


_TLS_OPTIONS = ("ssl_keyfile", "ssl_certfile", "ssl_cert_reqs", "ssl_ca_certs", "ssl_ca_data", "ssl_check_hostname",
                "ssl_min_version", "ssl_ciphers")


def node_options(cluster: RedisCluster) -> dict[str, Any]:
    """How a connection of our own to one node of `cluster` (a subscription) is made as the cluster's client makes
    its own: its user and password, and with a `rediss+cluster://` URL TLS with the same checks (the certificate
    verified against the system's CAs, or `SSL_CERT_FILE`'s, and the host name): a node serving TLS alone is never
    asked in the clear, and one whose certificate fails is refused."""
    given = cluster.get_connection_kwargs()
    options: dict[str, Any] = {"password": given.get("password"), "username": given.get("username")}
    if given.get("connection_class") is SSLConnection:
        options.update(ssl=True, **{name: given[name] for name in _TLS_OPTIONS if name in given})
    return options


def tls_of(options: dict[str, Any]) -> ssl.SSLContext | None:
    """The TLS context `node_options` ask for (redis-py's own, built the same way), or None: in the clear."""
    if not options.get("ssl"):
        return None
    return RedisSSLContext(
        keyfile=options.get("ssl_keyfile"), certfile=options.get("ssl_certfile"),
        cert_reqs=options.get("ssl_cert_reqs"), ca_certs=options.get("ssl_ca_certs"),
        ca_data=options.get("ssl_ca_data"), check_hostname=bool(options.get("ssl_check_hostname")),
        min_version=options.get("ssl_min_version"), ciphers=options.get("ssl_ciphers")).get()


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

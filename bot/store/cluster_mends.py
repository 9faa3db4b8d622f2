"""Redis Cluster's client (redis-py 6.4) mended where it fails us: a transaction's replies read, failovers ridden
(and counted), a node whose connections are all busy waited for, a Lua step of one tag's keys routed by its first key.
`bot/store/connection.py` builds the client."""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ClusterDownError, MaxConnectionsError, MovedError, SlotNotCoveredError
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

T = TypeVar("T")


def read_transactions(cluster: RedisCluster) -> None:
    """A fault of redis-py (6.4) mended: its cluster transaction pipeline (`pipeline(transaction=True)`) hands each
    command's reply to its response callback with the `keys` it routed by, which most callbacks do not take
    (HGETALL, SMEMBERS, ZSCORE, XRANGE, ...: a TypeError, so a transaction reading them failed on Cluster alone, the
    audit watcher's census among them). The callbacks now drop it, as the client's own one-command path does."""
    def dropping_keys(callback: Callable[..., Any]) -> Callable[..., Any]:
        def call(response: Any, **options: Any) -> Any:
            options.pop("keys", None)
            return callback(response, **options)
        return call

    callbacks = cluster.response_callbacks
    for command, callback in list(callbacks.items()):
        callbacks[command] = dropping_keys(callback)


def one_tag_steps(cluster: RedisCluster) -> None:
    """A Lua step (EVALSHA, EVAL) whose keys all begin with the same text up to their first hash tag (a workspace's
    decide step: ~23 keys, each `hitl:{ws:<tenant>}:...`) routed by its first key's slot alone (`one_tag`):
    redis-py (6.4) encodes and hashes every key and compares their slots on each call (`_determine_slot`, ~0.1 ms
    a click under load). Any other command, and a step whose keys do not share that text, go its own way (keys of two
    slots still refused before anything is sent); MOVED, ASK and CLUSTERDOWN are handled as before (the client asks
    this again after a MOVED, on the new map)."""
    determine = cluster._determine_slot

    async def determine_slot(command: str, *args: Any) -> int:
        if command in _STEPS and len(args) >= 2 and isinstance(args[1], int) and args[1] > 1 and one_tag(
                args[2:2 + args[1]]):
            return cluster.keyslot(args[2])
        return await determine(command, *args)

    cluster._determine_slot = determine_slot  # type: ignore[method-assign]


_STEPS = frozenset(("EVALSHA", "EVAL", "evalsha", "eval"))


def one_tag(keys: Sequence[Any]) -> bool:
    """Does every one of `keys` (text) begin with the first one's text up to the end of its hash tag (its first
    `{`, the first `}` after it, a tag not empty)? Each is then hashed on that same tag (Redis Cluster's rule): one
    slot. False when not sure (no tag, not text, another beginning): the keys are then hashed each."""
    first = keys[0]
    if not isinstance(first, str):
        return False
    start = first.find("{")
    end = first.find("}", start + 1) if start >= 0 else -1
    if end < 0 or end == start + 1:
        return False
    head = first[:end + 1]
    for key in keys:
        if not (isinstance(key, str) and key.startswith(head)):
            return False
    return True


def ride_failovers(cluster: RedisCluster, *, wait: float) -> None:
    """Each time the client rides a failover (a slot `MOVED` to the replica promoted, the cluster down meanwhile, a
    node gone) told to `cluster_retries_of(cluster)`'s listeners by reason: moved, clusterdown, connection.

    A command that finds all `max_connections` of its node's connections busy waits for one, `wait` seconds at most,
    as the plain client's blocking pool does (redis-py's cluster client raises `MaxConnectionsError` at once: under
    load, a click was answered "try again" while Redis was well). Nothing was sent then: it is safe to send again.

    And a fault of redis-py (6.4) mended: its transaction pipeline keeps a lost connection's error as if it were a
    `MOVED` (`update_moved_exception`), and every command after then fails on reading its host (AttributeError) for
    good; such an error now makes the client read the cluster's map again at its next command instead."""
    retries, execute = cluster_retries_of(cluster), cluster._execute_command

    class MendedNodes(type(cluster.nodes_manager)):  # type: ignore[misc]  # (its __slots__: no attribute of its own)
        __slots__ = ()

        def _update_moved_slots(self) -> None:
            if isinstance(self._moved_exception, MovedError):  # type: ignore[has-type]
                retries.retried("moved")
                super()._update_moved_slots()
                return
            self._moved_exception = None  # type: ignore[misc]  # (a lost connection's: the map is read again)
            cluster._initialize = True
            retries.retried("connection")

    async def execute_command(target: Any, *args: Any, **kwargs: Any) -> Any:
        try:
            return await when_connected(execute, target, *args, wait=wait, **kwargs)
        except MaxConnectionsError:
            raise  # (no failover: every connection busy for `wait` seconds)
        except (ClusterDownError, SlotNotCoveredError):
            retries.retried("clusterdown")
            raise
        except (RedisConnectionError, RedisTimeoutError):
            retries.retried("connection")
            raise
        except AttributeError as exc:
            if not lost_while_connecting(exc):
                raise
            retries.retried("connection")  # (nothing was sent: the client's retry sends it on the new map)
            raise RedisConnectionError(f"connection lost while it was made ({exc})") from exc

    cluster.nodes_manager.__class__ = MendedNodes
    cluster._execute_command = execute_command  # type: ignore[method-assign, assignment]


POOL_POLL = (0.002, 0.05)  # seconds between looks for a free connection of a node: the first, the longest


async def when_connected(execute: Callable[..., Awaitable[T]], target: Any, *args: Any, wait: float,
                          **kwargs: Any) -> T:
    """`execute(target, *args, **kwargs)`, again while the node has no free connection (`MaxConnectionsError`,
    raised before anything is sent), for `wait` seconds at most."""
    deadline, pause = time.monotonic() + wait, POOL_POLL[0]
    while True:
        try:
            return await execute(target, *args, **kwargs)
        except MaxConnectionsError:
            if time.monotonic() + pause > deadline:
                raise
            await asyncio.sleep(pause)  # (a connection is freed when a command of another task is answered)
            pause = min(pause * 2, POOL_POLL[1])


def lost_while_connecting(exc: AttributeError) -> bool:
    """redis-py (6.4)'s cluster client closes a node's connections when it reads the map again (a failover): one
    another task was still making sends its handshake on a writer gone (`None.writelines`), an AttributeError out of
    its connection's send, before the command itself was sent (a run waiting on it failed). Is `exc` that?"""
    frames = []
    tb = exc.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code)
        tb = tb.tb_next
    return bool(frames) and frames[-1].co_name == "_send_packed_command" and frames[-1].co_filename.endswith(
        ("redis/asyncio/connection.py", "redis\\asyncio\\connection.py"))


class ClusterRetries:
    """The failovers one Redis Cluster client rode, told to listeners by reason (a worker's metric:
    `hitl_redis_cluster_retries_total`)."""

    def __init__(self) -> None:
        self._listeners: list[Callable[[str], None]] = []

    def listen(self, listener: Callable[[str], None]) -> None:
        self._listeners.append(listener)

    def retried(self, reason: str) -> None:
        for listener in self._listeners:
            listener(reason)


_RETRIES: weakref.WeakKeyDictionary[Any, ClusterRetries] = weakref.WeakKeyDictionary()


def cluster_retries_of(redis: Any) -> ClusterRetries:
    """The one `ClusterRetries` of the Redis client `redis` (told nothing unless it is a Cluster's)."""
    found = _RETRIES.get(redis)
    if found is None:
        found = _RETRIES[redis] = ClusterRetries()
    return found

"""A tenant's own channels to the workers, heard by the worker's one subscription (sharded pub/sub, issue 89).

On a Redis 7 Cluster with each workspace on a hash tag of its own (REDIS_WORKSPACE_TAGS), a workspace's decide steps
run on its slot and may `SPUBLISH` only to a channel of that slot: they publish to the workspace's own channel to the
owning worker (`hitl:{ws:<T>}:worker:<id>`, `Shared.worker_channels`), not the root's (`{hitl}:worker:<id>`). The
worker's waiter (bot/approvals/waiter.py) hears the root's channels as before, and adds each tenant's own, with
`SSUBSCRIBE` on the primary serving its slot, when that tenant's view is made (its parts built: `Tenancy` waits for
it, `listening`); each stands for the root's channel of the same worker (or owner it also listens for), so what is
said there is handled alike. After each (re)subscription and each tenant added, the waiter reads again what it waits
for: a decision published before is not lost. Home, one node, and tags off: no tenant has channels of its own
(`own_channels`), and the waiter awaits its subscription's next message alone (`next_message` races it with a
tenant's arrival only where one may bring channels). A sharded subscription's read is ended by the arrival itself
(`ShardedPubSub.interrupt`): the waiter reads it in its own task too, no task a message (#89's click -> resumed)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Mapping
from typing import Any

from bot.store import ShardedPubSub, Store, Subscription
from bot.store.shard_pubsub import SPUBLISH
from bot.store.slots import is_tag


class TenantChannels:
    """Which tenants' own channels the worker's subscription hears now, and which it should (one per worker)."""

    def __init__(self, root: str, channel: str, also: Mapping[str, object]) -> None:
        self._root = root  # the root's prefix of the workers' channels (`Keys.worker_channels`)
        # the root's channels the worker hears: its own, and (the keys of `also`) those of owners it listens for
        self._channel, self._also = channel, also
        self._prefixes: dict[str, list[object]] = {}  # a tenant's prefix of its own channels -> who waits there
        self._heard: dict[str, str] = {}  # subscribed now: a tenant's channel -> the root's it stands for
        self.more = asyncio.Event()  # a tenant added: its channels to subscribe to
        self.racing = True  # a tenant may have channels of its own (`reset`)
        self.interrupt: Callable[[], None] | None = None  # ends the sharded read under way (`next_message`)
        self._changed = asyncio.Event()

    def join(self, prefix: str, who: object) -> None:
        """`who` (a tenant's view) waits for decisions published under `prefix`: heard from the next round (the
        root's prefix: heard already)."""
        if prefix == self._root:
            return
        self._prefixes.setdefault(prefix, []).append(who)
        self.more.set()
        if self.interrupt is not None:
            self.interrupt()

    def leave(self, who: object) -> None:
        """`who` waits no more (its channels heard until the next resubscription)."""
        for prefix, waiting in list(self._prefixes.items()):
            if who in waiting:
                waiting.remove(who)
                if not waiting:
                    del self._prefixes[prefix]

    def wanted(self) -> dict[str, str]:
        """Each tenant's own channel to be heard -> the root's it stands for."""
        owners = [self._channel, *self._also]
        return {prefix + channel.removeprefix(self._root): channel for prefix in self._prefixes for channel in owners}

    def fresh(self) -> dict[str, str]:
        """Those wanted and not subscribed to now."""
        return {channel: root for channel, root in self.wanted().items() if channel not in self._heard}

    def standing_for(self, channel: str) -> str:
        """The root's channel that `channel` (one heard) stands for: itself when it is no tenant's own."""
        return self._heard.get(channel, channel)

    def reset(self, store: Store) -> None:
        """A new subscription (of `store`'s worker): nothing of the tenants' heard yet, every one wanted; whether a
        tenant may bring channels of its own (`own_channels`: `next_message` races its arrival only then)."""
        self._heard.clear()
        self.more.clear()
        self.racing = own_channels(store)

    async def add(self, pubsub: Subscription, channels: Mapping[str, str]) -> None:
        """`channels` (each -> the root's it stands for) heard from now, on their slots' primaries."""
        if not channels:
            return
        if isinstance(pubsub, ShardedPubSub):
            await pubsub.ssubscribe(*channels)
        else:  # (plain pub/sub: no tenant has channels of its own; should one, heard plainly)
            await pubsub.subscribe(*channels)
        self._heard.update(channels)
        self._changed.set()
        self._changed.clear()

    async def listening(self, prefix: str, *, within: float) -> bool:
        """Whether every channel under `prefix` wanted is heard, waiting at most `within` seconds for it."""
        deadline = asyncio.get_running_loop().time() + within
        while not all(channel in self._heard for channel in self.wanted() if channel.startswith(prefix)):
            left = deadline - asyncio.get_running_loop().time()
            if left <= 0:
                return False
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(left):
                    await self._changed.wait()
        return True


def own_channels(store: Store) -> bool:
    """Whether a tenant may have channels of its own, heard beside the root's: workspaces on tags of their own
    (REDIS_WORKSPACE_TAGS on Cluster) and sharded pub/sub (`Store.use_sharded`). Else (one node, tags off, plain
    pub/sub) every decision comes on the root's channels, and the waiter reads its subscription alone: no task a
    message to race it with a tenant's arrival (`next_message`)."""
    return store.shared.publish == SPUBLISH and store.keys.sharded and is_tag(store.keys.root)


async def next_message(pubsub: Subscription, getting: asyncio.Future[Any] | None, tenants: TenantChannels
                       ) -> tuple[asyncio.Future[Any] | None, Any]:
    """The subscription's next message (None after 5 s without one) and the read still under way. Where a tenant may
    bring channels (`tenants.racing`): waits for `getting` (that read begun before, else begun now: `reading`) or for
    `tenants.more` set, whichever is first, the read kept for the next call when `more` came first (never cancelled
    mid-read); else the read awaited alone, in this task. A sharded subscription's read is awaited in this task too,
    ended by a tenant's arrival (`tenants.interrupt`: None read then)."""
    if not tenants.racing:
        return None, await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
    if isinstance(pubsub, ShardedPubSub):
        if tenants.more.is_set():
            return None, None
        tenants.interrupt = pubsub.interrupt
        try:
            return None, await pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0)
        finally:
            tenants.interrupt = None
    getting = getting or reading(pubsub)
    told = asyncio.ensure_future(tenants.more.wait())
    try:
        await asyncio.wait((getting, told), return_when=asyncio.FIRST_COMPLETED)
    except asyncio.CancelledError:  # (the waiter stopped: the read with it)
        getting.cancel()
        raise
    finally:
        told.cancel()
    if not getting.done():
        return getting, None
    return None, getting.result()


def reading(pubsub: Subscription) -> asyncio.Future[Any]:
    """The subscription's next message read (None after 5 s without one), as a task of its own."""
    return asyncio.ensure_future(pubsub.get_message(ignore_subscribe_messages=True, timeout=5.0))

"""What the store's repositories share: the client, the keys, the scripts, retentions and clocks, and the last freeze's
number as heard."""

from __future__ import annotations

import time
import weakref
from dataclasses import dataclass, field
from typing import Protocol

from redis.asyncio import Redis

from bot.store.keys import AUDIT_RETENTION_SECONDS, RUN_RETENTION_SECONDS, Keys
from bot.store.scripts import Script, load_all

# the Lua steps registered on each client, by the audit floor's key (its root): built once (a tenant's store is cheap)
_LOADED: weakref.WeakKeyDictionary[Redis, dict[str, tuple[list[int], dict[str, Script]]]] = weakref.WeakKeyDictionary()

Fence = tuple[str, int]  # (owner worker id, epoch): whose writes to a run's steps count (lua/lib/fence.lua)


class Fenced(Exception):
    """This worker no longer owns the run (another worker took it over): it must stop working on it."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"this worker no longer owns run {run_id}")
        self.run_id = run_id


class Live(Protocol):
    """A subscription that says whether it still hears what it subscribed to."""

    @property
    def live(self) -> bool: ...


HEARD_FOR = 15.0  # seconds a freeze's number heard is trusted after it was last read or told (read every 5 s)


class FreezeHeard:
    """The last freeze's number as this worker's subscription to `frozen:told` knows it (None: not heard now, each
    Approve reads it: bot/store/freeze_copies.py); one for every tenant's store of a worker. Trusted while the
    subscription lives and for `HEARD_FOR` seconds after it was last read or told (the freeze loop reads it: a
    connection that looks alive but hears nothing, a network cut, is not trusted long)."""

    def __init__(self) -> None:
        self._number: int | None = None
        self._on: Live | None = None
        self._until = 0.0

    @property
    def number(self) -> int | None:
        """The number known while the subscription it is heard on lives, else None."""
        if self._on is None or not self._on.live or time.monotonic() > self._until:
            return None
        return self._number

    def heard_from(self, number: int, *, on: Live) -> None:
        """Heard on `on` from now (the channel confirmed), the number as read then."""
        self._number, self._on, self._until = number, on, time.monotonic() + HEARD_FOR

    def told(self, number: int) -> None:
        """A number told, or read, while the subscription lives: trusted again for `HEARD_FOR` (numbers only grow: an
        older one told late changes nothing). Not subscribed: nothing (each Approve reads it)."""
        if self._on is not None and self._on.live:
            self._number, self._until = max(number, self._number or 0), time.monotonic() + HEARD_FOR

    def lost(self) -> None:
        """The subscription ended: nothing known until it is heard again."""
        self._number, self._on = None, None


@dataclass
class Shared:
    redis: Redis
    keys: Keys
    audit_retention: int = AUDIT_RETENTION_SECONDS
    run_retention: int = RUN_RETENTION_SECONDS
    card_grace: float = 10.0  # seconds after a decision before anyone else redraws its card
    # how long a person's decision may wait in Redis's queue and still count (None: any time): a
    # worker that gave up waiting told the person to try again, so a late click must not count
    click_window: float | None = None
    clock_offset: float = 0.0  # Redis's clock minus ours (measured at each heartbeat)
    # how decisions reach a worker's channel: "SPUBLISH" (sharded pub/sub, Redis 7 Cluster: `Store.use_sharded`)
    publish: str = "PUBLISH"
    # the last freeze's number as the worker's subscription heard it (one for every tenant's store: `for_tenant`)
    freeze_heard: FreezeHeard = field(default_factory=FreezeHeard)
    _known: list[int] = field(default_factory=lambda: [0])  # `audit_known`, one for every store on a client
    _scripts: dict[str, Script] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # at start-up: a broken script fails here, not on a click. Registered once per client and root: every
        # tenant's store on a client shares them (its keys are given at each call) and `audit_known`
        loaded = _LOADED.setdefault(self.redis, {})
        found = loaded.get(self.keys.audit_floor)
        if found is None:
            known = self._known
            found = loaded[self.keys.audit_floor] = (known, load_all(
                self.redis, needed={"audit_floor": self.keys.audit_floor}, known=lambda: known[0]))
        self._known, self._scripts = found

    @property
    def audit_known(self) -> int:
        """The highest audit seq this process was given or confirmed (lua/lib/audit.lua's hold): one for every
        store on this client and root (each tenant's)."""
        return self._known[0]

    @audit_known.setter
    def audit_known(self, seq: int) -> None:
        self._known[0] = seq

    @property
    def worker_channels(self) -> str:
        """The prefix of the workers' channels its steps publish to (+ a worker id): sharded pub/sub (SPUBLISH) and a
        tenant on its own hash tag, the tenant's own in its slot (a Lua step may SPUBLISH only there); else the
        root's. The worker waiting hears both (bot/approvals/waiter.py)."""
        return self.keys.worker_channels_here if self.publish == "SPUBLISH" else self.keys.worker_channels

    def worker_channel(self, worker_id: str) -> str:
        """The channel its steps and messages reach worker `worker_id` by (`worker_channels`)."""
        return self.worker_channels + worker_id

    def script(self, name: str) -> Script:
        """The Lua step `lua/<name>.lua`."""
        return self._scripts[name]


class Repository:
    """A repository of the store over what they share: `_s` (the client, scripts, retentions, clocks) and `_k` (its
    keys)."""

    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self._k = shared.keys

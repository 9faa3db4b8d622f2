"""The rolling upgrade from the old audit chain (before #44): workers of both versions writing the log at once.

An old worker's Lua step numbers its entry from the stream's newest entry when that ends with `seq`, `prev`, `hash`
(its chain), and starts again at seq 1 when it does not: after an entry of this scheme (which ends with `seq`
alone) its entry would be seq 1, which `audit verify` reports as inserted. So while an old worker is alive, the
flag `Keys.audit_bridge` is set, and this version's step (lua/lib/audit.lua) numbers from the newest entry too and
ends each entry with `seq N prev bridge hash bridge`: the old step finds a chain and goes on at N + 1. These
entries are entries of this scheme all the same (hashed whole, signed by the checkpoints); `bridge` is no SHA-256,
so none is taken for an entry of the old chain.

Who sets it: the worker holding the checkpoint writer's lease, every `every` seconds (half a heartbeat), looks for
heartbeats without this version's mark (`Workers.unmarked`: one SCAN, one MGET); a worker starting looks once before
it writes anything, and also sets it when the log's newest entry ends as the old chain's did. Once no old worker
has been seen for `grace` seconds (two heartbeats: a stopping old worker may still write after its heartbeat went),
the flag goes, the counter taken past the old workers' entries (lua/audit_bridge.lua): appends are plain again, one
EXISTS per script call being all the bridge costs then. And the upgrade is over for good (`Keys.audit_upgraded`,
also set by the first look of a deployment that never had an old worker): no worker looks again, since a look
scans the whole key space (about 0.35 s of Redis at 500,000 keys, every half heartbeat, were it to go on). An old
worker started after that is not bridged: `audit verify` names its first entry (docs/operators/audit-integrity.md).
"""

from __future__ import annotations

import logging
import time

from bot.audit.digests import number_of, seq_of
from bot.store import Store

log = logging.getLogger(__name__)

TTL_SECONDS = 600.0  # the flag's own end, should no worker of this version be left to end it


class AuditBridge:
    """Keeps `Keys.audit_bridge` on while a worker of the old chain is alive (see the module)."""

    def __init__(self, store: Store, *, heartbeat: float, every: float | None = None, grace: float | None = None,
                 ttl: float = TTL_SECONDS) -> None:
        self._store = store
        self._every = heartbeat / 2 if every is None else every
        self._grace = 2 * heartbeat if grace is None else grace
        self._ttl = max(ttl, self._grace + self._every)
        self._next = 0.0  # monotonic time of the next look
        self.on = False
        self.over = False  # the upgrade is over: no more looks

    async def start(self) -> bool:
        """Before this worker's first append: on when an old worker is alive or the log ends with an entry of the old
        chain's form (so the first moment both versions write is covered too)."""
        if await self._store.audit.upgraded():
            self.over, self.on = True, False
            return False
        return await self.check(starting=True)

    async def keep(self) -> bool:
        """The periodic look (the lease holder's), when due."""
        if self.over or time.monotonic() < self._next:
            return self.on
        return await self.check()

    async def check(self, *, starting: bool = False) -> bool:
        """Look for old workers now and set or end the bridge. True when it is on."""
        self._next = time.monotonic() + self._every
        old = await self._store.workers.unmarked()
        seen = bool(old)
        if starting and not seen:
            newest = await self._store.audit.last()
            seen = newest is not None and seq_of(newest[1]) is None and number_of(newest[1]) is not None
        on = await self._store.audit.bridge(seen=seen, grace=self._grace, ttl=self._ttl)
        self.over = not on
        if on and not self.on:
            log.info("audit bridge on: %s of the old audit chain alive (%s); entries end with `prev`, `hash` too",
                     f"{len(old)} workers" if old else "no worker seen yet, the log ends with an entry",
                     ", ".join(old[:5]) or "its newest entry")
        elif self.on and not on:
            log.info("audit bridge off: no worker of the old audit chain left; entries are plain again")
        self.on = on
        return on

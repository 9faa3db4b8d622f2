"""The audit stream into a SIEM (AUDIT_SIEM_URL; bot/audit/siem/): which worker streams now (a lease, as the archive
writer's), and the cursor, the last entry the receiver accepted, so that a restart or a new holder goes on from there:
nothing lost, nothing sent again beyond the batch that was on its way (at least once)."""

from __future__ import annotations

import time

from bot.store.audit import Entry
from bot.store.connection import aw
from bot.store.shared import Repository


class SiemStream(Repository):
    """The SIEM stream's lease and cursor (the module docstring)."""

    async def lease(self, worker: str, seconds: float) -> bool:
        """Take or keep the stream's lease for `seconds` (`lua/audit_lease.lua`, its own key): True when `worker`
        holds it now."""
        held = await self._s.script("audit_lease")(
            keys={"lease": self._k.audit_siem_lease}, args={"worker": worker, "ms": max(1, int(seconds * 1000))})
        return int(held) == 1

    async def holder(self) -> str | None:
        """The worker that holds the lease now (None: nobody)."""
        found = await self._s.redis.get(self._k.audit_siem_lease)
        return str(found) if found is not None else None

    async def release(self, worker: str) -> None:
        """Give the lease up, if `worker` holds it (a worker stopping): another takes it at once."""
        if await self.holder() == worker:
            await self._s.redis.delete(self._k.audit_siem_lease)

    async def cursor(self) -> tuple[int, str] | None:
        """The last entry the receiver accepted: (its seq, its stream id); None: nothing delivered yet."""
        found = await aw(self._s.redis.hgetall(self._k.audit_siem_cursor))
        seq, entry_id = str(found.get("seq", "")), str(found.get("id", ""))
        return (int(seq), entry_id) if seq.isascii() and seq.isdigit() and entry_id else None

    async def advance(self, worker: str, *, seq: int, entry_id: str) -> bool:
        """Move the cursor to the entry `seq` (`entry_id`) the receiver accepted (`lua/siem_cursor.lua`): only while
        `worker` holds the lease, only forward. True when moved."""
        return int(await self._s.script("siem_cursor")(
            keys={"lease": self._k.audit_siem_lease, "cursor": self._k.audit_siem_cursor},
            args={"worker": worker, "seq": str(seq), "id": entry_id, "at": repr(time.time())})) == 1

    async def after(self, entry_id: str, *, count: int) -> list[Entry]:
        """Up to `count` entries after stream id `entry_id` ("": from the oldest kept), oldest first."""
        lower = "(" + entry_id if entry_id else "-"
        return [(str(i), dict(values)) for i, values in
                await self._s.redis.xrange(self._k.audit, min=lower, count=count)]

    async def lag(self, *, now: float) -> tuple[int, float]:
        """How far the stream is behind: (entries numbered and not delivered, age in seconds of the oldest of them;
        0, 0.0 when none). Every worker can tell it (the metrics), whoever streams."""
        counter = await self._s.redis.get(self._k.audit_seq)
        cursor = await self.cursor()
        behind = max(0, int(counter or 0) - (cursor[0] if cursor else 0))
        if not behind:
            return 0, 0.0
        oldest = await self.after(cursor[1] if cursor else "", count=1)
        ms = oldest[0][0].partition("-")[0] if oldest else ""
        return behind, max(0.0, now - int(ms) / 1000) if ms.isascii() and ms.isdigit() else 0.0

"""The audit log's global checkpoints (issue 89, `Keys.audit_global`): each signs every chain's head (seq, hash) at
an interval, so one proof covers every tenant's chain (bot/audit/chains.py builds, signs and checks them). Written by
the checkpoint writer alone (its lease), kept for AUDIT_RETENTION."""

from __future__ import annotations

from collections.abc import Mapping

from bot.store.audit import Entry
from bot.store.shared import Repository


class GlobalCheckpoints(Repository):
    """`{p}:audit:global`: {v, at, chains (JSON {chain: [seq, head]}), prev, jws} each."""

    async def newest(self) -> Entry | None:
        """The newest global checkpoint, or None."""
        found = await self._s.redis.xrevrange(self._k.audit_global, count=1)
        return (str(found[0][0]), dict(found[0][1])) if found else None

    async def every(self) -> list[Entry]:
        """Every global checkpoint kept, oldest first."""
        found: list[Entry] = []
        lower = "-"
        while batch := await self._s.redis.xrange(self._k.audit_global, min=lower, count=1000):
            found += [(str(entry_id), dict(values)) for entry_id, values in batch]
            lower = "(" + str(batch[-1][0])
        return found

    async def add(self, fields: Mapping[str, str], *, after: str, keep_from_ms: int) -> bool:
        """Keep a signed global checkpoint (`fields`, in order) unless the newest is no longer `after` (its stream
        id, "" for none): False. Those older than `keep_from_ms` go in the same step (never the new one)
        (`lua/audit_global.lua`)."""
        written = await self._s.script("audit_global")(
            keys={"global": self._k.audit_global},
            args={"after": after, "keep_from": str(max(0, keep_from_ms)),
                  "fields": [part for pair in fields.items() for part in pair]})
        return (written.decode() if isinstance(written, bytes) else str(written)) != "stale"

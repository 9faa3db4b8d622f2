"""The audit checkpoint writer's lease (bot/audit/checkpoints.py; `lua/audit_writer_lease.lua`): one worker at a time
signs checkpoints and trims the log. Its holder and last renewal are kept beside it, so that a worker taking it over
from a holder that never gave it up (its lease expired: the process stopped, hung or was killed) keeps that holder as
lost; the watcher (bot/audit/watch.py) says each lost writer as `stalled`, even though the log is signed again by
then. A worker stopping gives the lease up (`release`): its successor takes it as released, not lost."""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass

from bot.store.connection import aw
from bot.store.shared import Repository


@dataclass(frozen=True, slots=True)
class LostWriter:
    """A checkpoint writer lost: `worker`, its lease's last renewal (`last`), who took it over and when (`at`), and
    its record's id in `Keys.audit_writers_lost`."""

    ident: str
    worker: str
    last: float
    taken_by: str
    at: float


class WriterLease(Repository):
    """The checkpoint writer's lease (the module docstring)."""

    async def take(self, worker: str, seconds: float) -> bool:
        """Take or keep the lease for `seconds`: True when `worker` holds it now."""
        return await self._step("take", worker, seconds) == 1

    async def release(self, worker: str) -> None:
        """Give the lease up, if `worker` holds it (a worker stopping)."""
        await self._step("release", worker, 0)

    async def lost(self) -> list[LostWriter]:
        """The writers lost and not yet said, oldest first."""
        found = []
        for ident, raw in (await aw(self._s.redis.hgetall(self._k.audit_writers_lost))).items():
            try:
                kept = json.loads(raw)
                found.append(LostWriter(str(ident), str(kept["worker"]), float(kept["last"]), str(kept["taken_by"]),
                                        float(kept["at"])))
            except (ValueError, KeyError, TypeError, RecursionError):
                found.append(LostWriter(str(ident), "(unreadable)", 0.0, "", 0.0))
        return sorted(found, key=lambda lost: lost.at)

    async def said(self, idents: Iterable[str]) -> None:
        """Forget the lost writers `idents` (said)."""
        if names := list(idents):
            await aw(self._s.redis.hdel(self._k.audit_writers_lost, *names))

    async def _step(self, op: str, worker: str, seconds: float) -> int:
        return int(await self._s.script("audit_writer_lease")(
            keys={"lease": self._k.audit_lease, "seen": self._k.audit_lease_seen, "lost": self._k.audit_writers_lost},
            args={"op": op, "worker": worker, "ms": max(1, int(seconds * 1000)), "now": repr(time.time())}))

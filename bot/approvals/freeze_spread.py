"""The freeze spread again on Redis Cluster (issue 89): each worker's loop that copies a change of the frozen scopes
(a freeze, an unfreeze, a drill's end) into every workspace's copy once it sees one not spread, a spread that failed
half-way (a workspace's node unreachable) or whose process died (bot/store/freeze_copies.py, `respread`: one MGET
on the root's slot a round while nothing is owed, nothing at all on one node).

Until then a workspace not copied into fails closed (its decide step refuses an Approve: lua/lib/decide.lua), so
this loop is what ends that wait without a worker's restart: within `FREEZE_SPREAD_SECONDS`."""

from __future__ import annotations

import logging

from bot.approvals.due_loops import DueSweeper
from bot.store import Store

log = logging.getLogger(__name__)

FREEZE_SPREAD_SECONDS = 5.0  # how often each worker looks for a change of the freeze not spread


class FreezeSpreader(DueSweeper):
    """Every `every` seconds: the freeze copied again into every workspace when a change is owed (the module)."""

    name = "freeze-spread"

    def __init__(self, store: Store, *, every: float = FREEZE_SPREAD_SECONDS) -> None:
        super().__init__(max_sleep=every)
        self._store = store

    async def sweep(self) -> int:
        copied = await self._store.freezes.copies.respread()
        if copied:
            log.warning("the freeze was copied again into %d workspace(s): a change had missed them", copied)
        return copied

    async def next_due(self) -> float | None:
        return None  # (the next look in `every` seconds)

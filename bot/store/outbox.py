"""The outbox: approvals whose card is due a redraw (a decision, a vote, a Slack call that failed),
by when. It is kept until the card is redrawn, so a worker dying meanwhile loses nothing."""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.records import ApprovalRecord
from bot.store.due import DueWork
from bot.store.shared import Shared


class Outbox:
    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self._k = shared.keys
        self._due = DueWork(shared)  # the worker-wide index of due work (bot/store/due.py)

    async def add(self, approval_id: str, *, due: float) -> None:
        """Remember a card that Slack would not update, to try again at `due`."""
        await self._s.redis.zadd(self._k.outbox, {approval_id: due})
        await self._due.note()

    async def done(self, drawn: Iterable[ApprovalRecord]) -> None:
        """These cards were redrawn as these records have them: take them out of the outbox (one call for
        many), except those whose approval changed since (a newer state is still to be drawn)."""
        records = list(drawn)
        if records:
            await self._s.script("outbox_done")(
                keys={"outbox": self._k.outbox, "approvals": [self._k.approval(r.id) for r in records]},
                args={"drawn": [{"id": r.id, "status": r.status, "votes": r.votes} for r in records]},
            )

    async def forget(self, approval_ids: Iterable[str]) -> None:
        """Entries with no card to draw (the approval expired, or its card was never posted)."""
        ids = list(approval_ids)
        if ids:
            await self._s.redis.zrem(self._k.outbox, *ids)

    async def defer(self, approval_ids: Iterable[str], *, due: float) -> None:
        """Cards this worker is about to redraw: nobody else redraws them before `due` (only entries
        still in the outbox are moved)."""
        entries = dict.fromkeys(approval_ids, due)
        if entries:
            await self._s.redis.zadd(self._k.outbox, entries, xx=True)

    async def claim(self, now: float, *, lease: float, limit: int = 50) -> list[str]:
        """Due entries, each claimed by one worker for `lease` seconds: it stays in the outbox (due
        again after the lease) until its card is redrawn."""
        claimed = await self._s.script("outbox_claim")(
            keys={"outbox": self._k.outbox},
            args={"now": repr(now), "lease_end": repr(now + lease), "limit": str(limit)},
        )
        return [str(x) for x in claimed]

"""A surface's due set (issue 88): the approvals whose view on one surface (Slack's card, Teams' copies, the
e-mails) is due a drawing, by when. An entry is kept until that surface shows the approval as Redis has it, so a
worker dying meanwhile, or the surface refusing for now, loses nothing; any worker's loop of that surface drains it.

    slack   {p}:outbox      the Slack card's redraws (the decide step writes it too: lua/lib/decide.lua)
    teams   {p}:teams:due   Teams' copies (bot/msteams/delivery.py)
    email   {p}:email:due   the e-mails (the e-mail surface)
    push    {p}:push:due    the pushes (the push surface, issue 90)
    tickets {p}:tickets:due the change tickets (bot/tickets/, issue 91: opened, then closed with the decision; not a
                            surface where people decide, but drawn the same way: each approval's ticket due work)

Each surface's set is indexed apart in the worker-wide due index (bot/store/due.py: kinds `slack`, `teams`,
`email`, `push`, `tickets`), so each surface's loop drains its own set alone: a surface down or slow never holds
another's.

The API (`SurfaceDue(shared, surface="email")`; `Store.outbox`, `Store.teams_due`, `Store.email_due` are the three):

    await due.add(approval_id, due=when)          due a drawing at `when` (the due index told)
    ids = await due.claim(now, lease=30.0)        the entries due by `now`, each leased to this worker for `lease`
                                                  seconds (due again after it): draw them, then `done` or `add`
    found = await due.take(store.approvals, lease=30.0)   the same, now, as records: those whose approval is gone
                                                  forgotten (nothing to draw)
    await due.done([record, ...])                 drawn as these records have them: out of the set, except those
                                                  whose approval's status or votes changed since (still due)
    await due.forget([approval_id, ...])          nothing to draw (the approval expired)
    await due.again(approval_id, [t, ...])        due again at the first of these retry times, else forgotten
    await due.defer([approval_id, ...], due=t)    entries this worker draws now: nobody else before `t` (only
                                                  entries still in the set move)
    await due.count()                             how many wait (claimed ones too), for a gauge
    await due.at(approval_id)                     when it is due (None: not due)
    await due.shown(approval_id)                  the approval was first shown to people on this surface: its
                                                  `delivered_at`, set once, whichever surface was first
                                                  (lua/note_shown.lua); True when this was its first show

`shown` is what makes a timeout with `timeout_outcome approve` approve: an approval no surface ever showed is
rejected at its deadline (lua/lib/decide.lua), whichever surfaces showed it."""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Protocol

from bot.core.records import ApprovalRecord
from bot.store.connection import aw
from bot.store.due import DueWork
from bot.store.shared import Shared

SURFACES = ("slack", "teams", "email", "push", "tickets")


class Records(Protocol):
    """Where the approvals' records are read (`Store.approvals`)."""

    async def get_many(self, approval_ids: Iterable[str]) -> list[ApprovalRecord]: ...


class SurfaceDue:
    def __init__(self, shared: Shared, *, surface: str) -> None:
        if surface not in SURFACES:
            raise ValueError(f"{surface[:30]!r} is not a surface ({', '.join(SURFACES)})")
        self.surface = surface
        self._s = shared
        self.key = shared.keys.draw_due(surface)
        self._due = DueWork(shared)  # the worker-wide index of due work (bot/store/due.py)

    async def add(self, approval_id: str, *, due: float) -> None:
        """`approval_id`'s view on this surface due a drawing at `due` (any worker's loop of the surface then)."""
        await aw(self._s.redis.zadd(self.key, {approval_id: due}))
        await self._due.note()

    async def claim(self, now: float, *, lease: float, limit: int = 50) -> list[str]:
        """Due entries, each claimed by one worker for `lease` seconds: it stays in the set (due again after the
        lease) until it is drawn (lua/outbox_claim.lua)."""
        claimed = await self._s.script("outbox_claim")(
            keys={"outbox": self.key},
            args={"now": repr(now), "lease_end": repr(now + lease), "limit": str(limit)},
        )
        return [_text(x) for x in claimed]

    async def take(self, approvals: Records, *, lease: float) -> list[ApprovalRecord]:
        """The entries due now, each claimed for `lease` seconds (`claim`), as their records: those whose approval
        is gone (expired) forgotten, nothing to draw."""
        claimed = await self.claim(time.time(), lease=lease)
        if not claimed:
            return []
        found = await approvals.get_many(claimed)
        await self.forget(set(claimed) - {a.id for a in found})
        return found

    async def done(self, drawn: Iterable[ApprovalRecord]) -> None:
        """These approvals were drawn as these records have them: out of the set (one call for many), except those
        whose approval changed since (a newer state is still to be drawn: lua/outbox_done.lua)."""
        records = list(drawn)
        if records:
            await self._s.script("outbox_done")(
                keys={"outbox": self.key, "approvals": [self._s.keys.approval(r.id) for r in records]},
                args={"drawn": [{"id": r.id, "status": r.status, "votes": r.votes} for r in records]},
            )

    async def forget(self, approval_ids: Iterable[str]) -> None:
        """Entries with nothing to draw (the approval expired, or its view was never posted)."""
        ids = list(approval_ids)
        if ids:
            await aw(self._s.redis.zrem(self.key, *ids))

    async def again(self, approval_id: str, retries: Iterable[float]) -> None:
        """Due again at the first of `retries` (the times a send left to try again), else out of the set."""
        first = min(retries, default=None)
        if first is None:
            await self.forget([approval_id])
        else:
            await self.add(approval_id, due=first)

    async def defer(self, approval_ids: Iterable[str], *, due: float) -> None:
        """Entries this worker is about to draw: nobody else draws them before `due` (only entries still in the set
        are moved)."""
        entries = dict.fromkeys(approval_ids, due)
        if entries:
            await aw(self._s.redis.zadd(self.key, entries, xx=True))

    async def count(self) -> int:
        """How many approvals wait in the set (claimed ones too)."""
        return int(await aw(self._s.redis.zcard(self.key)))

    async def at(self, approval_id: str) -> float | None:
        """When `approval_id` is due a drawing (None: not due)."""
        score = await aw(self._s.redis.zscore(self.key, approval_id))
        return None if score is None else float(score)

    async def shown(self, approval_id: str, *, now: float | None = None) -> bool:
        """`approval_id` (pending) was shown to people on this surface: its `delivered_at` noted unless a surface
        noted it before (lua/note_shown.lua); whether this was its first show."""
        first = await self._s.script("note_shown")(
            keys={"approval": self._s.keys.approval(approval_id)},
            args={"now": repr(time.time() if now is None else now)},
        )
        return int(first) == 1


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value

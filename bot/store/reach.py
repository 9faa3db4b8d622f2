"""An approval's route across surfaces in Redis (issue 90, bot/approvals/reach.py): when its next step is due
(`Keys.reach_due`), each step taken once, and what it did.

    opened (the reacher's listener)  -> `schedule`: its first step's time in `reach:due`
    due (any worker's reacher)       -> claimed for a lease (lua/claim_due.lua, as timeouts and reminders are)
                                     -> the surface called (an `oncall:` step's people let in first: `let_in`,
                                        lua/reach_let_in.lua); then `said` (lua/reach_said.lua): still pending? not
                                        noted before? noted taken, the next step scheduled (or none), what it did
                                        kept on the approval (`reached`), its card due a redraw, audited `reached`;
                                        decided: off the set, nothing kept

A step is taken at least once (noted after its surface is called: a worker killed between the call and the note leaves
the step due again at its claim's lease's end, for any worker) and said once (the note checks it was not noted before);
the surfaces' own claims, once per (approval, person, kind), keep a step taken again from sending twice."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from typing import Any

from bot.store.audit import entry_fields
from bot.store.due import DueWork
from bot.store.shared import Repository

REACH_LEASE_SECONDS = 30.0  # a reacher that claimed approvals and died: they are due again this much later


class Reaches(Repository):
    async def schedule(self, approval_id: str, *, at: float) -> None:
        """`approval_id`'s next step due at `at` (unless due sooner), its tenant's due index lowered."""
        await self._s.redis.zadd(self._k.reach_due, {approval_id: at}, lt=True)
        await DueWork(self._s).note()

    async def claim_due(self, now: float, *, limit: int = 100, lease: float = REACH_LEASE_SECONDS) -> list[str]:
        """Take up to `limit` approvals with a step due by `now`, for `lease` seconds from the claim."""
        claimed = await self._s.script("claim_due")(
            keys={"deadlines": self._k.reach_due},
            args={"now": repr(now), "lease_end": repr(max(now, time.time()) + lease), "limit": str(limit)},
        )
        return [str(i) for i in claimed]

    async def said(self, approval_id: str, *, step: int, next_at: float | None, item: Mapping[str, Any],
                   entry: Mapping[str, str | float]) -> str:
        """Step `step` (1: the first) of `approval_id`'s route reached (its surface called): noted taken, the next
        step due at `next_at` (None: none left), what it did (`item`) kept on the approval's `reached`, audited
        `reached` with `entry`, in one step: "ok"; "already" (noted before: nothing kept), "decided" or "missing"
        (off the due set; lua/reach_said.lua)."""
        k = self._k
        found = await self._s.script("reach_said")(
            keys={"approval": k.approval(approval_id), "due": k.reach_due, "outbox": k.outbox, "changes": k.changes,
                  "audit": k.audit, "audit_seq": k.audit_seq, "audit_shards": k.audit_shards},
            args={"id": approval_id, "step": str(step), "next_at": "" if next_at is None else repr(next_at),
                  "item": json.dumps(dict(item)), "entry": entry_fields("reached", entry), "now": repr(time.time())})
        said = found.decode() if isinstance(found, bytes) else str(found)
        if said == "ok":  # its card due a redraw now (the outbox), and its next step: the tenant's index lowered
            await DueWork(self._s).note()
        return said

    async def let_in(self, approval_id: str, people: Sequence[str]) -> str | None:
        """The people an `oncall:` step reached may decide `approval_id`: they join its approvers (and their Home
        indexes) while it waits; its approvers now, or None when it no longer waits (lua/reach_let_in.lua)."""
        found = await self._s.script("reach_let_in")(
            keys={"approval": self._k.approval(approval_id), "changes": self._k.changes},
            args={"id": approval_id, "people": ",".join(people)})
        text = found.decode() if isinstance(found, bytes) else str(found)
        return None if text == "-" else text

    async def forget(self, approval_id: str) -> None:
        await self._s.redis.zrem(self._k.reach_due, approval_id)

    async def next_due(self) -> float | None:
        first = await self._s.redis.zrange(self._k.reach_due, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

    async def at(self, approval_id: str) -> float | None:
        """When `approval_id`'s next step is due (None: none is)."""
        found = await self._s.redis.zscore(self._k.reach_due, approval_id)
        return None if found is None else float(found)

"""A triage model's approvals held for TRIAGE_HOLD seconds before they are final (bot/approvals/triage.py, #92), on
the approval's own hash: `triage_hold` (when it is final) and `triage_reversed` (the channel admin who reversed it;
the decide step, lua/lib/decide.lua, then refuses the model's decision). No key of its own.

    hold(approval_id, note=, until=)       lua/triage_hold.lua: the note and the hold's end, its card due a redraw
    reverse(approval_id, by=, note=, ...)  lua/triage_reverse.lua: reversed, noted, its card due, audited, one step
"""

from __future__ import annotations

import time

from bot.store.due import DueWork
from bot.store.shared import Shared


class TriageHolds:
    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self._k = shared.keys
        self._due = DueWork(shared)

    async def hold(self, approval_id: str, *, note: str, until: float) -> str:
        """The model's approval of a pending approval held until `until`: "ok", or "missing", "decided" or "reversed"
        (nothing written)."""
        done = str(await self._s.script("triage_hold")(
            keys={"approval": self._k.approval(approval_id), "outbox": self._k.outbox},
            args={"id": approval_id, "note": note, "final_at": repr(until), "now": repr(time.time())}))
        if done == "ok":
            await self._due.note()  # its redraw due
        return done

    async def reverse(self, approval_id: str, *, by: str, note: str, audit: dict[str, str]) -> str:
        """`by` (a channel admin, checked by the caller) reverses the model's held approval, audited `triage_reversed`
        with `audit`'s fields: "ok", or "missing", "decided", "not_held" or "reversed" (nothing written)."""
        now = time.time()
        done = str(await self._s.script("triage_reverse")(
            keys={"approval": self._k.approval(approval_id), "outbox": self._k.outbox, "audit": self._k.audit,
                  "audit_seq": self._k.audit_seq, "audit_shards": self._k.audit_shards},
            args={"id": approval_id, "by": by, "note": note, "now": repr(now),
                  "audit": {"event": "triage_reversed", "at": repr(now), "approval": approval_id, "by": by,
                            **audit}}))
        if done == "ok":
            await self._due.note()
        return done

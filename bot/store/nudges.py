"""Reminders and escalations in Redis: when each pending approval is next due a nudge (`Keys.nudges`).

The same machinery as timeouts (`approvals.time_out_due`): any worker claims the due ones for a short
lease (`lua/claim_due.lua`), so two never take the same one and one that dies leaves them due again;
`open()` escalates those due an escalation (atomically, once) and returns the pending ones; before a step is posted
in Slack, `publishing()` says whether to publish it to the other surfaces (once: the approval's `published` field;
published, the approval is due in each of `published_to`'s due sets in the same Lua step, so a surface's own due
work tells a step whose worker died before that surface's send: `published()` says how many steps were);
once their reminders are posted, `told()` notes them (audited) and schedules the next (`bot/approvals/nudges.py`).
"""

from __future__ import annotations

import time
from collections.abc import Sequence

from bot.core.records import ApprovalRecord
from bot.store.codec import approval_from, pairs
from bot.store.connection import aw
from bot.store.due import DueWork
from bot.store.shared import Shared
from bot.store.surface_due import SurfaceDue

URGENT_AT_RISK = 1e11  # in `sla:urgent`, an at-risk approval's rank after every breached one (then by request time)
NUDGE_LEASE_SECONDS = 10.0  # a nudger that claimed approvals and died: they are due again this much later


class Nudges:
    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self._k = shared.keys
        # the due sets of the surfaces that tell a published step (the root adds each such surface's, e.g. the
        # e-mails'; the core names none): written in the publishing step itself, so no step is lost to a crash
        self.published_to: list[SurfaceDue] = []

    async def claim_due(self, now: float, *, limit: int = 200, lease: float = NUDGE_LEASE_SECONDS) -> list[str]:
        """Take up to `limit` approvals due a reminder or escalation by `now`, for `lease` seconds from
        the moment of the claim (not from `now`: a sweep that started long ago must not claim with a
        lease that has already ended, or another worker would post the same reminders again)."""
        claimed = await self._s.script("claim_due")(
            keys={"deadlines": self._k.nudges},
            args={"now": repr(now), "lease_end": repr(max(now, time.time()) + lease), "limit": str(limit)},
        )
        return [str(i) for i in claimed]

    async def open(self, ids: Sequence[str], *, now: float) -> list[ApprovalRecord]:
        """The claimed approvals still pending (each one due an escalation escalated first, once)."""
        if not ids:
            return []
        k = self._k
        found = await self._s.script("nudge")(
            keys={
                "nudges": k.nudges,
                "outbox": k.outbox,
                "audit": k.audit, "audit_seq": k.audit_seq, "audit_shards": k.audit_shards,
                "changes": k.changes,
                "approvals": [key for i in ids for key in (k.approval(i), k.texts(i))],
            },
            args={"ids": list(ids), "now": repr(now)},
        )
        if found:  # an escalation's card is due a redraw (the outbox): its tenant's index lowered now
            await DueWork(self._s).note()
        return [approval_from(pairs(flat)) for flat in found]

    async def escalating_to(self, approval_id: str, escalate_to: Sequence[str], *, unread: Sequence[str],
                            fallback: Sequence[str]) -> bool:
        """Before its escalation: who it lets in (`escalate_to`: the on-call people read now, issue 90), the schedules
        that could not be read and who got it instead; False when it is no longer pending or was escalated already
        (lua/oncall_escalating.lua)."""
        done = await self._s.script("oncall_escalating")(
            keys={"approval": self._k.approval(approval_id)},
            args={"escalate_to": ",".join(escalate_to), "unread": ",".join(unread), "fallback": ",".join(fallback)})
        return bool(int(done))

    async def told(
        self, approval: ApprovalRecord, *, told: int, next_at: float | None, entries: Sequence[dict[str, str]],
        sla_state: str = "",
    ) -> str:
        """The first `told` steps of `approval` are posted: note it with their audit `entries` and
        schedule the next step; `sla_state` (at_risk, breached): its service level's change told, kept on the record
        and its card due a redraw. Returns "ok", or "decided" / "missing" (nothing noted)."""
        k = self._k
        said = str(
            await self._s.script("nudged")(
                keys={"approval": k.approval(approval.id), "nudges": k.nudges, "audit": k.audit,
                      "audit_seq": k.audit_seq, "audit_shards": k.audit_shards, "outbox": k.outbox,
                      "changes": k.changes, "urgent": k.sla_urgent},
                args={
                    "id": approval.id,
                    "told": str(told),
                    "next_at": "" if next_at is None else repr(next_at),
                    "entries": list(entries),
                    "sla_state": sla_state,
                    "urgency": repr((0 if sla_state == "breached" else URGENT_AT_RISK) + approval.created_at),
                    "now": repr(time.time()),
                },
            )
        )
        if said == "ok" and sla_state:  # its card is due a redraw (the outbox): its tenant's index lowered now
            await DueWork(self._s).note()
        return said

    async def publishing(self, approval_id: str, *, ordinal: int, now: float | None = None) -> str:
        """The approval's step `ordinal` (1 for its first step since it opened) is about to be told in Slack: whether
        this nudger publishes it to the other surfaces now ("ok", noted in Redis so that no retry publishes it
        again), or not: "already" (published before), "decided" / "missing" (lua/nudge_publish.lua). Published, the
        approval is due now in each of `published_to`'s due sets in the same step (the due index told after: a worker
        dying between leaves it to the next start's `repair`)."""
        found = await self._s.script("nudge_publish")(
            keys={"approval": self._k.approval(approval_id), "due": [due.key for due in self.published_to]},
            args={"id": approval_id, "ordinal": str(ordinal), "now": repr(time.time() if now is None else now)})
        answer = found.decode() if isinstance(found, bytes) else str(found)
        if answer == "ok" and self.published_to:
            await DueWork(self._s).note()
        return answer

    async def published(self, approval_id: str) -> int:
        """How many of the approval's steps (`ApprovalRecord.steps`, in order) were published (its `published` field:
        the ordinal of the last; 0: none)."""
        found = await aw(self._s.redis.hget(self._k.approval(approval_id), "published"))
        try:
            return int(found or 0)
        except ValueError:
            return 0

    async def next_due(self) -> float | None:
        first = await self._s.redis.zrange(self._k.nudges, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

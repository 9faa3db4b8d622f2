"""Fatigue (issue 80): no approver is flooded. The cards each named approver got this hour are counted per workspace
(bot/store/fatigue.py); above the channel's `max_asks_per_hour`, a new approval goes to the other named approvers
who are under it (as many as its quorum needs), its card saying so ("sent to @bob: @ana has had 30 cards this hour")
and audited (`rerouted`, one entry per person passed over). When too few are under it, it is held for the next
hour's budget: its card in the approvals channel says so (anyone there who may decide still can), nobody over budget
gets a copy by direct message now, each person is audited (`rerouted`, reason "held for the next hour"), and at the
next hour (HH:00 UTC) each of them gets one direct message listing every approval held for them still pending
(Slack's `HeldBatches`, bot/slack/held_batches.py, a step of the nudger: taken for a lease, once across workers; a
worker killed after posting a batch and before letting it go leaves it to the next, which finds it in the DM by its
metadata and does not post it again), counted in that hour's budget. It only
ever narrows who decides: nobody is added, and an approval open to anyone (no named approvers) or to user groups alone
is never rerouted."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from bot.core.fatigue import REASONS, REROUTED, WAITING, held_for, held_until, passed_over, routed
from bot.core.records import ApprovalRecord, ChannelSettings
from bot.store import Store, StoreUnavailable, persistently

log = logging.getLogger(__name__)


def held(approval: ApprovalRecord) -> bool:
    """Whether `approval` is held for the next hour's budget (every approver over it)."""
    return passed_over(approval.fatigue)[0] == WAITING


class FatigueRouting:
    """Reads the counts before a person is asked (`route`), holds what waits for the next hour (`hold`), counts and
    audits once the card is out (`delivered`). `rerouted`: a person passed over (the metric
    `hitl_fatigue_rerouted`)."""

    def __init__(self, store: Store, *, rerouted: Callable[[], None] | None = None) -> None:
        self._store = store
        self._rerouted = rerouted

    async def route(self, approval: ApprovalRecord, settings: ChannelSettings) -> ApprovalRecord:
        """`approval` routed around the approvers over the channel's `max_asks_per_hour` (unchanged when off)."""
        limit = settings.max_asks_per_hour
        people = [a for a in approval.approvers if not a.startswith("S")]
        if limit <= 0 or not people:
            return approval
        return routed(approval, await self._store.fatigue.counts(people), limit)

    async def hold(self, approval: ApprovalRecord) -> None:
        """An approval held for the next hour, just stored: each of its people noted for that hour's batch (tried
        again while Redis is away)."""
        people = held_for(approval)
        if people:
            await persistently(partial(self._store.fatigue.hold, approval.id, people, until=held_until(approval)),
                               what=f"holding approval {approval.id} for the next hour")

    async def delivered(self, approval: ApprovalRecord) -> None:
        """Its card is out: one more card for each named approver it went to (not those over budget: when it is held
        they get it at the next hour; Redis failing now: said and let be, the approval is asked), and each person
        passed over audited (tried again while Redis is away)."""
        how, over = passed_over(approval.fatigue)
        people = [a for a in approval.approvers if not a.startswith("S") and a not in over]
        try:
            await self._store.fatigue.delivered(people)
        except StoreUnavailable as exc:
            log.warning("approval %s: its cards were not counted (%s)", approval.id, exc.cause)
        to = ",".join(a for a in approval.approvers if a not in over) if how == REROUTED else ""
        for person, count in over.items():
            entry = {"approval": approval.id, "run": approval.run_id, "channel": approval.origin_channel,
                     "from_person": person, "to_person": to, "reason": REASONS[how], "cards": str(count)}
            if how == WAITING:
                entry["until"] = repr(held_until(approval))
            await persistently(partial(self._store.audit.append, "rerouted", **entry), what="auditing a reroute")
            if self._rerouted is not None and how == REROUTED:
                self._rerouted()

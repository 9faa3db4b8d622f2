"""Fatigue (issue 80): no approver is flooded. The cards each named approver got this hour are counted per workspace
(bot/store/fatigue.py); above the channel's `max_asks_per_hour`, a new approval goes to the other named approvers
who are under it (as many as its quorum needs), its card saying so ("sent to @bob: @ana has had 30 cards this hour")
and audited (`rerouted`, one entry per person passed over); when too few are under it, it goes to them all and its
card says they are over budget (audited `rerouted`, reason "waiting for the next hour": it is not held back). It
only ever narrows who decides: nobody is added, and an approval open to anyone (no named approvers) or to user groups
alone is never rerouted."""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from bot.core.fatigue import REASONS, REROUTED, passed_over, routed
from bot.core.records import ApprovalRecord, ChannelSettings
from bot.store import Store, StoreUnavailable, persistently

log = logging.getLogger(__name__)


class FatigueRouting:
    """Reads the counts before a person is asked (`route`), counts and audits once the card is out (`delivered`).
    `rerouted`: a person passed over (the metric `hitl_fatigue_rerouted`)."""

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

    async def delivered(self, approval: ApprovalRecord) -> None:
        """Its card is out: one more card for each named approver it went to (Redis failing now: said and let be, the
        approval is asked), and each person passed over audited (tried again while Redis is away)."""
        people = [a for a in approval.approvers if not a.startswith("S")]
        try:
            await self._store.fatigue.delivered(people)
        except StoreUnavailable as exc:
            log.warning("approval %s: its cards were not counted (%s)", approval.id, exc.cause)
        how, over = passed_over(approval.fatigue)
        to = ",".join(a for a in approval.approvers if a not in over) if how == REROUTED else ""
        for person, count in over.items():
            entry = {"approval": approval.id, "run": approval.run_id, "channel": approval.origin_channel,
                     "from_person": person, "to_person": to, "reason": REASONS[how], "cards": str(count)}
            await persistently(partial(self._store.audit.append, "rerouted", **entry), what="auditing a reroute")
            if self._rerouted is not None and how == REROUTED:
                self._rerouted()

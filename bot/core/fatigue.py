"""Fatigue (issue 80), pure: which of an approval's named approvers are passed over, being over their channel's
`max_asks_per_hour` cards this hour, and how the approval keeps it (`fatigue`: "rerouted:U1=30", "waiting:U1=30,U2=31":
every approver over it, the approval held for them until the next hour, `held_until`). The counting, the audit and the
next hour's batches are bot/approvals/fatigue.py's."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from bot.core.records import ApprovalRecord

REROUTED, WAITING = "rerouted", "waiting"
REASONS = {REROUTED: "max_asks_per_hour", WAITING: "held for the next hour"}
HOUR = 3600


def passed_over(fatigue: str) -> tuple[str, dict[str, int]]:
    """An approval's `fatigue` read: ("rerouted" | "waiting" | "", {person over budget: their cards this hour})."""
    how, _, people = fatigue.partition(":")
    counts: dict[str, int] = {}
    for pair in people.split(","):
        person, _, count = pair.partition("=")
        if person and count.isascii() and count.isdigit():
            counts[person] = int(count)
    return (how, counts) if how in (REROUTED, WAITING) and counts else ("", {})


def held_until(approval: ApprovalRecord) -> float:
    """When an approval held for the next hour's budget is sent to its approvers: the hour after it was opened
    (HH:00 UTC, epoch seconds)."""
    return (int(approval.created_at // HOUR) + 1) * HOUR


def held_for(approval: ApprovalRecord) -> tuple[str, ...]:
    """The people an approval held for the next hour (`WAITING`) is sent to then: the named approvers over budget
    (never its requester, unless it may approve its own)."""
    how, over = passed_over(approval.fatigue)
    if how != WAITING:
        return ()
    return tuple(p for p in over if p != approval.requester or approval.allow_self_approval)


def routed(approval: ApprovalRecord, counts: Mapping[str, int], limit: int) -> ApprovalRecord:
    """`approval` with its named approvers over `limit` cards this hour (`counts`) passed over, when enough others
    remain for its quorum; else unchanged but for its note that they are all over it: held for the next hour (pure)."""
    people = [a for a in approval.approvers if not a.startswith("S")]
    over = {p: counts.get(p, 0) for p in people if limit > 0 and counts.get(p, 0) >= limit}
    if not over:
        return approval
    note = ",".join(f"{person}={count}" for person, count in over.items())
    rest = tuple(a for a in approval.approvers if a not in over)
    deciders = [a for a in rest if a.startswith("S") or a != approval.requester or approval.allow_self_approval]
    if any(a.startswith("S") for a in rest) or len(deciders) >= max(1, approval.required_approvals):
        return replace(approval, approvers=rest, fatigue=f"{REROUTED}:{note}")
    return replace(approval, fatigue=f"{WAITING}:{note}")

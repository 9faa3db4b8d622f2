"""What came of the nudges in a report's period, pure: the approvals reminded (and whether a person decided soon
after the last reminder) and those escalated (and whether whom it went to decided)."""

from __future__ import annotations

from dataclasses import dataclass

from bot.report.entries import Pass, entry_time

REMINDER_WINDOW_SECONDS = 15 * 60


@dataclass(frozen=True, slots=True)
class Reminders:
    """Approvals with at least one `reminded` entry, and what came after their last reminder before
    the decision."""

    reminded: int
    reminders: int
    decided_soon: int  # a person decided within `window_s` after a reminder
    decided_later: int  # a person decided, later than that
    timed_out: int
    cancelled: int
    undecided: int  # no decision in the period
    window_s: int = REMINDER_WINDOW_SECONDS


@dataclass(frozen=True, slots=True)
class Escalations:
    """Approvals with an `escalated` entry, and who decided them."""

    escalated: int
    by_escalation: int  # decided by someone named in `to` (or for them)
    by_others: int  # decided by another person
    timed_out: int
    cancelled: int
    undecided: int


def reminders_of(scan: Pass) -> Reminders | None:
    if not scan.reminded:
        return None
    soon = later = timed_out = cancelled = undecided = 0
    for approval, times in scan.reminded.items():
        decision = scan.decided.get(approval)
        outcome = decision.get("outcome") if decision is not None else None
        decided_at = entry_time(decision) if decision is not None else None
        if decision is None or decided_at is None:
            undecided += 1
        elif outcome == "timed_out":
            timed_out += 1
        elif outcome == "cancelled":
            cancelled += 1
        else:
            before = [t for t in times if t <= decided_at]
            if before and decided_at - max(before) <= REMINDER_WINDOW_SECONDS:
                soon += 1
            else:
                later += 1
    count = sum(len(t) for t in scan.reminded.values())
    return Reminders(len(scan.reminded), count, soon, later, timed_out, cancelled, undecided)


def escalations_of(scan: Pass) -> Escalations | None:
    if not scan.escalated:
        return None
    by_escalation = by_others = timed_out = cancelled = undecided = 0
    for approval, to in scan.escalated.items():
        decision = scan.decided.get(approval)
        outcome = decision.get("outcome") if decision is not None else None
        if decision is None:
            undecided += 1
        elif outcome == "timed_out":
            timed_out += 1
        elif outcome == "cancelled":
            cancelled += 1
        elif {decision.get("by") or "", decision.get("for") or ""} & to:
            by_escalation += 1
        else:
            by_others += 1
    return Escalations(len(scan.escalated), by_escalation, by_others, timed_out, cancelled, undecided)

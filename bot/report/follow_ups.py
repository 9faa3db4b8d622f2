"""What came of the nudges in a report's period, pure: the approvals reminded (and whether a person decided soon
after the last reminder) and those escalated (and whether whom it went to decided)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TypeVar

from bot.report.entries import Entry, Pass, entry_time

T = TypeVar("T")

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
    timed = {approval: d for approval, d in scan.decided.items() if entry_time(d) is not None}  # (else: undecided)
    fates = _fates(scan.reminded, timed, _soon_or_later)
    count = sum(len(t) for t in scan.reminded.values())
    return Reminders(len(scan.reminded), count, fates["soon"], fates["later"], fates["timed_out"], fates["cancelled"],
                     fates["undecided"])


def _soon_or_later(times: list[float], decision: Entry) -> str:
    """A person's decision: "soon" within REMINDER_WINDOW_SECONDS of the last reminder before it, else "later"."""
    decided_at = entry_time(decision) or 0.0
    before = [t for t in times if t <= decided_at]
    return "soon" if before and decided_at - max(before) <= REMINDER_WINDOW_SECONDS else "later"


def escalations_of(scan: Pass) -> Escalations | None:
    if not scan.escalated:
        return None
    fates = _fates(scan.escalated, scan.decided, _by_whom)
    return Escalations(len(scan.escalated), fates["by_escalation"], fates["by_others"], fates["timed_out"],
                       fates["cancelled"], fates["undecided"])


def _by_whom(to: set[str], decision: Entry) -> str:
    """A person's decision: "by_escalation" when someone it was escalated `to` made it (or it was made for them)."""
    return "by_escalation" if {decision.get("by") or "", decision.get("for") or ""} & to else "by_others"


def _fates(
    nudged: Mapping[str, T], decided: Mapping[str, Entry], by_person: Callable[[T, Entry], str]
) -> Counter[str]:
    """What came of each approval nudged: "undecided" (no decision in `decided`), "timed_out", "cancelled", or what
    `by_person` says of a person's decision (given what the nudges were)."""
    fates: Counter[str] = Counter()
    for approval, what in nudged.items():
        decision = decided.get(approval)
        outcome = decision.get("outcome") if decision is not None else None
        if decision is None:
            fates["undecided"] += 1
        elif outcome in ("timed_out", "cancelled"):
            fates[str(outcome)] += 1
        else:
            fates[by_person(what, decision)] += 1
    return fates

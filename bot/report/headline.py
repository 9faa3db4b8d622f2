"""The headline numbers of a channel: the few lines `/agent report` and the App Home show, and how
durations and rates are written for people. Pure: no Redis, no plotting."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from bot.report.entries import (
    DAY,
    MODEL_PREFIX,
    OUTCOMES,
    PEOPLE_OUTCOMES,
    Entry,
    Pass,
    about,
    by_rule,
    entry_time,
    gather,
    latency_of,
    nearest_rank,
)


@dataclass(frozen=True, slots=True)
class Headline:
    """The few numbers `/agent report` and the App Home show (plain text: `lines()`)."""

    decisions: int  # every `decision`: people's, timed out and cancelled
    approved: int
    rejected: int
    revised: int
    timed_out: int
    cancelled: int
    auto_approved: int  # by input modes and "always allow" rules
    timeout_rate: float | None  # timed out / (people's decisions + timed out)
    p50_ms: int | None  # people's decisions, nearest rank
    p90_ms: int | None
    waiting: int | None  # approvals waiting now, when the caller counted them
    busiest: str  # the person with the most acts ("" when nobody acted)
    busiest_acts: int
    rule_approved: int = 0  # of `auto_approved`, by "always allow" rules
    allowed: int = 0  # calls programs let through by their own allow-lists (`allowed`: no card, not decisions)

    def lines(self) -> list[str]:
        """The numbers as plain text lines (no markup: the caller escapes them for its surface).

        >>> headline([], now=0.0).lines()
        ['No decisions in this period.']
        """
        lines = []
        if self.decisions == 0:
            lines.append("No decisions in this period.")
        else:
            lines.append(
                f"{plural(self.decisions, 'decision')}: {self.approved} approved, {self.rejected} rejected, "
                f"{self.revised} revised, {self.timed_out} timed out, {self.cancelled} cancelled"
            )
        if self.timeout_rate is not None:
            asked = self.approved + self.rejected + self.revised + self.timed_out
            lines.append(f"Timeout rate: {percent(self.timeout_rate)} ({self.timed_out} of {asked})")
        if self.p50_ms is not None and self.p90_ms is not None:
            lines.append(f"Time to decision by people: p50 {duration_ms(self.p50_ms)}, p90 {duration_ms(self.p90_ms)}")
        if self.auto_approved and self.rule_approved:
            modes = self.auto_approved - self.rule_approved
            lines.append(
                f"Approved automatically: {self.auto_approved} ({modes} by input modes, {self.rule_approved} by"
                " always-allow rules)"
            )
        elif self.auto_approved:
            lines.append(f"Approved automatically by modes and rules: {self.auto_approved}")
        if self.allowed:
            lines.append(f"Run without a card by programs' own allow-lists: {plural(self.allowed, 'call')}")
        if self.waiting is not None:
            lines.append(f"Waiting now: {self.waiting}")
        if self.busiest:
            lines.append(f"Busiest approver: {self.busiest} ({plural(self.busiest_acts, 'decision')})")
        return lines


def headline(
    entries: Iterable[Entry],
    *,
    now: float,
    channel: str | None = None,
    since: float | None = None,
    waiting: int | None = None,
) -> Headline:
    """The headline numbers of audit entries (optionally only those about `channel`, and from `since`
    to `now` by their time).

    >>> headline([{"event": "decision", "outcome": "approved", "by": "U1", "latency_ms": "4000", "at": "5"}],
    ...          now=10.0).lines()[:2]
    ['1 decision: 1 approved, 0 rejected, 0 revised, 0 timed out, 0 cancelled', 'Timeout rate: 0% (0 of 1)']
    """
    scan = _gathered(entries, now=now, channel=channel, since=since)
    outcomes = Counter(e.get("outcome") for e in scan.decisions)
    people = _people_times(scan)
    asked = sum(outcomes[o] for o in PEOPLE_OUTCOMES) + outcomes["timed_out"]
    acts = Counter(act.user for act in scan.acts.values())
    busiest = min(acts.items(), key=lambda kv: (-kv[1], kv[0]), default=("", 0))
    return Headline(
        decisions=sum(outcomes[o] for o in OUTCOMES),
        approved=outcomes["approved"],
        rejected=outcomes["rejected"],
        revised=outcomes["revised"],
        timed_out=outcomes["timed_out"],
        cancelled=outcomes["cancelled"],
        auto_approved=sum(1 for e in scan.automatic if e.get("event") == "auto_approved"),
        timeout_rate=outcomes["timed_out"] / asked if asked else None,
        p50_ms=nearest_rank(people, 50) if people else None,
        p90_ms=nearest_rank(people, 90) if people else None,
        waiting=waiting,
        busiest=busiest[0],
        busiest_acts=busiest[1],
        rule_approved=sum(1 for e in scan.automatic if by_rule(e)),
        allowed=len(scan.allowed),
    )



def _gathered(entries: Iterable[Entry], *, now: float, channel: str | None, since: float | None) -> Pass:
    """One pass over the entries about `channel` (None: all) from `since` (None: the first) to `now`."""
    chosen = about(entries, channel) if channel is not None else entries
    lower = -math.inf if since is None else since
    return gather(e for e in chosen if lower <= (entry_time(e) or lower) <= now)


def _people_times(scan: Pass) -> list[int]:
    """The times people took to decide, sorted (a triage model's decisions count as decisions, never as people's
    time: #92)."""
    latencies = (latency_of(e) for e in scan.decisions
                 if e.get("outcome") in PEOPLE_OUTCOMES and not str(e.get("by", "")).startswith(MODEL_PREFIX))
    return sorted(t for t in latencies if t is not None)


# ------------------------------------------------------------------------------------------ formatting



def duration_ms(ms: float) -> str:
    """A time to decision as people read it: `0.8 s`, `4.2 s`, `42 s`, `5 min 3 s`, `2 h 5 min`, `3 d 4 h`.

    >>> duration_ms(800), duration_ms(42_000), duration_ms(303_000), duration_ms(7_500_000)
    ('0.8 s', '42 s', '5 min 3 s', '2 h 5 min')
    """
    if ms < 10_000:
        return f"{ms / 1000:.1f} s"
    total = round(ms / 1000)
    parts = []
    for unit, size in (("d", DAY), ("h", 3600), ("min", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            parts.append(f"{count} {unit}")
    return " ".join(parts[:2])


def percent(rate: float) -> str:
    """`0.0833` -> `8.3%`; whole numbers without decimals (`25%`)."""
    value = round(rate * 100, 1)
    return f"{value:g}%"


def plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"

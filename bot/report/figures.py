"""How approvals are going, computed from the audit stream: pure functions, no Redis, no plotting.

`compute(entries, backlog=..., now=..., since=...)` turns audit entries (the dicts of strings that
`store.audit.export` yields, oldest first) and the approvals waiting now into `Figures`, which
`bot.report.html` draws. `headline(entries, now=...)` gives the few numbers `/agent report` and the App
Home show.

What counts (the page says it too):

- A *decision* is a `decision` entry: approved, rejected or revised (a person decided), timed out (the
  deadline decided) or cancelled. Time to decision is its `latency_ms` (from the request to the
  decision, measured by the decide step); only people's decisions are timed.
- A person's *act* is their decision of an approval or their vote in its quorum (`vote` entries), once
  per approval: an approver's load and the rubber-stamp check count acts.
- An *automatic* step is an `auto_approved` or `auto_rejected` entry. One naming a `rule_id` was
  approved by an "always allow" rule (#16): counted as "approved by a rule" (`rule_approved` in the
  decisions per day, mode "rule"), apart from the steps input modes approved.
- A call a program let through by its own allow-list (an `allowed` entry, `POST /api/v1/audit/allowed`, e.g.
  the MCP gateway's `--allow`) is nobody's decision: counted apart, by key, tool and pattern, never in the
  decisions, the automatic steps or their share.
- A step the policies (bot/policy/) decided at once is an automatic step `by` "policy" (counted per policy
  apart too), and what the policies in shadow would have changed is the `policy_shadow` entries of the period's
  last 7 days (`bot/report/policies.py`).
- Percentiles are nearest-rank: the p-th percentile of n sorted values is the value at rank
  ceil(p/100 × n) (1-based). The median is p50. No interpolation, so every figure is a time that
  really happened.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from bot.core.records import ApprovalRecord
from bot.report.automatic import Automatic, automatic_of
from bot.report.entries import (
    DAY,
    OUTCOMES,
    PEOPLE_OUTCOMES,
    SERIES,
    TOOL_NOT_RECORDED,
    UNKNOWN_CHANNEL,
    Act,
    Entry,
    Pass,
    channel_of,
    entry_time,
    gather,
    latency_of,
    nearest_rank,
    series_of,
    tool_of,
)
from bot.report.follow_ups import Escalations, Reminders, escalations_of, reminders_of
from bot.report.policies import PolicyFigures, policy_figures

WEEKLY_AFTER_DAYS = 92  # longer periods are counted by week
SHADOW_DAYS = 7  # what the policies in shadow would have changed: the last week of the period
# Age buckets of the approvals waiting now: (label, lower bound in seconds).
AGE_BUCKETS: tuple[tuple[str, float], ...] = (
    ("under 5 min", 0),
    ("5–15 min", 5 * 60),
    ("15–60 min", 15 * 60),
    ("1–4 h", 3600),
    ("4–24 h", 4 * 3600),
    ("1–7 days", DAY),
    ("over 7 days", 7 * DAY),
)


@dataclass(frozen=True, slots=True)
class RubberStamp:
    """When an approver's pattern is worth a look: over at least `min_decisions` acts, at least `rate`
    of them were approvals made within `seconds` of the request."""

    seconds: float = 5.0
    rate: float = 0.95
    min_decisions: int = 20


@dataclass(frozen=True, slots=True)
class Spread:
    """Time to decision of one group (a channel, an approver, a tool): people's decisions (or acts),
    their nearest-rank percentiles in milliseconds (0 when there are none), and how many timed out or
    were cancelled."""

    label: str
    decided: int
    p50_ms: int
    p90_ms: int
    p99_ms: int
    timed_out: int = 0
    cancelled: int = 0
    times_ms: tuple[int, ...] = field(default=(), repr=False)  # sorted

    @property
    def timeout_rate(self) -> float | None:
        """Timed out / (decided by people + timed out); None when both are 0."""
        total = self.decided + self.timed_out
        return self.timed_out / total if total else None


@dataclass(frozen=True, slots=True)
class Period:
    """One bar of the decisions-per-day plot: the day (or week) starting at `start` (UTC)."""

    start: float
    label: str  # YYYY-MM-DD
    counts: dict[str, int]  # series (SERIES) -> count


@dataclass(frozen=True, slots=True)
class AgeBucket:
    label: str
    lower_s: float
    upper_s: float | None
    count: int


@dataclass(frozen=True, slots=True)
class Backlog:
    """The approvals waiting now, by age (now - requested)."""

    total: int
    oldest_s: float | None
    buckets: tuple[AgeBucket, ...]
    by_channel: tuple[tuple[str, int], ...]  # origin channel, count; most first


@dataclass(frozen=True, slots=True)
class ApproverLoad:
    """One person's acts (decisions and quorum votes, once per approval) in the period."""

    user: str
    acts: int
    approved: int
    rejected: int
    revised: int
    votes: int  # acts that were a vote in a quorum, not the deciding click
    median_ms: int  # nearest-rank p50 of their acts' times
    quick_approvals: int  # approvals within RubberStamp.seconds of the request
    for_others: int = 0  # acts made for someone away (`for`)
    with_passkey: int = 0  # approvals and votes their passkey confirmed (step-up)

    @property
    def approve_rate(self) -> float:
        return self.approved / self.acts if self.acts else 0.0

    @property
    def quick_rate(self) -> float:
        return self.quick_approvals / self.acts if self.acts else 0.0

    def flagged(self, rule: RubberStamp) -> bool:
        return self.acts >= rule.min_decisions and self.quick_rate >= rule.rate


@dataclass(frozen=True, slots=True)
class FrozenScope:
    """A scope frozen when the report was made (`/agent freeze`): what, why, by whom (a user id or `cli:<who>`),
    since when (epoch seconds; 0 when its record is unreadable: still frozen)."""

    scope: str
    reason: str
    by: str
    since: float


@dataclass(frozen=True, slots=True)
class Figures:
    """Everything the report shows. Times are in milliseconds, instants in epoch seconds."""

    since: float
    now: float
    channels: tuple[str, ...]
    entries: int  # audit entries read
    requested: int
    outcomes: dict[str, int]  # SERIES -> count over the period
    overall: Spread  # people's decisions, all channels
    by_channel: tuple[Spread, ...]
    by_approver: tuple[Spread, ...]
    by_tool: tuple[Spread, ...]
    tool_not_recorded: int  # decisions whose request carries no kind or tool
    periods: tuple[Period, ...]
    period_days: int  # 1: per day; 7: per week
    backlog: Backlog
    approvers: tuple[ApproverLoad, ...]
    rubber_stamp: RubberStamp
    automatic: Automatic
    reminders: Reminders | None  # None: no `reminded` entry in the period
    escalations: Escalations | None  # None: no `escalated` entry in the period
    policies: PolicyFigures = field(default_factory=PolicyFigures)  # shadow verdicts: the last SHADOW_DAYS
    frozen: tuple[FrozenScope, ...] = ()  # the scopes frozen now (`read_history`), all first
    by_workspace: tuple[Spread, ...] = ()  # with approvals of more than one workspace in the period only

    @property
    def decisions(self) -> int:
        return sum(self.outcomes[o] for o in OUTCOMES)

    @property
    def timeout_rate(self) -> float | None:
        return self.overall.timeout_rate

    @property
    def flagged(self) -> tuple[ApproverLoad, ...]:
        return tuple(a for a in self.approvers if a.flagged(self.rubber_stamp))

    @property
    def empty(self) -> bool:
        """Nothing was requested, decided, voted or decided automatically in the period."""
        return not (self.requested or self.decisions or self.approvers or self.automatic.approved
                    or self.automatic.allowed)



# ------------------------------------------------------------------------------------------ computing



def spread(label: str, times: Iterable[int], *, timed_out: int = 0, cancelled: int = 0) -> Spread:
    ordered = tuple(sorted(times))
    if not ordered:
        return Spread(label, 0, 0, 0, 0, timed_out, cancelled)
    return Spread(
        label,
        len(ordered),
        nearest_rank(ordered, 50),
        nearest_rank(ordered, 90),
        nearest_rank(ordered, 99),
        timed_out,
        cancelled,
        ordered,
    )


NOT_IN_PERIOD = "(asked before the period)"


def workspace_of(requested: Entry | None, home_team: str) -> str:
    """The workspace an approval belongs to, from its `requested` entry: its `team`, or the home workspace's (an
    entry without one: the home's, or written before workspaces were recorded)."""
    if requested is None:
        return NOT_IN_PERIOD
    team = requested.get("team") or ""
    return team if team and team != home_team else f"{home_team or 'home'} (home)"


def _by_workspace(scan: Pass, home_team: str) -> tuple[Spread, ...]:
    """Decisions by workspace (#65), only when the period has approvals of more than one."""
    labels = [(workspace_of(scan.requested.get(e.get("approval") or ""), home_team), e) for e in scan.decisions]
    if len({label for label, _ in labels if label != NOT_IN_PERIOD}) < 2:
        return ()
    return _spreads(labels)


def _spreads(decisions: Iterable[tuple[str, Entry]]) -> tuple[Spread, ...]:
    """Decisions grouped by label, most decided first (then by label)."""
    times: dict[str, list[int]] = defaultdict(list)
    ended: dict[str, Counter[str]] = defaultdict(Counter)
    labels: dict[str, None] = {}
    for label, entry in decisions:
        outcome, latency = entry.get("outcome") or "", latency_of(entry)
        if outcome in PEOPLE_OUTCOMES and latency is not None:
            times[label].append(latency)
        elif outcome in ("timed_out", "cancelled"):
            ended[label][outcome] += 1
        else:
            continue
        labels[label] = None
    groups = [
        spread(label, times[label], timed_out=ended[label]["timed_out"], cancelled=ended[label]["cancelled"])
        for label in labels
    ]
    return tuple(sorted(groups, key=lambda s: (-s.decided, -s.timed_out, s.label)))


def _periods(scan: Pass, *, since: float, now: float) -> tuple[tuple[Period, ...], int]:
    days = 1 if now - since <= WEEKLY_AFTER_DAYS * DAY else 7
    width = days * DAY
    start = math.floor(since / DAY) * DAY
    count = max(1, math.ceil((now - start) / width))
    counts: list[Counter[str]] = [Counter() for _ in range(count)]

    def put(entry: Entry, series: str) -> None:
        at = entry_time(entry)
        if at is not None and series in SERIES:
            counts[min(count - 1, max(0, int((at - start) // width)))][series] += 1

    for entry in scan.decisions:
        put(entry, entry.get("outcome") or "")
    for entry in scan.automatic:
        put(entry, series_of(entry))
    periods = tuple(
        Period(start + i * width, time.strftime("%Y-%m-%d", time.gmtime(start + i * width)), dict(c))
        for i, c in enumerate(counts)
    )
    return periods, days


def _backlog(waiting: Sequence[ApprovalRecord], now: float) -> Backlog:
    ages = [max(0.0, now - a.created_at) for a in waiting]
    buckets = []
    for i, (label, lower) in enumerate(AGE_BUCKETS):
        upper = AGE_BUCKETS[i + 1][1] if i + 1 < len(AGE_BUCKETS) else None
        count = sum(1 for age in ages if age >= lower and (upper is None or age < upper))
        buckets.append(AgeBucket(label, lower, upper, count))
    channels = Counter(a.origin_channel or UNKNOWN_CHANNEL for a in waiting)
    return Backlog(
        total=len(waiting),
        oldest_s=max(ages) if ages else None,
        buckets=tuple(buckets),
        by_channel=tuple(sorted(channels.items(), key=lambda kv: (-kv[1], kv[0]))),
    )


def _approvers(scan: Pass, rule: RubberStamp) -> tuple[ApproverLoad, ...]:
    acts: dict[str, list[Act]] = defaultdict(list)
    for act in scan.acts.values():
        acts[act.user].append(act)
    quick_ms = rule.seconds * 1000
    loads = []
    for user, mine in acts.items():
        outcomes = Counter(a.outcome for a in mine)
        loads.append(
            ApproverLoad(
                user=user,
                acts=len(mine),
                approved=outcomes["approved"],
                rejected=outcomes["rejected"],
                revised=outcomes["revised"],
                votes=sum(1 for a in mine if a.vote_only),
                median_ms=nearest_rank(sorted(a.latency_ms for a in mine), 50),
                quick_approvals=sum(1 for a in mine if a.outcome == "approved" and a.latency_ms <= quick_ms),
                for_others=sum(1 for a in mine if a.for_whom),
                with_passkey=sum(1 for a in mine if a.assured),
            )
        )
    return tuple(sorted(loads, key=lambda a: (-a.acts, a.user)))


def _first_time(scan: Pass, now: float) -> float:
    """Where a period given no start starts: its first request or decision (none: a day before `now`)."""
    times = [t for t in (entry_time(e) for e in (*scan.requested.values(), *scan.decisions, *scan.automatic)) if t]
    return min(times, default=now - DAY)


def _outcomes(scan: Pass) -> Counter[str]:
    """The count of each series (SERIES) in the period: decisions by outcome, automatic steps by theirs."""
    outcomes = Counter({series: 0 for series in SERIES})
    outcomes.update(e.get("outcome") or "" for e in scan.decisions if e.get("outcome") in OUTCOMES)
    outcomes.update(series_of(e) for e in scan.automatic)
    return outcomes


def _by_approver(scan: Pass) -> tuple[Spread, ...]:
    """Each person's acts' times, most acts first."""
    by_approver = defaultdict(list)
    for act in scan.acts.values():
        by_approver[act.user].append(act.latency_ms)
    return tuple(sorted(
        (spread(user, times) for user, times in by_approver.items()), key=lambda s: (-s.decided, s.label)
    ))


def compute(
    entries: Iterable[Entry],
    *,
    backlog: Sequence[ApprovalRecord] = (),
    now: float,
    since: float | None = None,
    channels: Sequence[str] = (),
    rubber_stamp: RubberStamp | None = None,
    home_team: str = "",
) -> Figures:
    """The report's figures from audit entries (oldest first, as `store.audit.export` yields them, already
    limited to the period and channels) and the approvals waiting now (`backlog`, pending only).

    >>> figures = compute([], now=1_700_000_000.0, since=1_700_000_000.0 - 86400)
    >>> figures.empty, figures.decisions
    (True, 0)
    """
    rule = rubber_stamp or RubberStamp()
    scan = gather(entries)
    since = _first_time(scan, now) if since is None else since
    outcomes = _outcomes(scan)
    people = [latency_of(e) for e in scan.decisions if e.get("outcome") in PEOPLE_OUTCOMES]
    overall = spread(
        "all",
        (t for t in people if t is not None),
        timed_out=outcomes["timed_out"],
        cancelled=outcomes["cancelled"],
    )
    tools = [(tool_of(e) or tool_of(scan.requested.get(e.get("approval") or "")), e) for e in scan.decisions]
    periods, period_days = _periods(scan, since=since, now=now)
    return Figures(
        since=since,
        now=now,
        channels=tuple(channels),
        entries=scan.entries,
        requested=len(scan.requested),
        outcomes=dict(outcomes),
        overall=overall,
        by_channel=_spreads((channel_of(e), e) for e in scan.decisions),
        by_workspace=_by_workspace(scan, home_team),
        by_approver=_by_approver(scan),
        by_tool=_spreads((tool or TOOL_NOT_RECORDED, e) for tool, e in tools),
        tool_not_recorded=sum(1 for tool, e in tools if tool is None and e.get("outcome") in OUTCOMES),
        periods=periods,
        period_days=period_days,
        backlog=_backlog([a for a in backlog if a.pending], now),
        approvers=_approvers(scan, rule),
        rubber_stamp=rule,
        automatic=automatic_of(scan),
        reminders=reminders_of(scan),
        escalations=escalations_of(scan),
        policies=policy_figures((*scan.automatic, *scan.shadow), shadow_since=max(since, now - SHADOW_DAYS * DAY)),
    )


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
- Percentiles are nearest-rank: the p-th percentile of n sorted values is the value at rank
  ceil(p/100 × n) (1-based). The median is p50. No interpolation, so every figure is a time that
  really happened.
"""

from __future__ import annotations

import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from bot.core.records import ApprovalRecord

Entry = Mapping[str, str]

PEOPLE_OUTCOMES = ("approved", "rejected", "revised")
OUTCOMES = (*PEOPLE_OUTCOMES, "timed_out", "cancelled")
# decisions per day, by outcome: `auto_approved` by an input mode, `rule_approved` by an "always allow" rule
# (an `auto_approved` entry naming its `rule_id`)
SERIES = (*OUTCOMES, "auto_approved", "rule_approved", "auto_rejected")
RULE_MODE = "rule"  # `mode_of` an approval by an "always allow" rule
NOT_PEOPLE = frozenset({"", "timeout", "system", "auto"})
TOOL_NOT_RECORDED = "tool not recorded"
NO_TOOL = "message (no tool)"
UNKNOWN_CHANNEL = "(no channel)"
DAY = 86400
WEEKLY_AFTER_DAYS = 92  # longer periods are counted by week
REMINDER_WINDOW_SECONDS = 15 * 60
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
_DIGITS = re.compile(r"\d+")
_MODE_RULE = re.compile(r"^mode (\w+):")


def nearest_rank(ordered: Sequence[int], percent: int) -> int:
    """The `percent`-th percentile of `ordered` (sorted, not empty) by nearest rank: the value at rank
    ceil(percent/100 × n), 1-based.

    >>> nearest_rank([10, 20, 30, 40], 50), nearest_rank([10, 20, 30, 40], 90)
    (20, 40)
    """
    rank = max(1, -(-percent * len(ordered) // 100))  # ceil, in integers
    return ordered[rank - 1]


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

    @property
    def approve_rate(self) -> float:
        return self.approved / self.acts if self.acts else 0.0

    @property
    def quick_rate(self) -> float:
        return self.quick_approvals / self.acts if self.acts else 0.0

    def flagged(self, rule: RubberStamp) -> bool:
        return self.acts >= rule.min_decisions and self.quick_rate >= rule.rate


@dataclass(frozen=True, slots=True)
class RuleUse:
    """One "always allow" rule's approvals in the period (`auto_approved` entries with its `rule_id`)."""

    rule_id: str
    uses: int
    created_by: str  # `rule_by` of its latest entry
    channels: tuple[str, ...]  # where it approved calls
    tools: tuple[str, ...]
    described: str  # what it matches, as its latest entry says ("" when it says nothing)


@dataclass(frozen=True, slots=True)
class Automatic:
    """Steps an input mode or rule decided without a person (`auto_approved` / `auto_rejected`)."""

    approved: int  # by modes and rules
    rejected: int
    by_mode: tuple[tuple[str, int, int], ...]  # mode ("rule" for "always allow" rules), approved, rejected
    by_rule: tuple[tuple[str, int, int], ...]  # rule (numbers as N), approved, rejected; most first
    rules: tuple[RuleUse, ...] = ()  # "always allow" rules, most uses first

    @property
    def by_rules(self) -> int:
        """Steps approved by "always allow" rules (the rest of `approved` were approved by input modes)."""
        return sum(rule.uses for rule in self.rules)


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
        return not (self.requested or self.decisions or self.approvers or self.automatic.approved)


# ------------------------------------------------------------------------------------------ reading entries


def _number(entry: Entry, name: str) -> float | None:
    try:
        value = float(entry.get(name) or "")
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _at(entry: Entry) -> float | None:
    """When it happened: its `at`, else the time in its stream id."""
    at = _number(entry, "at")
    if at is None:
        ms, _, _ = str(entry.get("id", "")).partition("-")
        at = int(ms) / 1000 if ms.isdigit() else None
    return at


def _latency(entry: Entry) -> int | None:
    latency = _number(entry, "latency_ms")
    return None if latency is None or latency < 0 else int(latency)


def _channel(entry: Entry) -> str:
    return entry.get("origin_channel") or entry.get("card_channel") or UNKNOWN_CHANNEL


def _ids(text: str) -> set[str]:
    return {part for part in re.split(r"[,\s]+", text) if part}


def _tool_of(entry: Entry | None) -> str | None:
    """The tool an entry names: its tool, "code", a message (no tool); None when it records none."""
    if entry is None:
        return None
    tool, kind = entry.get("tool") or "", entry.get("kind") or ""
    if tool:
        return tool
    if kind == "code":
        return "code"
    if kind:
        return NO_TOOL
    return None


def by_rule(entry: Entry) -> bool:
    """Whether an automatic step was approved by an "always allow" rule (`auto_approved` with a `rule_id`)."""
    return entry.get("event") == "auto_approved" and bool(entry.get("rule_id"))


def series_of(entry: Entry) -> str:
    """The series of an automatic step in the decisions per day: `rule_approved` for a rule's approval."""
    return "rule_approved" if by_rule(entry) else entry.get("event") or ""


def mode_of(entry: Entry) -> str:
    """The input mode of an automatic step: "rule" for an "always allow" rule's approval; its `mode`, else
    read from its rule ("mode policy: ...")."""
    if by_rule(entry):
        return RULE_MODE
    mode = entry.get("mode") or ""
    if mode:
        return mode
    found = _MODE_RULE.match(entry.get("rule") or "")
    return found.group(1) if found else "(no mode recorded)"


def rule_of(entry: Entry) -> str:
    """An automatic step's rule with its numbers as N, so "automatic reply 3 of 10" counts as one rule; an
    "always allow" rule by its id ("always allow rule R7")."""
    if by_rule(entry):
        return f"always allow rule {entry.get('rule_id', '')[:40]}"
    return _DIGITS.sub("N", (entry.get("rule") or "(no rule recorded)").strip())[:200]


def about(entries: Iterable[Entry], channel: str) -> list[Entry]:
    """The entries about `channel` (as the run's channel or the card's), as the audit export filters."""
    return [e for e in entries if channel in (e.get("origin_channel"), e.get("card_channel"))]


# ------------------------------------------------------------------------------------------ one pass


@dataclass
class _Act:
    user: str
    outcome: str
    latency_ms: int
    vote_only: bool
    for_whom: str


@dataclass
class _Pass:
    """What one pass over the entries gathers."""

    entries: int = 0
    requested: dict[str, Entry] = field(default_factory=dict)  # approval id -> its `requested` entry
    decisions: list[Entry] = field(default_factory=list)
    acts: dict[tuple[str, str], _Act] = field(default_factory=dict)  # (approval, user) -> act
    automatic: list[Entry] = field(default_factory=list)
    reminded: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    escalated: dict[str, set[str]] = field(default_factory=dict)  # approval -> who it went to
    decided: dict[str, Entry] = field(default_factory=dict)  # approval -> its decision

    def add(self, entry: Entry) -> None:
        self.entries += 1
        event = entry.get("event")
        approval = entry.get("approval") or ""
        if event == "requested":
            self.requested[approval] = entry
        elif event == "decision":
            self.decisions.append(entry)
            self.decided[approval] = entry
            user, outcome, latency = entry.get("by") or "", entry.get("outcome") or "", _latency(entry)
            if outcome in PEOPLE_OUTCOMES and user not in NOT_PEOPLE and latency is not None:
                self.acts[(approval, user)] = _Act(user, outcome, latency, False, entry.get("for") or "")
        elif event == "vote":
            user, latency = entry.get("by") or "", _latency(entry)
            if user not in NOT_PEOPLE and latency is not None and (approval, user) not in self.acts:
                self.acts[(approval, user)] = _Act(user, "approved", latency, True, entry.get("for") or "")
        elif event in ("auto_approved", "auto_rejected"):
            self.automatic.append(entry)
        elif event == "reminded":
            at = _at(entry)
            if at is not None:
                self.reminded[approval].append(at)
        elif event == "escalated":
            self.escalated.setdefault(approval, set()).update(_ids(entry.get("to") or ""))


def _scan(entries: Iterable[Entry]) -> _Pass:
    found = _Pass()
    for entry in entries:
        found.add(entry)
    return found


def _spread(label: str, times: Iterable[int], *, timed_out: int = 0, cancelled: int = 0) -> Spread:
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


def _spreads(decisions: Iterable[tuple[str, Entry]]) -> tuple[Spread, ...]:
    """Decisions grouped by label, most decided first (then by label)."""
    times: dict[str, list[int]] = defaultdict(list)
    ended: dict[str, Counter[str]] = defaultdict(Counter)
    labels: dict[str, None] = {}
    for label, entry in decisions:
        outcome, latency = entry.get("outcome") or "", _latency(entry)
        if outcome in PEOPLE_OUTCOMES and latency is not None:
            times[label].append(latency)
        elif outcome in ("timed_out", "cancelled"):
            ended[label][outcome] += 1
        else:
            continue
        labels[label] = None
    groups = [
        _spread(label, times[label], timed_out=ended[label]["timed_out"], cancelled=ended[label]["cancelled"])
        for label in labels
    ]
    return tuple(sorted(groups, key=lambda s: (-s.decided, -s.timed_out, s.label)))


def _periods(scan: _Pass, *, since: float, now: float) -> tuple[tuple[Period, ...], int]:
    days = 1 if now - since <= WEEKLY_AFTER_DAYS * DAY else 7
    width = days * DAY
    start = math.floor(since / DAY) * DAY
    count = max(1, math.ceil((now - start) / width))
    counts: list[Counter[str]] = [Counter() for _ in range(count)]

    def put(entry: Entry, series: str) -> None:
        at = _at(entry)
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


def _approvers(scan: _Pass, rule: RubberStamp) -> tuple[ApproverLoad, ...]:
    acts: dict[str, list[_Act]] = defaultdict(list)
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
            )
        )
    return tuple(sorted(loads, key=lambda a: (-a.acts, a.user)))


def _automatic(scan: _Pass) -> Automatic:
    modes: dict[str, Counter[str]] = defaultdict(Counter)
    rules: dict[str, Counter[str]] = defaultdict(Counter)
    for entry in scan.automatic:
        event = entry.get("event") or ""
        modes[mode_of(entry)][event] += 1
        rules[rule_of(entry)][event] += 1

    def table(groups: dict[str, Counter[str]]) -> tuple[tuple[str, int, int], ...]:
        rows = [(name, c["auto_approved"], c["auto_rejected"]) for name, c in groups.items()]
        return tuple(sorted(rows, key=lambda r: (-(r[1] + r[2]), r[0])))

    events = Counter(e.get("event") for e in scan.automatic)
    return Automatic(events["auto_approved"], events["auto_rejected"], table(modes), table(rules), _rule_uses(scan))


def _rule_uses(scan: _Pass) -> tuple[RuleUse, ...]:
    entries: dict[str, list[Entry]] = defaultdict(list)
    for entry in scan.automatic:
        if by_rule(entry):
            entries[entry.get("rule_id") or ""].append(entry)
    uses = []
    for rule_id, mine in entries.items():
        latest = mine[-1]
        _, _, described = (latest.get("rule") or "").partition("): ")
        uses.append(
            RuleUse(
                rule_id=rule_id,
                uses=len(mine),
                created_by=latest.get("rule_by") or "",
                channels=tuple(sorted({_channel(e) for e in mine})),
                tools=tuple(sorted({e.get("tool") or "" for e in mine} - {""})),
                described=described,
            )
        )
    return tuple(sorted(uses, key=lambda u: (-u.uses, _rule_number(u.rule_id), u.rule_id)))


def _rule_number(rule_id: str) -> int:
    return int(rule_id[1:]) if rule_id[1:].isdigit() else 0


def _reminders(scan: _Pass) -> Reminders | None:
    if not scan.reminded:
        return None
    soon = later = timed_out = cancelled = undecided = 0
    for approval, times in scan.reminded.items():
        decision = scan.decided.get(approval)
        outcome = decision.get("outcome") if decision is not None else None
        decided_at = _at(decision) if decision is not None else None
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


def _escalations(scan: _Pass) -> Escalations | None:
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


def compute(
    entries: Iterable[Entry],
    *,
    backlog: Sequence[ApprovalRecord] = (),
    now: float,
    since: float | None = None,
    channels: Sequence[str] = (),
    rubber_stamp: RubberStamp | None = None,
) -> Figures:
    """The report's figures from audit entries (oldest first, as `store.audit.export` yields them, already
    limited to the period and channels) and the approvals waiting now (`backlog`, pending only).

    >>> figures = compute([], now=1_700_000_000.0, since=1_700_000_000.0 - 86400)
    >>> figures.empty, figures.decisions
    (True, 0)
    """
    rule = rubber_stamp or RubberStamp()
    scan = _scan(entries)
    if since is None:
        times = [t for t in (_at(e) for e in (*scan.requested.values(), *scan.decisions, *scan.automatic)) if t]
        since = min(times, default=now - DAY)
    outcomes = Counter({series: 0 for series in SERIES})
    outcomes.update(e.get("outcome") or "" for e in scan.decisions if e.get("outcome") in OUTCOMES)
    outcomes.update(series_of(e) for e in scan.automatic)
    people = [_latency(e) for e in scan.decisions if e.get("outcome") in PEOPLE_OUTCOMES]
    overall = _spread(
        "all",
        (t for t in people if t is not None),
        timed_out=outcomes["timed_out"],
        cancelled=outcomes["cancelled"],
    )
    tools = [(_tool_of(e) or _tool_of(scan.requested.get(e.get("approval") or "")), e) for e in scan.decisions]
    by_approver = defaultdict(list)
    for act in scan.acts.values():
        by_approver[act.user].append(act.latency_ms)
    approver_spreads = sorted(
        (_spread(user, times) for user, times in by_approver.items()), key=lambda s: (-s.decided, s.label)
    )
    periods, period_days = _periods(scan, since=since, now=now)
    return Figures(
        since=since,
        now=now,
        channels=tuple(channels),
        entries=scan.entries,
        requested=len(scan.requested),
        outcomes=dict(outcomes),
        overall=overall,
        by_channel=_spreads((_channel(e), e) for e in scan.decisions),
        by_approver=tuple(approver_spreads),
        by_tool=_spreads((tool or TOOL_NOT_RECORDED, e) for tool, e in tools),
        tool_not_recorded=sum(1 for tool, e in tools if tool is None and e.get("outcome") in OUTCOMES),
        periods=periods,
        period_days=period_days,
        backlog=_backlog([a for a in backlog if a.pending], now),
        approvers=_approvers(scan, rule),
        rubber_stamp=rule,
        automatic=_automatic(scan),
        reminders=_reminders(scan),
        escalations=_escalations(scan),
    )


# ------------------------------------------------------------------------------------------ the headline


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
                f"{_plural(self.decisions, 'decision')}: {self.approved} approved, {self.rejected} rejected, "
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
        if self.waiting is not None:
            lines.append(f"Waiting now: {self.waiting}")
        if self.busiest:
            lines.append(f"Busiest approver: {self.busiest} ({_plural(self.busiest_acts, 'decision')})")
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
    chosen = about(entries, channel) if channel is not None else entries
    lower = -math.inf if since is None else since
    scan = _scan(e for e in chosen if lower <= (_at(e) or lower) <= now)
    outcomes = Counter(e.get("outcome") for e in scan.decisions)
    latencies = (_latency(e) for e in scan.decisions if e.get("outcome") in PEOPLE_OUTCOMES)
    people = sorted(t for t in latencies if t is not None)
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
    )


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


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"

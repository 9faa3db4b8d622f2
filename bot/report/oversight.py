"""The oversight report's figures (`python -m bot report oversight`, issue 80): who oversaw each route, whether they
were fit to, how long they took, and the signals of oversight in name only, computed from the audit log alone (the
source of truth): pure, no Redis, no plotting.

A *route* is where an approval went: its channel (`origin_channel`, else `card_channel`) and the policies that
routed it (the ids of the decision's `policy` claim, else its `requested` entry's; "" when none). A person's *act* is
their decision (approved, rejected, revised) or quorum vote of an approval, once per approval (the decision wins), as
the approvals report counts them (bot/report/figures.py). Per route:

- *who oversaw*: each person's acts, and how many were *fit*: made while the person held a current attestation
  (`attested`, `attestation_granted`, not since `attestation_revoked`, `until` after the act) for the route's
  channel (`channel:C…`) or one of its policies (`policy:NAME`); an attestation held from before the period counts
  (its entries are read from the whole log). An attestation without a readable `until` is not counted as current.
  Votes refused for want of one are the `refused` entries with `action` "vote" whose reason names the attestation.
- *time to decide*: `decided_at` − `delivered_at` of each act that records both (from the card reaching the person
  to their decision), nearest-rank percentiles (bot/report/entries.py); *opened*: acts with an `opened_at`.
- *at risk*, *breached*: the `sla_at_risk` and `sla_breached` entries (their own `channel` and `policy`).
- *fast approvals*: acts whose entry says `fast` "true", of those that say either.
- *fatigue*: `rerouted` entries (a card sent to another approver, or held for the next hour's budget).
- *overrides*: acts that rejected or revised, and step-ups (acts confirmed by a passkey: the entry names it); a
  triage model's approvals (`by` "model:<name>", #92) apart from people's acts, and the agreement where people later
  reviewed the same kind of ask (the same route and tool, after the model first decided one): the share they
  approved.
- *freeze drills*: `freeze_drill` entries (`python -m bot freeze drill`), not per route.
- *reach*: time to decide per surface of the deciding vote, and per route step reached before the decision
  (bot/report/reach_figures.py, issue 90), not per route.

Fields missing from older entries are unknown: counted as "not recorded", never guessed, never an error.
"""

from __future__ import annotations

import math
import time
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Protocol

from bot.report.entries import MODEL_PREFIX, PEOPLE_OUTCOMES, Entry, channel_of, entry_time, is_person
from bot.report.figures import Spread, spread
from bot.report.policies import policy_ids
from bot.report.reach_figures import ReachFigures, reach_figures

NO_POLICY = "(no policy)"
NO_DATA = "no data in this period"
ATTESTATIONS = ("attested", "attestation_granted", "attestation_revoked")
# What each section evidences (the page and the CSV name it)
EVIDENCES: dict[str, str] = {
    "routes": "EU AI Act art. 26(2) (competence, training and authority); ISO/IEC 42001 A.6.2.8 (event logs)",
    "time": "EU AI Act art. 14(4)(a) and (c) (monitor, interpret the output); the CSA agentic profile of the NIST "
            "AI RMF, Measure function",
    "sla": "EU AI Act art. 14(4)(a) and art. 26(5) (monitoring the operation)",
    "fast": "EU AI Act art. 14(4)(b) (automation bias); the CSA agentic profile of the NIST AI RMF, Measure "
            "function",
    "fatigue": "EU AI Act art. 14(4)(b) (automation bias) and art. 26(5)",
    "overrides": "EU AI Act art. 14(4)(d) (decide not to use, disregard, override or reverse the output)",
    "drills": "EU AI Act art. 14(4)(e) (interrupt through a stop procedure) and art. 26(5) (suspend the use)",
    "reach": "EU AI Act art. 14(4)(a) and art. 26(2) (people able to oversee, in time) and art. 26(5)",
}


def _number(value: str | None) -> float | None:
    try:
        number = float(value or "")
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def moment(value: str | None) -> float | None:
    """A time field as epoch seconds: a number, or an ISO 8601 time (UTC unless it says); None when neither."""
    number = _number(value)
    if number is not None or not value:
        return number
    try:
        at = datetime.fromisoformat(value.strip())
    except ValueError:
        return None
    return (at if at.tzinfo is not None else at.replace(tzinfo=UTC)).timestamp()


@dataclass(frozen=True, slots=True)
class Overseer:
    """One person on one route: their acts, those made fit (a current attestation), fast ones, and the scopes they
    held an attestation for at some act."""

    person: str
    acts: int
    fit: int
    fast: int
    scopes: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Route:
    """One route's figures (the module docstring)."""

    channel: str
    policy: str
    people: tuple[Overseer, ...]
    acts: int
    decide: Spread  # time to decide, ms
    untimed: int  # acts without delivered_at and decided_at
    opened: int
    at_risk: int
    breached: int
    fast: int
    fast_known: int
    rerouted: int
    approved: int
    rejected: int
    revised: int
    stepped_up: int
    refused_unfit: int
    model_decided: int = 0  # decisions by a triage model (`model:<name>`, #92): never a person's act
    model_reviewed: int = 0  # people's acts after a model's decision on this route, of the same tool
    model_agreed: int = 0  # of those, approvals (what the model had decided of that kind)

    @property
    def label(self) -> str:
        return self.decide.label  # "C… · policy"


@dataclass(frozen=True, slots=True)
class Drill:
    at: float
    by: str
    scope: str
    freeze_seconds: float | None
    unfreeze_seconds: float | None
    refused_during: str  # "true", "false", or "" (not recorded)


@dataclass(frozen=True, slots=True)
class Oversight:
    """What the oversight page and CSV show for the period [since, until)."""

    since: float
    until: float
    routes: tuple[Route, ...]
    drills: tuple[Drill, ...]
    reroutes: tuple[tuple[str, str, str], ...]  # (from, to or "(held)", reason) counted in `rerouted_by`
    rerouted_by: tuple[tuple[str, int], ...]  # people cards were moved from, most first
    entries: int
    reach: ReachFigures = field(default_factory=ReachFigures)  # per surface and per route step (issue 90)

    def has(self, section: str) -> bool:
        """Whether the period holds data for `section` (one of EVIDENCES)."""
        r = self.routes
        return {
            "routes": any(x.acts for x in r),
            "time": any(x.decide.decided for x in r),
            "sla": any(x.at_risk or x.breached for x in r),
            "fast": any(x.fast_known for x in r),
            "fatigue": any(x.rerouted for x in r),
            "overrides": any(x.acts or x.model_decided for x in r),
            "drills": bool(self.drills),
            "reach": self.reach.any,
        }[section]


@dataclass
class _Acc:
    """What one route gathers."""

    acts: dict[tuple[str, str], Entry] = field(default_factory=dict)  # (approval, person) -> act
    counts: Counter[str] = field(default_factory=Counter)
    models: dict[str, float] = field(default_factory=dict)  # tool -> when a model first decided one of it


class Attestations:
    """Who held a current attestation for which scope, at a time (from every attestation entry of the log)."""

    def __init__(self, entries: Iterable[Entry]) -> None:
        self._events: dict[tuple[str, str], list[tuple[float, float | None]]] = defaultdict(list)
        for entry in entries:
            event = entry.get("event") or ""
            if event not in ATTESTATIONS:
                continue
            person = (entry.get("by") if event == "attested" else entry.get("person")) or ""
            scope, at = entry.get("scope") or "", entry_time(entry)
            if not person or not scope or at is None:
                continue  # unknown: never counted
            until = -math.inf if event == "attestation_revoked" else moment(entry.get("until"))
            self._events[(person, scope)].append((at, until))

    def current(self, person: str, scopes: Iterable[str], at: float) -> tuple[str, ...]:
        """The scopes of `scopes` `person` held a current attestation for at `at`."""
        held = []
        for scope in scopes:
            before = [e for e in self._events.get((person, scope), ()) if e[0] <= at]
            if before:
                _, until = max(before, key=lambda e: e[0])
                if until is not None and until > at:
                    held.append(scope)
        return tuple(held)


def policy_of(field: str) -> str:
    """A route's policies from an entry's `policy`: the ids of a decision's claim (`{"bundle", "ids"}`, joined by
    ","), or the names as written (the service levels' entries)."""
    return ",".join(policy_ids({"policy": field})) if field.startswith("{") else field


def route_scopes(channel: str, policy: str) -> tuple[str, ...]:
    """The attestation scopes of a route: its channel's and each policy's."""
    return (f"channel:{channel}", *(f"policy:{p.strip()}" for p in policy.split(",") if p.strip()))


def _seconds_ms(start: float | None, end: float | None) -> int | None:
    if start is None or end is None or end < start:
        return None
    return round((end - start) * 1000)


def compute_oversight(entries: Sequence[Entry], *, since: float, until: float,
                      channels: Sequence[str] = ()) -> Oversight:
    """The figures of [since, until) from `entries` (the whole log, oldest first: attestations held from before the
    period count), only the routes of `channels` when given."""
    tally = _Tally()
    for entry in entries:
        tally.add(entry, since=since, until=until)
    attestations = Attestations(entries)
    wanted = set(channels)
    shown = [_with_models(_route(channel, policy, acc, attestations), acc, tally)
             for (channel, policy), acc in tally.routes.items() if not wanted or channel in wanted]
    shown.sort(key=lambda r: (-r.acts, r.channel, r.policy))
    moved = Counter(src for src, _, _ in tally.reroutes)
    return Oversight(since, until, tuple(shown), tuple(tally.drills), tuple(tally.reroutes),
                     tuple(sorted(moved.items(), key=lambda kv: (-kv[1], kv[0]))), tally.count,
                     reach_figures(entries, since=since, until=until, channels=channels))


@dataclass
class _Tally:
    """What the period's entries gather, route by route."""

    requested: dict[str, Entry] = field(default_factory=dict)
    routes: dict[tuple[str, str], _Acc] = field(default_factory=lambda: defaultdict(_Acc))
    drills: list[Drill] = field(default_factory=list)
    reroutes: list[tuple[str, str, str]] = field(default_factory=list)
    count: int = 0

    def add(self, entry: Entry, *, since: float, until: float) -> None:
        event, at = entry.get("event") or "", entry_time(entry)
        if event == "requested" and entry.get("approval"):
            self.requested[entry["approval"]] = entry
        if at is None or not since <= at < until:
            return
        self.count += 1
        if event in ("decision", "vote"):
            self._act(event, entry)
        elif event in ("sla_at_risk", "sla_breached"):
            channel = entry.get("channel") or self._route_of(entry)[0]
            self.routes[(channel, policy_of(entry.get("policy") or ""))].counts[event] += 1
        elif event == "rerouted":
            self.routes[self._route_of(entry)].counts[event] += 1
            self.reroutes.append((entry.get("from_person") or "(not recorded)", entry.get("to_person") or "(held)",
                                  entry.get("reason") or "(not recorded)"))
        elif event == "refused" and entry.get("action") == "vote" and "attest" in (entry.get("reason") or ""):
            self.routes[self._route_of(entry)].counts["refused_unfit"] += 1
        elif event == "freeze_drill":
            self.drills.append(_drill(at, entry))

    def _act(self, event: str, entry: Entry) -> None:
        person, outcome = entry.get("by") or "", entry.get("outcome") or ""
        if event == "decision" and person.startswith(MODEL_PREFIX) and outcome == "approved":
            acc = self.routes[self._route_of(entry)]
            acc.counts["model_decided"] += 1
            acc.models.setdefault(self.tool_of(entry), entry_time(entry) or 0.0)
            return
        if not is_person(person) or (event == "decision" and outcome not in PEOPLE_OUTCOMES):
            return
        acc = self.routes[self._route_of(entry)]
        key = (entry.get("approval") or "", person)
        if event == "decision" or key not in acc.acts:
            acc.acts[key] = entry

    def tool_of(self, entry: Entry) -> str:
        return entry.get("tool") or self.requested.get(entry.get("approval") or "", {}).get("tool") or ""

    def _route_of(self, entry: Entry) -> tuple[str, str]:
        asked = self.requested.get(entry.get("approval") or "", {})
        channel = entry.get("origin_channel") or entry.get("card_channel") or (channel_of(asked) if asked else "")
        return channel or channel_of({}), policy_of(entry.get("policy") or asked.get("policy") or "")


def _with_models(route: Route, acc: _Acc, tally: _Tally) -> Route:
    """`route` with its triage model's decisions, and how people decided the same kind of ask (its tool) after the
    model first decided one: the agreement where people later reviewed it."""
    later = [entry for entry in acc.acts.values()
             if (first := acc.models.get(tally.tool_of(entry))) is not None and (entry_time(entry) or 0.0) > first]
    return replace(route, model_decided=acc.counts["model_decided"], model_reviewed=len(later),
                   model_agreed=sum(entry.get("outcome") == "approved" for entry in later))


def _drill(at: float, entry: Entry) -> Drill:
    said = entry.get("refused_during") or ""
    return Drill(at, entry.get("by") or "", entry.get("scope") or "", _number(entry.get("freeze_seconds")),
                 _number(entry.get("unfreeze_seconds")), said if said in ("true", "false") else "")


def _route(channel: str, policy: str, acc: _Acc, attestations: Attestations) -> Route:
    scopes = route_scopes(channel, policy)
    times: list[int] = []
    people: dict[str, Counter[str]] = defaultdict(Counter)
    held: dict[str, set[str]] = defaultdict(set)
    outcomes: Counter[str] = Counter()
    untimed = opened = fast = fast_known = stepped_up = 0
    for (_, person), entry in acc.acts.items():
        decided = moment(entry.get("decided_at")) or entry_time(entry)
        delivered = moment(entry.get("delivered_at"))
        took = _seconds_ms(delivered, decided)
        if took is None:
            untimed += 1
        else:
            times.append(took)
        opened += moment(entry.get("opened_at")) is not None
        said_fast = entry.get("fast")
        fast_known += said_fast in ("true", "false")
        fast += said_fast == "true"
        stepped_up += bool(entry.get("passkey"))
        outcomes[entry.get("outcome") or "approved"] += 1
        people[person]["acts"] += 1
        people[person]["fast"] += said_fast == "true"
        current = attestations.current(person, scopes, decided) if decided is not None else ()
        people[person]["fit"] += bool(current)
        held[person].update(current)
    overseers = tuple(Overseer(p, c["acts"], c["fit"], c["fast"], tuple(sorted(held[p])))
                      for p, c in sorted(people.items(), key=lambda pc: (-pc[1]["acts"], pc[0])))
    label = f"{channel} · {policy or NO_POLICY}"
    return Route(channel, policy, overseers, len(acc.acts), spread(label, times), untimed, opened,
                 acc.counts["sla_at_risk"], acc.counts["sla_breached"], fast, fast_known, acc.counts["rerouted"],
                 outcomes["approved"], outcomes["rejected"], outcomes["revised"], stepped_up,
                 acc.counts["refused_unfit"])


class _Add(Protocol):
    """`csv_rows`'s `add`: one figure's row."""

    def __call__(self, section: str, measure: str, value: object, route: Route | None = None,
                 person: str = "") -> None: ...


def _route_figures(r: Route, add: _Add) -> None:
    """One route's figures, each section's that it has data for, its people's after its own."""
    if r.acts:
        add("routes", "acts", r.acts, r)
        add("routes", "refused_without_attestation", r.refused_unfit, r)
        for o in r.people:
            add("routes", "acts", o.acts, r, o.person)
            add("routes", "acts_fit", o.fit, r, o.person)
            add("routes", "attested_scopes", " ".join(o.scopes), r, o.person)
    if r.decide.decided:
        for name, value in (("timed", r.decide.decided), ("not_recorded", r.untimed), ("opened", r.opened),
                            ("p50_seconds", r.decide.p50_ms / 1000), ("p90_seconds", r.decide.p90_ms / 1000),
                            ("p99_seconds", r.decide.p99_ms / 1000)):
            add("time", name, f"{value:g}" if isinstance(value, float) else value, r)
    if r.at_risk or r.breached:
        add("sla", "at_risk", r.at_risk, r)
        add("sla", "breached", r.breached, r)
    if r.fast_known:
        add("fast", "fast", r.fast, r)
        add("fast", "recorded", r.fast_known, r)
        for o in r.people:
            if o.fast:
                add("fast", "fast", o.fast, r, o.person)
    if r.rerouted:
        add("fatigue", "rerouted", r.rerouted, r)
    if r.acts:
        for name, value in (("approved", r.approved), ("rejected", r.rejected), ("revised", r.revised),
                            ("stepped_up", r.stepped_up)):
            add("overrides", name, value, r)
    if r.model_decided:  # a triage model's decisions, apart from people's (#92)
        add("overrides", "model_decided", r.model_decided, r)
        add("overrides", "model_reviewed_later", r.model_reviewed, r)
        add("overrides", "model_agreement", f"{r.model_agreed / r.model_reviewed:.2f}" if r.model_reviewed
            else "no review", r)


CSV_COLUMNS = ("section", "evidences", "channel", "policy", "scope", "at", "person", "measure", "value")


def csv_rows(oversight: Oversight) -> list[dict[str, str]]:
    """The CSV's rows: one per figure (section, route, person, what, value); a section without data has one row
    saying so."""
    rows: list[dict[str, str]] = []

    def add(section: str, measure: str, value: object, route: Route | None = None, person: str = "") -> None:
        rows.append({"section": section, "evidences": EVIDENCES[section], "channel": route.channel if route else "",
                     "policy": route.policy if route else "", "scope": "", "at": "", "person": person,
                     "measure": measure, "value": str(value)})

    for section in EVIDENCES:
        if not oversight.has(section):
            add(section, NO_DATA, "")
    for r in oversight.routes:
        _route_figures(r, add)
    for person, moved in oversight.rerouted_by:
        add("fatigue", "rerouted_from", moved, None, person)
    for group, spreads in (("surface", oversight.reach.surfaces), ("step", oversight.reach.steps)):
        for s in spreads:
            for name, value in (("decided", s.decided), ("p50_seconds", s.p50_ms / 1000),
                                ("p90_seconds", s.p90_ms / 1000)):
                rows.append({"section": "reach", "evidences": EVIDENCES["reach"], "channel": "", "policy": "",
                             "scope": f"{group}: {s.label}", "at": "", "person": "", "measure": name,
                             "value": f"{value:g}" if isinstance(value, float) else str(value)})
    for d in oversight.drills:
        took = ["not recorded" if v is None else f"{v:g}" for v in (d.freeze_seconds, d.unfreeze_seconds)]
        for name, shown in (("freeze_seconds", took[0]), ("unfreeze_seconds", took[1]),
                            ("refused_during", d.refused_during or "not recorded")):
            rows.append({"section": "drills", "evidences": EVIDENCES["drills"], "channel": "", "policy": "",
                         "scope": d.scope, "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(d.at)),
                         "person": d.by, "measure": name,
                         "value": str(shown)})
    return rows


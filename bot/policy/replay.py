"""Policies against history, pure: the asks the audit log recorded (`recorded_asks`), re-decided in time order by a
candidate bundle (`replay`: `python -m bot policy replay`), and one approval's decision explained (`explain`:
`python -m bot policy explain`). bot/cli/policy.py reads the log and prints these.

An ask is recorded when its approval opens: `requested` (a person was asked), `auto_approved` or `auto_rejected`
(decided at once by the policies, an "always allow" rule or the input mode), with what was asked (principal, action,
arguments when short, requester, channel, time) and, when policies were read, their bundle, ids and window totals.

A replay keeps the candidate's windows itself, from the replayed history: a call counts its amount from when it was
asked unless the candidate refuses it, and stops counting when a recorded decision rejected, expired or withdrew it
(a person's later answer to a call the candidate asks about is not known: it stays counted). Where the candidate has
no opinion, what decided then (a rule, the input mode, a person) decides again; where its policies decided then and
the candidate has none, the outcome is "none" (the rules, the mode or a person: which, the log cannot say)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from bot.core.records import ApprovalRecord
from bot.policy.bundle import Policy, PolicyBundle
from bot.policy.decide import Evaluator, PolicyRequest, PolicyVerdict, Verdict, render_reason, workflow_of
from bot.policy.windows import WindowSpec

DecidedBy = Literal["policy", "rule", "mode", "person"]
ASKED: dict[str, Verdict] = {"requested": "ask", "auto_approved": "allow", "auto_rejected": "deny"}
_BY: dict[str, DecidedBy] = {"policy": "policy", "rule": "rule", "auto": "mode"}  # an entry's `by`


@dataclass(frozen=True, slots=True)
class RecordedAsk:
    """One ask as its audit entry recorded it: the request the policies saw, what was decided then and by what
    (`ids`: the policies that decided or routed it, of bundle `bundle`), the window totals they read, and when a
    recorded decision took the call out of its windows (`released_at`: rejected, expired or withdrawn)."""

    approval: str
    request: PolicyRequest
    outcome: Verdict
    by: DecidedBy
    ids: tuple[str, ...] = ()
    bundle: str = ""
    windows: Mapping[str, int] = field(default_factory=dict)
    args_recorded: bool = True  # False: a tool call whose arguments were too long to audit
    released_at: float | None = None

    @property
    def by_policies(self) -> bool:
        """Whether POLICY_DIR's policies decided or routed it (the shipped defaults are the input mode's)."""
        return any(not policy_id.startswith("default:") for policy_id in self.ids)

    @property
    def then(self) -> tuple[Verdict, tuple[str, ...]]:
        """What the bundle of then decided, as a verdict's outcome and ids ("none": no opinion)."""
        return (self.outcome, self.ids) if self.by_policies else ("none", ())

    def describe(self) -> str:
        """"allow (policy refunds-within-budget)", "ask (a person)", "deny (mode)"."""
        what = f"policy {', '.join(self.ids)}" if self.by_policies else {"person": "a person"}.get(self.by, self.by)
        return f"{self.outcome} ({what})"


def recorded_asks(entries: Iterable[Mapping[str, str]]) -> list[RecordedAsk]:
    """The asks in `entries` (audit entries, any order), oldest first."""
    opened: list[Mapping[str, str]] = []
    released: dict[str, float] = {}
    for entry in entries:
        approval = entry.get("approval", "")
        if entry.get("event") in ASKED and approval:
            opened.append(entry)
        elif entry.get("event") == "decision" and approval and entry.get("outcome") != "approved":
            released.setdefault(approval, _number(entry.get("at")))
    asks = [ask_of(entry, released.get(entry["approval"])) for entry in opened]
    return sorted(asks, key=lambda ask: ask.request.at)


def ask_of(entry: Mapping[str, str], released_at: float | None = None) -> RecordedAsk:
    """The ask one `requested` / `auto_approved` / `auto_rejected` entry records."""
    event = entry["event"]
    kind = entry.get("kind") or "message"
    tool_call = kind == "tool_call"
    args = _json(entry.get("arguments", "")) if tool_call else {}
    key = entry.get("key", "")
    request = PolicyRequest(
        principal_type="Agent" if key else "Run", principal=key or entry.get("run", ""),
        action=(entry.get("tool") or "tool") if tool_call else kind, channel=entry.get("origin_channel", ""),
        kind=kind, args=args if isinstance(args, dict) else {},
        requester=entry.get("requester") or (entry.get("by", "") if event == "requested" else ""),
        workflow=workflow_of(entry.get("workflow", "")), at=_number(entry.get("at")),
        team=entry.get("team", ""), enterprise=entry.get("enterprise", ""),
    )
    claim = _json(entry.get("policy", ""))
    claim = claim if isinstance(claim, dict) else {}
    windows = _json(entry.get("windows", ""))
    return RecordedAsk(
        approval=entry["approval"], request=request, outcome=ASKED[event],
        by="person" if event == "requested" else _BY.get(entry.get("by", ""), "mode"),
        ids=tuple(str(i) for i in claim.get("ids") or ()), bundle=str(claim.get("bundle") or ""),
        windows={str(k): v for k, v in windows.items() if isinstance(v, int)} if isinstance(windows, dict) else {},
        args_recorded=not tool_call or "arguments" in entry, released_at=released_at,
    )


# replay ----------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ReplayRow:
    """An ask whose outcome the candidate changes."""

    approval: str
    at: float
    principal: str
    action: str
    before: str  # RecordedAsk.describe()
    after: Verdict
    ids: tuple[str, ...]  # the candidate's policies that decided
    reason: str


@dataclass(frozen=True, slots=True)
class Replayed:
    """A replay: the changes (time order), the outcomes before and after, how many asks were replayed and how many
    could not be (a tool call's arguments not recorded)."""

    rows: list[ReplayRow]
    before: Counter[str]
    after: Counter[str]
    asks: int
    skipped: int


class SimulatedWindows:
    """A bundle's windows (bot/policy/windows.py) kept in memory over replayed calls: each call's amount per the
    window's `per` values, counted from when it was asked until `until`."""

    def __init__(self, specs: Sequence[WindowSpec]) -> None:
        self.specs = tuple(specs)
        self._calls: dict[str, list[tuple[float, float, int]]] = {}

    def _applying(self, request: PolicyRequest) -> list[WindowSpec]:
        return [spec for spec in self.specs if spec.actions is None or request.action in spec.actions]

    def totals(self, request: PolicyRequest) -> dict[str, int]:
        """What the policies read as `context.window` for `request`: each window's total of the calls counted in
        the `over` seconds before it (as lua/lib/windows.lua sums them)."""
        totals = {}
        for spec in self._applying(request):
            since = request.at - spec.over
            calls = self._calls.get(spec.key_part(request.per), [])
            totals[spec.name] = sum(amount for at, until, amount in calls if since < at and until > request.at)
        return totals

    def count(self, request: PolicyRequest, until: float | None = None) -> None:
        """Count `request`'s call in each window it adds to, until `until` (None: for good)."""
        for spec in self._applying(request):
            amount = spec.amount(request.action, request.args)
            if amount is not None:
                end = float("inf") if until is None else until
                self._calls.setdefault(spec.key_part(request.per), []).append((request.at, end, amount))


def replay(asks: Sequence[RecordedAsk], evaluator: Evaluator, windows: Sequence[WindowSpec] | None = None, *,
           since: float = 0.0) -> Replayed:
    """Re-decide `asks` (oldest first) with `evaluator`'s bundle, its `windows` (default: the bundle's) kept from the
    replayed calls. Asks before `since` only fill the windows; the rest are compared with what was decided then."""
    kept = SimulatedWindows(evaluator.bundle.windows if windows is None else windows)
    rows: list[ReplayRow] = []
    before: Counter[str] = Counter()
    after: Counter[str] = Counter()
    replayed = skipped = 0
    for ask in sorted(asks, key=lambda ask: ask.request.at):
        if not ask.args_recorded:
            if ask.request.at >= since:
                skipped += 1
            continue
        verdict = evaluator.evaluate(ask.request, kept.totals(ask.request))
        outcome = outcome_of(ask, verdict)
        if outcome != "deny":  # an allowed call counts for good; one a person is asked about, until rejected
            kept.count(ask.request, None if outcome == "allow" else ask.released_at)
        if ask.request.at < since:
            continue
        replayed += 1
        before[ask.outcome] += 1
        after[outcome] += 1
        if outcome != ask.outcome:
            request = ask.request
            rows.append(ReplayRow(ask.approval, request.at, request.per["principal"], request.action, ask.describe(),
                                  outcome, verdict.ids, verdict.reason))
    return Replayed(rows, before, after, replayed, skipped)


def outcome_of(ask: RecordedAsk, verdict: PolicyVerdict) -> Verdict:
    """What would happen to `ask` under `verdict`: the policies' outcome; with no opinion, what decided then does
    again, unless that was the policies of then ("none": the rules, the mode or a person, the log cannot say)."""
    if verdict.decided:
        return verdict.outcome
    return "none" if ask.by_policies else ask.outcome


# explain ---------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Explanation:
    """Why one approval was decided as it was: the request and the context values the policies read (`context`,
    the window totals as they were then), the policies that decided or routed it (each as the active bundle has
    it, None when it has no such policy, with its reason filled in), the windows, its audit entries (`history`),
    and what the active bundle decides about the same request today."""

    ask: RecordedAsk
    record: ApprovalRecord | None
    context: Mapping[str, Any]
    policies: list[tuple[str, Policy | None, str]]
    windows: list[tuple[str, int, WindowSpec | None]]
    bundle: PolicyBundle
    today: PolicyVerdict
    history: list[Mapping[str, str]]

    @property
    def same_bundle(self) -> bool:
        return self.ask.bundle == self.bundle.hash

    @property
    def same_today(self) -> bool:
        return (self.today.outcome, self.today.ids) == self.ask.then


def explain(record: ApprovalRecord | None, entries: Sequence[Mapping[str, str]], bundle: PolicyBundle) -> Explanation:
    """Explain the approval whose audit `entries` (its own, any order; its request's among them) and stored `record`
    (None once expired) are given, by `bundle` (the active one). ValueError when no entry records its request."""
    asks = recorded_asks(entries)
    if not asks:
        raise ValueError("its request is not in the audit log (trimmed, or never asked)")
    ask = asks[0]
    context = ask.request.context(ask.windows)
    policies: list[tuple[str, Policy | None, str]] = []
    for policy_id in ask.ids:
        policy = bundle.policies.get(policy_id)
        policies.append((policy_id, policy, render_reason(policy.reason, context) if policy and policy.reason else ""))
    specs = {spec.name: spec for spec in bundle.windows}
    today = Evaluator(bundle).evaluate(ask.request, ask.windows)
    history = sorted(entries, key=lambda entry: (_number(entry.get("at")), entry.get("id", "")))
    return Explanation(ask, record, context, policies,
                       [(name, total, specs.get(name)) for name, total in ask.windows.items()],
                       bundle, today, list(history))


def _json(text: str) -> Any:
    try:
        return json.loads(text) if text else {}
    except ValueError:
        return {}


def _number(text: str | None) -> float:
    try:
        return float(text or "")
    except ValueError:
        return 0.0

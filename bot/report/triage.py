"""The triage report's figures (`python -m bot report triage --since --until`, issue 92): how the triage model's
readings compare with what people decided, per policy, so an admin turns a model on (`@triage_mode("shadow")` off)
with evidence. Pure: no Redis, computed from the audit log alone.

An ask *read* is one whose first `triage` entry (the model's answer, bot/approvals/triage.py) falls in the period;
its policy is the ids of its decision's `policy` claim, else its `requested` entry's (NO_POLICY when none). The model
*would approve* it when its entry says `within_limit` "true" (an entry without it: when it answered approve). Its
decision is the ask's `decision` entry, joined by approval id (made at any time after the period's start):

- *decided by the model*: a decision `by` "model:<name>" (a person never reviewed it: not in the agreement);
- *reviewed*: a person's decision (approved, rejected, revised);
- *agreed*: reviewed asks where the model would approve and the person approved, or where it would not and the person
  rejected or revised, or it was escalated (an `escalated` entry);
- *false approvals*: the model would approve, a person rejected;
- *time saved*: the people's time to decide (`latency_ms` of their decision: from the ask to it) of the reviewed asks
  the model would have approved.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

from bot.report.entries import MODEL_PREFIX, PEOPLE_OUTCOMES, Entry, entry_time, is_person, latency_of
from bot.report.oversight import policy_of

NO_POLICY = "(no policy)"


@dataclass(frozen=True, slots=True)
class PolicyTriage:
    """One policy's figures (the module docstring)."""

    policy: str
    read: int = 0
    shadow: int = 0
    would_approve: int = 0
    decided_by_model: int = 0
    reviewed: int = 0
    agreed: int = 0
    false_approvals: int = 0
    time_saved_ms: int = 0

    @property
    def agreement(self) -> float | None:
        """The share of reviewed asks where the model and the person agreed (None: none reviewed)."""
        return self.agreed / self.reviewed if self.reviewed else None


@dataclass(frozen=True, slots=True)
class TriageReport:
    """The period's figures, per policy (most read first)."""

    since: float
    until: float
    policies: tuple[PolicyTriage, ...]

    def as_json(self) -> dict[str, object]:
        return {"since": self.since, "until": self.until,
                "policies": [{**asdict(p), "agreement": p.agreement} for p in self.policies]}

    def lines(self) -> list[str]:
        """The report as text, one block per policy."""
        if not self.policies:
            return ["No asks read by the triage model in this period."]
        out: list[str] = []
        for p in self.policies:
            agreement = f"{p.agreement:.0%}" if p.agreement is not None else "n/a (none reviewed by people)"
            out += [f"{p.policy}:",
                    f"  asks read: {p.read} ({p.shadow} in shadow), the model would approve {p.would_approve},"
                    f" decided by the model {p.decided_by_model}",
                    f"  reviewed by people: {p.reviewed}, agreement: {agreement} ({p.agreed} of {p.reviewed})",
                    f"  false approvals (the model would approve, a person rejected): {p.false_approvals}",
                    f"  time saved (people's time to decide what the model would approve):"
                    f" {p.time_saved_ms / 1000:g} s"]
        return out


def _policy(entry: Entry) -> str:
    return policy_of(entry.get("policy") or "")


@dataclass
class _Gathered:
    """The entries the report joins, by approval: the model's first reading in the period, the decision, the ask."""

    read: dict[str, Entry] = field(default_factory=dict)
    decisions: dict[str, Entry] = field(default_factory=dict)
    requested: dict[str, Entry] = field(default_factory=dict)
    escalated: set[str] = field(default_factory=set)

    def take(self, entry: Entry, *, since: float, until: float) -> None:
        event, approval = entry.get("event"), entry.get("approval") or ""
        if not approval:
            return
        if event == "triage" and approval not in self.read:
            at = entry_time(entry)
            if at is not None and since <= at < until:
                self.read[approval] = entry
        elif event == "decision":
            self.decisions.setdefault(approval, entry)
        elif event == "requested":
            self.requested.setdefault(approval, entry)
        elif event == "escalated":
            self.escalated.add(approval)


def _count(t: dict[str, int], entry: Entry, decision: Entry, *, escalated: bool) -> None:
    """Count one reading `entry` of the model, against the `decision` made of its ask, in the tally `t`."""
    t["read"] += 1
    t["shadow"] += entry.get("mode") == "shadow"
    within = entry.get("within_limit", "true" if entry.get("decision") == "approve" else "false") == "true"
    t["would_approve"] += within
    by, outcome = decision.get("by", ""), decision.get("outcome", "")
    if by.startswith(MODEL_PREFIX):
        t["decided_by_model"] += 1
        return
    if not (is_person(by) and outcome in PEOPLE_OUTCOMES):
        return  # not decided yet, timed out, cancelled: no person's reading to compare with
    t["reviewed"] += 1
    approved = outcome == "approved"
    t["agreed"] += (within and approved) or (not within and (not approved or escalated))
    t["false_approvals"] += within and outcome == "rejected"
    t["time_saved_ms"] += (latency_of(decision) or 0) if within else 0


def compute_triage(entries: Iterable[Entry], *, since: float, until: float) -> TriageReport:
    """The figures of the asks the model read in [since, until) (the module docstring)."""
    seen = _Gathered()
    for entry in entries:
        seen.take(entry, since=since, until=until)
    tally: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for approval, entry in seen.read.items():
        decision = seen.decisions.get(approval, {})
        policy = _policy(decision) or _policy(seen.requested.get(approval, {})) or NO_POLICY
        _count(tally[policy], entry, decision, escalated=approval in seen.escalated)
    policies = tuple(PolicyTriage(policy, **counts) for policy, counts in tally.items())
    return TriageReport(since, until, tuple(sorted(policies, key=lambda p: (-p.read, p.policy))))

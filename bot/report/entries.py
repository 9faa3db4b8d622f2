"""Reading the audit stream for the report: what an entry says (when, which channel, tool, mode,
rule), and one pass over the entries that gathers decisions, people's acts and automatic steps.

Pure: no Redis, no plotting. An entry is one audit-stream entry as `store.audit.export` yields it (a
mapping of strings); see `bot/report/figures.py` for what counts as a decision, an act and an automatic
step.
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

Entry = Mapping[str, str]

PEOPLE_OUTCOMES = ("approved", "rejected", "revised")
OUTCOMES = (*PEOPLE_OUTCOMES, "timed_out", "cancelled")
# decisions per day, by outcome: `auto_approved` by an input mode, `rule_approved` by an "always allow" rule
# (an `auto_approved` entry naming its `rule_id`)
SERIES = (*OUTCOMES, "auto_approved", "rule_approved", "auto_rejected")
RULE_MODE = "rule"  # `mode_of` an approval by an "always allow" rule
NOT_PEOPLE = frozenset({"", "timeout", "system", "auto"})
MODEL_PREFIX = "model:"  # a triage model's decision (#92, `model:<name>`): never a person's act


def is_person(by: str) -> bool:
    """Whether an entry's `by` is a person's (not a timeout, the system, the input mode or a triage model)."""
    return by not in NOT_PEOPLE and not by.startswith(MODEL_PREFIX)
TOOL_NOT_RECORDED = "tool not recorded"
NO_TOOL = "message (no tool)"
UNKNOWN_CHANNEL = "(no channel)"
DAY = 86400
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



def _number(entry: Entry, name: str) -> float | None:
    try:
        value = float(entry.get(name) or "")
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def entry_time(entry: Entry) -> float | None:
    """When it happened: its `at`, else the time in its stream id."""
    at = _number(entry, "at")
    if at is None:
        ms, _, _ = str(entry.get("id", "")).partition("-")
        at = int(ms) / 1000 if ms.isascii() and ms.isdigit() else None
    return at


def latency_of(entry: Entry) -> int | None:
    latency = _number(entry, "latency_ms")
    return None if latency is None or latency < 0 else int(latency)


def channel_of(entry: Entry) -> str:
    return entry.get("origin_channel") or entry.get("card_channel") or UNKNOWN_CHANNEL


def ids_in(text: str) -> set[str]:
    return {part for part in re.split(r"[,\s]+", text) if part}


def tool_of(entry: Entry | None) -> str | None:
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




@dataclass
class Act:
    user: str
    outcome: str
    latency_ms: int
    vote_only: bool
    for_whom: str
    assured: bool = False  # confirmed by the person's passkey (step-up: the entry names the passkey)


@dataclass
class Pass:
    """What one pass over the entries gathers."""

    entries: int = 0
    requested: dict[str, Entry] = field(default_factory=dict)  # approval id -> its `requested` entry
    decisions: list[Entry] = field(default_factory=list)
    acts: dict[tuple[str, str], Act] = field(default_factory=dict)  # (approval, user) -> act
    automatic: list[Entry] = field(default_factory=list)
    reminded: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    escalated: dict[str, set[str]] = field(default_factory=dict)  # approval -> who it went to
    decided: dict[str, Entry] = field(default_factory=dict)  # approval -> its decision
    allowed: list[Entry] = field(default_factory=list)  # calls programs let through by their own allow-lists
    shadow: list[Entry] = field(default_factory=list)  # what the policies in shadow would have decided

    def add(self, entry: Entry) -> None:
        self.entries += 1
        event = entry.get("event") or ""
        approval = entry.get("approval") or ""
        listed = {"auto_approved": self.automatic, "auto_rejected": self.automatic, "allowed": self.allowed,
                  "policy_shadow": self.shadow}.get(event)
        if listed is not None:
            listed.append(entry)
        elif event == "requested":
            self.requested[approval] = entry
        elif event == "decision":
            self._decision(entry, approval)
        elif event == "vote":
            self._vote(entry, approval)
        elif event == "reminded":
            at = entry_time(entry)
            if at is not None:
                self.reminded[approval].append(at)
        elif event == "escalated":
            self.escalated.setdefault(approval, set()).update(ids_in(entry.get("to") or ""))

    def _decision(self, entry: Entry, approval: str) -> None:
        """A decision: kept, and a person's act when a person made it."""
        self.decisions.append(entry)
        self.decided[approval] = entry
        user, outcome, latency = entry.get("by") or "", entry.get("outcome") or "", latency_of(entry)
        if outcome in PEOPLE_OUTCOMES and is_person(user) and latency is not None:
            self.acts[(approval, user)] = Act(user, outcome, latency, False, entry.get("for") or "",
                                              bool(entry.get("passkey")))

    def _vote(self, entry: Entry, approval: str) -> None:
        """A vote: a person's act, unless they already acted on the approval."""
        user, latency = entry.get("by") or "", latency_of(entry)
        if is_person(user) and latency is not None and (approval, user) not in self.acts:
            self.acts[(approval, user)] = Act(user, "approved", latency, True, entry.get("for") or "",
                                              bool(entry.get("passkey")))


def gather(entries: Iterable[Entry]) -> Pass:
    found = Pass()
    for entry in entries:
        found.add(entry)
    return found

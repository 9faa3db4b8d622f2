"""Rules suggested from history: the "always allow" rules (bot/core/allow_rules.py) that would have approved calls
people approved often, and none they rejected or revised, replayed over the audit log's decided tool calls. Only
people's decisions teach a rule: a timeout, a rule, a mode and a triage model's approval (`model:<name>`, #92) are
left out. Pure."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent_approvals.approver import canonical_json, digest_of

from bot.core.allow_rules import DEFAULT_MIN_APPROVED, Condition, Match, exact_match

MAX_SUGGESTIONS = 5
NOT_PEOPLE = frozenset({"", "timeout", "system", "auto"})  # who decided, when it was not a person
MODEL_PREFIX = "model:"  # a triage model's decision (#92, `model:<name>`): never a person's


@dataclass(frozen=True, slots=True)
class PastCall:
    """A tool call a person decided, as the audit log holds it."""

    approval: str
    tool: str
    arguments: Any
    digest: str
    outcome: str  # approved, rejected, revised
    at: float = 0.0


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A rule that would have approved `approved_hits` of the `approved_total` approved calls of its
    tool, and `refused_hits` (always 0 for a suggestion) of the `refused_total` rejected or revised ones."""

    match: Match
    approved_hits: int
    approved_total: int
    refused_hits: int
    refused_total: int
    example: str  # the latest approved call it matches (its approval holds the tool's schema)
    examples: tuple[str, ...] = field(default=())

    def replay(self) -> str:
        return (
            f"would have auto-approved {self.approved_hits} of {self.approved_total} approved"
            f" call{'s' if self.approved_total != 1 else ''}, {self.refused_hits} of {self.refused_total}"
            " rejected or revised"
        )


def replay(match: Match, calls: Iterable[PastCall]) -> tuple[int, int, int, int]:
    """(approved hits, approved total, refused hits, refused total) of `match` over past calls of its tool."""
    approved_hits = approved_total = refused_hits = refused_total = 0
    for call in calls:
        if call.tool != match.tool:
            continue
        hit = match.matches(call.tool, call.arguments, call.digest)
        if call.outcome == "approved":
            approved_total += 1
            approved_hits += hit
        else:
            refused_total += 1
            refused_hits += hit
    return approved_hits, approved_total, refused_hits, refused_total


def suggest(
    calls: Sequence[PastCall], *, min_approved: int = DEFAULT_MIN_APPROVED, limit: int = MAX_SUGGESTIONS
) -> list[Suggestion]:
    """Rules that would have approved at least `min_approved` calls people approved and none they
    rejected or revised: for each tool, exactly the arguments approved that often, and conditions
    generalised from every approved call (a value they all share, an `@domain` they all end with, a
    prefix, a few values, the largest number). Best first (most approved calls it covers)."""
    by_tool: dict[str, list[PastCall]] = defaultdict(list)
    for call in calls:
        by_tool[call.tool].append(call)
    found: dict[str, Suggestion] = {}
    for tool, mine in by_tool.items():
        approved = [c for c in mine if c.outcome == "approved"]
        for match in _candidates(tool, approved, min_approved):
            suggestion = _suggestion(match, mine, approved, min_approved)
            if suggestion is not None:
                found.setdefault(match.to_json(), suggestion)
    return _best(found.values())[:limit]


def _candidates(tool: str, approved: Sequence[PastCall], min_approved: int) -> list[Match]:
    """The rules to try for a tool: exactly the arguments approved at least `min_approved` times, and the conditions
    every approved call meets."""
    digests: dict[str, list[PastCall]] = defaultdict(list)
    for call in approved:
        digests[call.digest].append(call)
    candidates = [exact_match(tool, same[-1].arguments) for same in digests.values() if len(same) >= min_approved]
    general = _generalise(tool, [c.arguments for c in approved])
    return candidates if general is None else [*candidates, general]


def _suggestion(
    match: Match, mine: Sequence[PastCall], approved: Sequence[PastCall], min_approved: int
) -> Suggestion | None:
    """`match` replayed over the tool's past calls: a suggestion when it would have approved at least
    `min_approved` approved calls and none refused."""
    approved_hits, approved_total, refused_hits, refused_total = replay(match, mine)
    if approved_hits < min_approved or refused_hits:
        return None
    hits = sorted((c for c in approved if match.matches(c.tool, c.arguments, c.digest)), key=lambda c: c.at)
    return Suggestion(
        match,
        approved_hits,
        approved_total,
        refused_hits,
        refused_total,
        example=hits[-1].approval,
        examples=tuple(c.approval for c in hits[-5:]),
    )


def _best(found: Iterable[Suggestion]) -> list[Suggestion]:
    """Most approved calls covered first; a general rule that covers no more than an exact one is the exact one."""
    ordered = sorted(found, key=lambda s: (-s.approved_hits, not s.match.exact, s.match.tool))
    kept: list[Suggestion] = []
    for suggestion in ordered:
        if not suggestion.match.exact and any(
            k.match.exact and k.match.tool == suggestion.match.tool and k.approved_hits == suggestion.approved_hits
            for k in kept
        ):
            continue
        kept.append(suggestion)
    return kept


def _generalise(tool: str, arguments: Sequence[Any]) -> Match | None:
    """Conditions that every one of `arguments` meets, as tight as a person would write them."""
    if not arguments or not all(isinstance(a, Mapping) for a in arguments):
        return None
    names = sorted(set.intersection(*(set(a) for a in arguments)))
    where: list[tuple[str, Condition]] = []
    for name in names:
        values = [a[name] for a in arguments]
        condition = _condition_for(values)
        if condition.op != "any":
            where.append((name, condition))
    if not where:
        return None
    return Match(tool=tool, where=tuple(where))


def _condition_for(values: Sequence[Any]) -> Condition:
    distinct = list({canonical_json(v): v for v in values}.values())
    if len(distinct) == 1:
        return Condition("equals", distinct[0])
    if all(isinstance(v, str) for v in values):
        domains = {v.rpartition("@")[2] for v in values if "@" in v}
        if len(domains) == 1 and all("@" in v for v in values):
            return Condition("ends_with", "@" + domains.pop())
        if len(distinct) <= 5:
            return Condition("one_of", tuple(sorted(distinct)))
        prefix = _common_prefix(values)
        if len(prefix) >= 4:
            return Condition("starts_with", prefix)
        return Condition("any")
    if all(isinstance(v, int | float) and not isinstance(v, bool) for v in values):
        return Condition("at_most", max(values))
    if len(distinct) <= 5:
        return Condition("one_of", tuple(distinct))
    return Condition("any")


def _common_prefix(values: Sequence[str]) -> str:
    first, last = min(values), max(values)
    size = 0
    while size < len(first) and size < len(last) and first[size] == last[size]:
        size += 1
    return first[:size]


def past_calls(entries: Iterable[Mapping[str, str]]) -> list[PastCall]:
    """The tool calls people decided (approved, rejected, revised), from audit entries (oldest first):
    a `requested` entry with the call's arguments, then the `decision` of a person (never a triage model's:
    `model:<name>`). Calls whose arguments the log does not hold (too long, or logged before it held them) are left
    out."""
    requested: dict[str, tuple[str, Any, str]] = {}
    calls: list[PastCall] = []
    for entry in entries:
        event = entry.get("event")
        approval = entry.get("approval") or ""
        if event == "requested" and entry.get("kind") == "tool_call" and entry.get("arguments"):
            try:
                arguments = json.loads(entry["arguments"])
            except ValueError:
                continue
            requested[approval] = (entry.get("tool") or "", arguments, entry.get("digest") or digest_of(arguments))
        elif event == "decision" and approval in requested:
            outcome = entry.get("outcome") or ""
            by = entry.get("by") or ""
            if outcome in ("approved", "rejected", "revised") and by_a_person(by):
                tool, arguments, digest = requested.pop(approval)
                calls.append(PastCall(approval, tool, arguments, digest, outcome, float(entry.get("at") or 0)))
    return calls


def by_a_person(by: str) -> bool:
    """Whether a decision's `by` is a person's (not a timeout, a rule, a mode or a triage model)."""
    return by not in NOT_PEOPLE and not by.startswith(MODEL_PREFIX)

"""What was decided without a person in a report's period, pure (bot/report/figures.py counts the rest): the steps
input modes, "always allow" rules and policies decided (`auto_approved` / `auto_rejected`), each rule's uses, and
the calls programs let through by their own allow-lists (`allowed`), apart from every decision."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass

from bot.report.entries import Entry, Pass, by_rule, channel_of, mode_of, rule_of


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
    # calls programs let through by their own allow-lists (`allowed` entries: no card, not decisions): key, tool,
    # what let them through, count; most first
    allowed: tuple[tuple[str, str, str, int], ...] = ()

    @property
    def allowed_calls(self) -> int:
        return sum(row[3] for row in self.allowed)

    @property
    def by_rules(self) -> int:
        """Steps approved by "always allow" rules (the rest of `approved` were approved by input modes)."""
        return sum(rule.uses for rule in self.rules)


def automatic_of(scan: Pass) -> Automatic:
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
    allowed = Counter((e.get("key") or "", e.get("tool") or "", e.get("rule") or "") for e in scan.allowed)
    rows = tuple(sorted(((*k, n) for k, n in allowed.items()), key=lambda r: (-r[3], r[:3])))
    return Automatic(events["auto_approved"], events["auto_rejected"], table(modes), table(rules), _rule_uses(scan),
                     rows)


def _rule_uses(scan: Pass) -> tuple[RuleUse, ...]:
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
                channels=tuple(sorted({channel_of(e) for e in mine})),
                tools=tuple(sorted({e.get("tool") or "" for e in mine} - {""})),
                described=described,
            )
        )
    return tuple(sorted(uses, key=lambda u: (-u.uses, _rule_number(u.rule_id), u.rule_id)))


def _rule_number(rule_id: str) -> int:
    return int(rule_id[1:]) if rule_id[1:].isascii() and rule_id[1:].isdigit() else 0

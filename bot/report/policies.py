"""What the policies (bot/policy/) decided and would have decided, from the audit stream: pure, for the report's
section and `/agent policy`.

- A *policy decision* is an `auto_approved` / `auto_rejected` entry by "policy": the policies allowed or refused a
  call at once (its `policy` field: `{bundle, ids}`).
- A *shadow verdict* is a `policy_shadow` entry: what the policies in shadow (`@mode("shadow")`, or all of
  POLICY_DIR's under POLICY_MODE=shadow) would have decided (`would`) where the others decided `outcome`.

Verdicts: allow (approved at once), deny (refused at once), ask (a person decides), none (no opinion: the rules,
the input mode and people decide, as without policies)."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

from bot.report.entries import Entry, entry_time

POLICY = "policy"  # `by` of what the policies decided at once
SHADOW = "policy_shadow"
VERDICTS = {"allow": "approved at once", "deny": "refused at once", "ask": "asked a person",
            "none": "left to the rules, the mode and people"}
NO_POLICY = "(none)"
EXAMPLES = 3


@dataclass(frozen=True, slots=True)
class PolicyFigures:
    """The policies' decisions and shadow verdicts in a period (most first)."""

    decided: tuple[tuple[str, int, int], ...] = ()  # policy id, approved, rejected
    shadow: int = 0  # shadow verdicts since `shadow_since`
    would: tuple[tuple[str, int], ...] = ()  # the verdict they would have been, count
    by_policy: tuple[tuple[str, str, int], ...] = ()  # policy id (NO_POLICY: none), would, count
    examples: tuple[Entry, ...] = ()  # the newest shadow verdicts, newest first
    shadow_since: float = 0.0

    @property
    def empty(self) -> bool:
        return not (self.decided or self.shadow)


def verdict_words(verdict: str) -> str:
    return VERDICTS.get(verdict, verdict or "?")


def policy_ids(entry: Entry) -> list[str]:
    """The ids of the policies an entry's `policy` field names ([] when none or unreadable)."""
    try:
        ids = json.loads(entry.get("policy") or "{}").get("ids") or []
    except (ValueError, AttributeError):
        return []
    return [str(policy_id) for policy_id in ids] if isinstance(ids, list) else []


def policy_figures(entries: Iterable[Entry], *, shadow_since: float = 0.0, examples: int = EXAMPLES) -> PolicyFigures:
    """The policy decisions among `entries`, and their shadow verdicts at or after `shadow_since`.

    >>> shadow = {"event": "policy_shadow", "at": "10", "outcome": "none", "would": "deny",
    ...           "policy": '{"bundle":"b","ids":["no-refunds"]}'}
    >>> figures = policy_figures([shadow, shadow])
    >>> figures.would, figures.by_policy
    ((('deny', 2),), (('no-refunds', 'deny', 2),))
    """
    decided: dict[str, Counter[str]] = {}
    would: Counter[str] = Counter()
    by_policy: Counter[tuple[str, str]] = Counter()
    shadows: list[Entry] = []
    for entry in entries:
        event = entry.get("event")
        if event in ("auto_approved", "auto_rejected") and entry.get("by") == POLICY:
            for policy_id in policy_ids(entry) or [NO_POLICY]:
                decided.setdefault(policy_id, Counter())[event] += 1
        elif event == SHADOW and (entry_time(entry) or 0.0) >= shadow_since:
            shadows.append(entry)
            verdict = entry.get("would") or "none"
            would[verdict] += 1
            for policy_id in policy_ids(entry) or [NO_POLICY]:
                by_policy[(policy_id, verdict)] += 1
    rows = sorted(((name, c["auto_approved"], c["auto_rejected"]) for name, c in decided.items()),
                  key=lambda r: (-(r[1] + r[2]), r[0]))
    newest = sorted(shadows, key=lambda e: entry_time(e) or 0.0, reverse=True)[:examples]
    return PolicyFigures(
        decided=tuple(rows),
        shadow=len(shadows),
        would=tuple(sorted(would.items(), key=lambda kv: (-kv[1], kv[0]))),
        by_policy=tuple(sorted(((p, v, n) for (p, v), n in by_policy.items()), key=lambda r: (-r[2], r[0], r[1]))),
        examples=tuple(newest),
        shadow_since=shadow_since,
    )

"""The oversight report's figures of reach (issue 90): time to decide per surface, and per step of a route reached
before the decision, from the audit log alone (pure).

- *per surface*: each decision by a person (approved, rejected, revised) in the period, by the surface of its deciding
  vote (the decision entry's `surface`; "(not recorded)" in older entries), timed from the ask (its `requested`
  entry) to the decision;
- *per step*: each step of a route that reached someone (a `reached` entry, outcome `sent`) before its approval's
  decision by a person in the period, by step and place ("2 · email"), timed from the step to the decision.

Only the approvals of `channels` when given (the decision's own channel)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass

from bot.report.entries import PEOPLE_OUTCOMES, Entry, channel_of, entry_time, is_person
from bot.report.figures import Spread, spread

NOT_RECORDED = "(not recorded)"


@dataclass(frozen=True, slots=True)
class ReachFigures:
    surfaces: tuple[Spread, ...] = ()  # by the deciding vote's surface: from the ask to the decision, ms
    steps: tuple[Spread, ...] = ()  # by step reached before the decision ("1 · slack"): from the step, ms

    @property
    def any(self) -> bool:
        return bool(self.surfaces or self.steps)


def reach_figures(entries: Sequence[Entry], *, since: float, until: float,
                  channels: Sequence[str] = ()) -> ReachFigures:
    asked: dict[str, float] = {}
    reached: dict[str, list[tuple[int, str, float]]] = defaultdict(list)
    decided: dict[str, tuple[str, float]] = {}
    wanted = set(channels)
    for entry in entries:
        event, approval, at = entry.get("event") or "", entry.get("approval") or "", entry_time(entry)
        if not approval or at is None:
            continue
        if event == "requested":
            asked[approval] = at
        elif event == "reached" and entry.get("outcome") == "sent":
            number = entry.get("step") or ""
            if number.isascii() and number.isdigit():
                reached[approval].append((int(number), entry.get("where") or NOT_RECORDED, at))
        elif event == "decision" and since <= at < until and is_person(entry.get("by") or "") \
                and entry.get("outcome") in PEOPLE_OUTCOMES and (not wanted or channel_of(entry) in wanted):
            decided[approval] = (entry.get("surface") or NOT_RECORDED, at)
    by_surface: dict[str, list[int]] = defaultdict(list)
    by_step: dict[tuple[int, str], list[int]] = defaultdict(list)
    for approval, (surface, at) in decided.items():
        if approval in asked and at >= asked[approval]:
            by_surface[surface].append(round((at - asked[approval]) * 1000))
        for step, where, step_at in reached.get(approval, []):
            if step_at <= at:
                by_step[(step, where)].append(round((at - step_at) * 1000))
    return ReachFigures(
        surfaces=tuple(spread(surface, times) for surface, times in sorted(by_surface.items())),
        steps=tuple(spread(f"{step} · {where}", times) for (step, where), times in sorted(by_step.items())),
    )

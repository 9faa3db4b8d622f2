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
from dataclasses import dataclass, field

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


@dataclass
class _Seen:
    """What the entries said of each approval: asked when, each step reached (number, where, when), decided how."""

    asked: dict[str, float] = field(default_factory=dict)
    reached: dict[str, list[tuple[int, str, float]]] = field(default_factory=lambda: defaultdict(list))
    decided: dict[str, tuple[str, float]] = field(default_factory=dict)


def _step(entry: Entry) -> int | None:
    number = entry.get("step") or ""
    return int(number) if number.isascii() and number.isdigit() else None


def _seen(entries: Sequence[Entry], *, since: float, until: float, channels: Sequence[str]) -> _Seen:
    seen, wanted = _Seen(), set(channels)
    for entry in entries:
        event, approval, at = entry.get("event") or "", entry.get("approval") or "", entry_time(entry)
        if not approval or at is None:
            continue
        if event == "requested":
            seen.asked[approval] = at
        elif event == "reached" and entry.get("outcome") == "sent" and (step := _step(entry)) is not None:
            seen.reached[approval].append((step, entry.get("where") or NOT_RECORDED, at))
        elif event == "decision" and since <= at < until and _a_persons(entry, wanted):
            seen.decided[approval] = (entry.get("surface") or NOT_RECORDED, at)
    return seen


def _a_persons(entry: Entry, wanted: set[str]) -> bool:
    """A person's decision (not a model's, not a timeout), in the channels asked for (any: none asked)."""
    return (is_person(entry.get("by") or "") and entry.get("outcome") in PEOPLE_OUTCOMES
            and (not wanted or channel_of(entry) in wanted))


def reach_figures(entries: Sequence[Entry], *, since: float, until: float,
                  channels: Sequence[str] = ()) -> ReachFigures:
    seen = _seen(entries, since=since, until=until, channels=channels)
    by_surface: dict[str, list[int]] = defaultdict(list)
    by_step: dict[tuple[int, str], list[int]] = defaultdict(list)
    for approval, (surface, at) in seen.decided.items():
        if approval in seen.asked and at >= seen.asked[approval]:
            by_surface[surface].append(round((at - seen.asked[approval]) * 1000))
        for step, where, step_at in seen.reached.get(approval, []):
            if step_at <= at:
                by_step[(step, where)].append(round((at - step_at) * 1000))
    return ReachFigures(
        surfaces=tuple(spread(surface, times) for surface, times in sorted(by_surface.items())),
        steps=tuple(spread(f"{step} · {where}", times) for (step, where), times in sorted(by_step.items())),
    )

"""Windows: counts and sums over time that Cedar cannot keep, declared in `policy.yaml`:

    windows:
      refunds_24h: {sum: args.amount_cents, per: [principal, action], over: 24h}
      deploys_1h:  {count: true, per: [principal], over: 1h, actions: [deploy]}

Each is kept in Redis per the request's `per` values (principal, action, resource), as a sorted set of the calls
that count (an approval id and its amount, scored by time; a sum window's amounts also in minute, hour and day
buckets, so its total costs the buckets it reads: bot/store/windows.py), and given to Cedar as
`context.window.<name>`: the total of the calls in the last `over` seconds before this one. A call is counted in
the same store step that opens its approval (lua/open_approval.lua: allowed at once, or pending) and taken out
again in the one that rejects, expires or withdraws it (lua/lib/decide.lua), so concurrent asks cannot spend one
budget twice (`WindowMark.expect`: the step refuses if the total changed since the policies read it)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    RootModel,
    StrictBool,
    ValidationError,
    field_validator,
    model_validator,
)

from bot.core.documents import STRICT_DOCUMENT, refusal, refuse
from bot.core.durations import parse_duration

PER = ("principal", "action", "resource")
MAX_OVER = 90 * 86400
MAX_WINDOWS = 20
_ABSENT = object()  # a call without the summed argument: not counted, and nothing to say


@dataclass(frozen=True, slots=True)
class WindowSpec:
    """One window: a `count` of calls, or the `sum` of an argument (a dotted path: `args.amount_cents`, integer
    amounts; no floats in Cedar), per the request's `per` values, over the last `over` seconds; only for
    `actions` (None: every action)."""

    name: str
    over: int
    per: tuple[str, ...]
    sum: str = ""
    actions: tuple[str, ...] | None = None

    def amount(self, action: str, args: Any) -> int | None:
        """What a call adds to this window: 1 for a count, the argument for a sum (None: it does not count)."""
        if self.actions is not None and action not in self.actions:
            return None
        if not self.sum:
            return 1
        value = self._value(args)
        if isinstance(value, bool) or not isinstance(value, int):
            return None
        return value

    def uncounted(self, action: str, args: Any) -> str:
        """Why a call this sum window is for cannot be counted ("": it can, or it has no such argument): a value
        below zero would lower the window, and one that is not an integer (a float, text, true/false) would pass
        uncounted; a person decides either (bot/policy/decide.py `never_counted_down`)."""
        if not self.sum or (self.actions is not None and action not in self.actions):
            return ""
        value = self._value(args)
        if value is _ABSENT:
            return ""
        if isinstance(value, bool) or not isinstance(value, int):
            return f"{self.sum} is not an integer: it is not counted against {self.name}"
        if value < 0:
            return f"{self.sum} is {value}, below zero: it is not counted against {self.name}"
        return ""

    def _value(self, args: Any) -> Any:
        value: Any = {"args": args}
        for part in self.sum.split("."):
            if not isinstance(value, dict) or part not in value:
                return _ABSENT
            value = value[part]
        return value

    def key_part(self, values: Mapping[str, str]) -> str:
        """The part of its Redis key naming one principal/action/resource (hashed: ids may hold anything)."""
        chosen = json.dumps([values[name] for name in self.per], separators=(",", ":"))
        return f"{self.name}:{hashlib.sha256(chosen.encode()).hexdigest()[:32]}"


def parse_windows(raw: Any) -> tuple[WindowSpec, ...]:
    """The windows of `policy.yaml`; ValueError "<name>: ..." for a bad one."""
    try:
        declared = _Windows.model_validate(raw)
    except ValidationError as exc:
        refused = refusal(exc, known=_Window.model_fields)
        raise ValueError(f"{refused.key}: {refused.said}" if refused.key else refused.said) from None
    return tuple(WindowSpec(name=name, over=spec.over, per=spec.per, sum=spec.sum, actions=spec.actions)
                 for name, spec in declared.root.items())


def _name(name: Any) -> str:
    if not isinstance(name, str) or not name.isidentifier():
        raise refuse("a window's name is a word (letters, digits, _)")
    return name


def _spec(spec: Any) -> Any:
    if not isinstance(spec, dict):
        raise refuse("{sum: args.x | count: true, per: [...], over: 24h} is expected")
    return spec


def _sum(total: Any) -> str:
    if total and (not isinstance(total, str) or not total.startswith("args.") or len(total) <= 5):
        raise refuse("sum is an argument of the call: args.<field> (integer, e.g. cents)")
    return total or ""


def _per(per: Any) -> tuple[str, ...]:
    per = [per] if isinstance(per, str) else per
    if not isinstance(per, list | tuple) or not per or any(part not in PER for part in per):
        raise refuse(f"per is a list of {', '.join(PER)}")
    return tuple(dict.fromkeys(per))


def _over(over: Any) -> int:
    try:
        return parse_duration(str(over), max_seconds=MAX_OVER)
    except ValueError:
        raise refuse("over is a duration such as 1h, 24h, 7d") from None


def _actions(actions: Any) -> tuple[str, ...] | None:
    if actions is not None and (not isinstance(actions, list) or not all(isinstance(a, str) for a in actions)):
        raise refuse("actions is a list of tool names")
    return tuple(actions) if actions is not None else None


class _Window(BaseModel):
    """One window as `policy.yaml` declares it (`{sum: args.x | count: true, per: [...], over: 24h}`)."""

    model_config = STRICT_DOCUMENT

    sum: Annotated[str, BeforeValidator(_sum)] = ""
    count: StrictBool = Field(default=False, validate_default=True)
    per: Annotated[tuple[str, ...], BeforeValidator(_per)] = Field(default=("principal", "action"),
                                                                    validate_default=True)
    over: Annotated[int, BeforeValidator(_over)] = Field(default="", validate_default=True)
    actions: Annotated[tuple[str, ...] | None, BeforeValidator(_actions)] = None

    @model_validator(mode="before")
    @classmethod
    def _counted(cls, spec: Any) -> Any:
        spec = _spec(spec)
        if set(spec) <= set(cls.model_fields) and bool(spec.get("sum", "")) == bool(spec.get("count")):
            raise refuse("give either sum: args.<field> or count: true")
        return spec

    @field_validator("count", mode="before")
    @classmethod
    def _count(cls, count: Any) -> bool:
        if not isinstance(count, bool):
            raise refuse("count is true (a sum window leaves it out)")
        return count


class _Windows(RootModel[dict[Annotated[str, BeforeValidator(_name)], _Window]]):
    """policy.yaml's `windows:`, by name."""

    @model_validator(mode="before")
    @classmethod
    def _mapping(cls, raw: Any) -> Any:
        if not isinstance(raw, dict):
            raise refuse("windows: a mapping of name: {sum|count, per, over} is expected")
        if len(raw) > MAX_WINDOWS:
            raise refuse(f"windows: at most {MAX_WINDOWS}")
        return raw


@dataclass(frozen=True, slots=True)
class WindowMark:
    """A call's place in one window, for the open step: its sorted set (`key`), the calls counted after `since`
    totalled `expect` when the policies read it (`count`: how many, else the sum of their amounts), and what this
    call adds (`amount`, None: nothing)."""

    name: str
    key: str
    since: float
    expect: int
    amount: int | None
    ttl: int
    count: bool = False

    def arg(self, approval_id: str) -> dict[str, Any]:
        return {"name": self.name, "key": self.key, "since": repr(self.since), "expect": self.expect, "ttl": self.ttl,
                "count": self.count, "member": "" if self.amount is None else f"{approval_id} {self.amount}"}

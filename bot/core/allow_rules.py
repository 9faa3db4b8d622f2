"""Remembered decisions: "always allow" rules for tool calls, what they match, and rules suggested
from history. Pure: no Redis, no Slack (the store keeps rules in `bot/store/rules.py`; the approval
service applies them before a card is posted, in `bot/approvals/service.py`; `bot/approvals/rulebook.py` checks who may
create or revoke one).

A rule matches calls of one tool, either with exactly the arguments a reviewer saw (bound to their
digest, like a human approval), or by conditions on some arguments (each of the others may be
anything):

    equals       the argument is this JSON value          to equals "ops@example.com"
    one_of       it is one of these values                 region one of "eu-west-1", "eu-central-1"
    starts_with  a string starting with this text          path starts with "/tmp/reports/"
    ends_with    a string ending with this text            to ends with "@example.com"
    at_most      a number no larger than this              amount at most 50

Strings compare exactly (case included). A rule can only be made of values that pass the tool's JSON
schema, and a call whose arguments fail the schema is never approved by a rule. The rules suggested from the
audit log's history are `bot/core/rule_suggestions.py`'s.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast

from agent_approvals.approver import canonical_json, digest_of
from agent_approvals.schemas import schema_problem

Op = Literal["any", "equals", "one_of", "starts_with", "ends_with", "at_most"]
OPS: tuple[Op, ...] = ("any", "equals", "one_of", "starts_with", "ends_with", "at_most")
OP_LABELS: dict[Op, str] = {
    "any": "any value",
    "equals": "equals",
    "one_of": "is one of (one per line)",
    "starts_with": "starts with",
    "ends_with": "ends with",
    "at_most": "is at most (a number)",
}
Scope = Literal["run", "channel"]
SCOPES: tuple[Scope, ...] = ("run", "channel")
RULE_ID = re.compile(r"^R[1-9][0-9]{0,9}$")
MIN_EXPIRY = 3600
MAX_EXPIRY = 30 * 86400
EXPIRIES: tuple[tuple[str, int], ...] = (
    ("1 hour", 3600),
    ("8 hours", 8 * 3600),
    ("1 day", 86400),
    ("7 days", 7 * 86400),
    ("30 days", 30 * 86400),
)
MAX_ONE_OF = 50
MAX_VALUE_CHARS = 2000  # one condition's value; an exact rule's arguments may be up to MAX_ARGUMENTS_CHARS
MAX_ARGUMENTS_CHARS = 20000
DEFAULT_MIN_APPROVED = 3


@dataclass(frozen=True, slots=True)
class Condition:
    """One argument's condition: `value` is a JSON value (equals), a tuple of them (one_of), a string
    (starts_with, ends_with) or a number (at_most)."""

    op: Op
    value: Any = None
    # the canonical JSON of the value(s) equals / one_of compare with, worked out once
    _allowed: frozenset[str] = field(default=frozenset(), init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.op in ("equals", "one_of"):
            values = self.value if self.op == "one_of" else (self.value,)
            object.__setattr__(self, "_allowed", frozenset(_canonical(v) for v in values) - {None})

    def holds(self, argument: Any) -> bool:
        if self.op == "any":
            return True
        if self.op in ("equals", "one_of"):
            return _canonical(argument) in self._allowed
        if self.op == "starts_with":
            return isinstance(argument, str) and argument.startswith(self.value)
        if self.op == "ends_with":
            return isinstance(argument, str) and argument.endswith(self.value)
        return _is_number(argument) and argument <= self.value

    def describe(self) -> str:
        if self.op == "any":
            return "any value"
        if self.op == "one_of":
            return "one of " + ", ".join(_shown(v) for v in self.value)
        if self.op == "at_most":
            return f"at most {_shown(self.value)}"
        return f"{self.op.replace('_', ' ')} {_shown(self.value)}"

    def to_json(self) -> Any:
        return {"op": self.op, "value": list(self.value) if self.op == "one_of" else self.value}


@dataclass(frozen=True, slots=True)
class Match:
    """What a rule matches: calls of `tool` with exactly `arguments` (canonical JSON; `digest` is its
    digest), or with every condition of `where` holding (arguments not named may be anything)."""

    tool: str
    digest: str = ""
    arguments: str = ""
    where: tuple[tuple[str, Condition], ...] = ()

    @property
    def exact(self) -> bool:
        return bool(self.digest)

    def matches(self, tool: str, arguments: Any, digest: str) -> bool:
        """Whether a call of `tool` with `arguments` (whose digest is `digest`) is one this rule allows."""
        if tool != self.tool:
            return False
        if self.exact:
            return digest == self.digest
        if not isinstance(arguments, dict | Mapping):
            return False
        return all(name in arguments and condition.holds(arguments[name]) for name, condition in self.where)

    def describe(self) -> str:
        """In words, e.g. `send_email` where to ends with "@example.com" (untrusted values inside:
        a block builder escapes it)."""
        if self.exact:
            return f"{self.tool} with exactly {self.arguments}"
        named = [(n, c) for n, c in self.where if c.op != "any"]
        if not named:
            return f"{self.tool} with any arguments"
        return f"{self.tool} where " + " and ".join(f"{name} {c.describe()}" for name, c in named)

    def to_json(self) -> str:
        if self.exact:
            return canonical_json({"tool": self.tool, "digest": self.digest, "arguments": self.arguments})
        return canonical_json({"tool": self.tool, "where": {n: c.to_json() for n, c in self.where}})

    @classmethod
    def from_json(cls, text: str) -> Match:
        """A match as `to_json` wrote it. Raises ValueError for anything else."""
        data = json.loads(text)
        if not isinstance(data, dict) or not isinstance(data.get("tool"), str):
            raise ValueError("not a rule's match")
        if "digest" in data:
            return cls(tool=data["tool"], digest=str(data["digest"]), arguments=str(data.get("arguments") or ""))
        where = data.get("where")
        if not isinstance(where, dict):
            raise ValueError("a rule's match has neither a digest nor conditions")
        conditions = []
        for name, raw in sorted(where.items()):
            if not isinstance(raw, dict) or raw.get("op") not in OPS:
                raise ValueError(f"bad condition on {name}")
            op = cast(Op, raw["op"])
            value = raw.get("value")
            if op == "one_of":
                if not isinstance(value, list):
                    raise ValueError(f"bad values of one of on {name}")
                value = tuple(value)
            conditions.append((str(name), Condition(op, value)))
        return cls(tool=data["tool"], where=tuple(conditions))


def exact_match(tool: str, arguments: Any) -> Match:
    """A match of exactly these arguments."""
    return Match(tool=tool, digest=digest_of(arguments), arguments=canonical_json(arguments))


@dataclass(frozen=True, slots=True)
class Rule:
    """A live (or ended) rule as the store keeps it."""

    id: str
    scope: Scope
    channel: str  # the channel whose runs it applies to (the run's channel for a run rule)
    run: str  # the run it applies to ("" for a channel rule)
    match: Match
    created_by: str
    created_at: float
    expires_at: float
    uses: int = 0
    approval: str = ""  # the card it was created from, if any
    revoked_by: str = ""
    revoked_at: float = 0.0

    def live(self, now: float) -> bool:
        return not self.revoked_at and self.expires_at > now

    def applies_to(self, run: str) -> bool:
        return self.scope == "channel" or self.run == run

    def approves(self, *, run: str, tool: str, arguments: Any, digest: str, now: float) -> bool:
        return self.live(now) and self.applies_to(run) and self.match.matches(tool, arguments, digest)

    def to_fields(self) -> dict[str, str]:
        return {
            "id": self.id,
            "scope": self.scope,
            "channel": self.channel,
            "run": self.run,
            "tool": self.match.tool,
            "match": self.match.to_json(),
            "created_by": self.created_by,
            "created_at": repr(self.created_at),
            "expires_at": repr(self.expires_at),
            "uses": str(self.uses),
            "approval": self.approval,
            "revoked_by": self.revoked_by,
            "revoked_at": repr(self.revoked_at) if self.revoked_at else "",
        }

    @classmethod
    def from_fields(cls, raw: Mapping[str, str]) -> Rule:
        """Raises ValueError (or KeyError) for a hash that is not a rule."""
        scope = raw["scope"]
        if scope not in SCOPES:
            raise ValueError(f"bad scope {scope!r}")
        return cls(
            id=raw["id"],
            scope=scope,
            channel=raw.get("channel") or "",
            run=raw.get("run") or "",
            match=Match.from_json(raw["match"]),
            created_by=raw.get("created_by") or "",
            created_at=float(raw.get("created_at") or 0),
            expires_at=float(raw["expires_at"]),
            uses=int(raw.get("uses") or 0),
            approval=raw.get("approval") or "",
            revoked_by=raw.get("revoked_by") or "",
            revoked_at=float(raw.get("revoked_at") or 0),
        )


# ---------------------------------------------------------------------------- checking against a schema


def properties_of(schema: Mapping[str, Any]) -> dict[str, Any]:
    props = schema.get("properties")
    return dict(props) if isinstance(props, Mapping) else {}


def problems(match: Match, schema: Mapping[str, Any]) -> list[str]:
    """Why `match` cannot be a rule of a tool with this JSON schema of its arguments (none: it can).
    Exact arguments must pass the schema; every condition must name an argument of the schema, and its
    values must pass that argument's schema (a prefix or suffix needs a string argument, at most a
    number)."""
    if match.exact:
        if len(match.arguments) > MAX_ARGUMENTS_CHARS:
            return [f"the arguments are longer than {MAX_ARGUMENTS_CHARS} characters"]
        try:
            arguments = json.loads(match.arguments)
        except ValueError:
            return ["the arguments are not JSON"]
        if digest_of(arguments) != match.digest:
            return ["the arguments do not have the rule's digest"]
        problem = schema_problem(arguments, schema)
        return [f"the arguments fail the schema of {match.tool}: {problem}"] if problem else []
    props = properties_of(schema)
    found: list[str] = []
    for name, condition in match.where:
        if name not in props:
            found.append(f"{name}: {match.tool} has no such argument")
            continue
        found += [f"{name}: {p}" for p in _condition_problems(condition, props[name])]
    return found


def _condition_problems(condition: Condition, prop: Any) -> list[str]:
    prop_schema = prop if isinstance(prop, Mapping) else {}
    types = _types(prop_schema)
    if condition.op == "any":
        return []
    if condition.op in ("equals", "one_of"):
        values = condition.value if condition.op == "one_of" else (condition.value,)
        if condition.op == "one_of" and not 1 <= len(values) <= MAX_ONE_OF:
            return [f"one of needs 1 to {MAX_ONE_OF} values"]
        out = []
        for value in values:
            problem = schema_problem(value, prop_schema)
            if problem:
                out.append(f"{_shown(value)} fails the argument's schema ({problem})")
        return out
    if condition.op in ("starts_with", "ends_with"):
        if types and "string" not in types:
            return [f"{condition.op.replace('_', ' ')} needs a text argument, and this one is {'/'.join(types)}"]
        if not isinstance(condition.value, str) or not condition.value:
            return [f"{condition.op.replace('_', ' ')} needs some text"]
        return []
    if types and not {"number", "integer"} & set(types):
        return [f"at most needs a number argument, and this one is {'/'.join(types)}"]
    if not _is_number(condition.value) or not math.isfinite(condition.value):
        return ["at most needs a number"]
    return []


def _types(prop: Mapping[str, Any]) -> list[str]:
    kind = prop.get("type")
    if isinstance(kind, str):
        return [kind]
    if isinstance(kind, list):
        return [str(k) for k in kind]
    found: list[str] = []
    for option in prop.get("anyOf") or prop.get("oneOf") or ():
        if isinstance(option, Mapping):
            found += _types(option)
    return found


def condition_from_text(op: Op, text: str, prop: Mapping[str, Any]) -> Condition | str:
    """A condition from what a person typed in the form, read by the argument's type (a text argument
    takes the text as is; any other takes JSON). A string says what is wrong."""
    if op == "any":
        return Condition("any")
    if len(text) > MAX_VALUE_CHARS * (MAX_ONE_OF if op == "one_of" else 1):
        return f"is too long (at most {MAX_VALUE_CHARS} characters a value)"
    texts = [line.strip() for line in text.splitlines() if line.strip()] if op == "one_of" else [text]
    if op in ("starts_with", "ends_with"):
        return Condition(op, text) if text else "needs some text"
    if op == "at_most":
        try:
            number = float(text.strip())
        except ValueError:
            return f"needs a number, not {_shown(text)}"
        if not math.isfinite(number):
            return "needs a finite number"
        return Condition("at_most", int(number) if number.is_integer() else number)
    values = []
    for one in texts:
        value = _typed_value(one, prop)
        if isinstance(value, _Bad):
            return value.why
        values.append(value)
    if op == "equals":
        return Condition("equals", values[0] if values else "")
    if not values:
        return "needs at least one value"
    return Condition("one_of", tuple({canonical_json(v): v for v in values}.values()))


@dataclass(frozen=True, slots=True)
class _Bad:
    why: str


def _typed_value(text: str, prop: Mapping[str, Any]) -> Any:
    types = _types(prop)
    if "string" in types:
        return text
    try:
        return json.loads(text)
    except ValueError:
        return text if not types else _Bad(f"needs a JSON value ({'/'.join(types)}), not {_shown(text)}")


def value_text(value: Any) -> str:
    """How a form shows an argument's value: text as is, anything else as JSON."""
    return value if isinstance(value, str) else canonical_json(value)


_EMAIL = re.compile(r"^[^@\s]{1,200}(@[A-Za-z0-9.-]{1,200}\.[A-Za-z]{2,63})$")
_URL = re.compile(r"^(https?://[^/\s?#]{1,200}/)")


def proposed_condition(value: Any, offered: Sequence[Op]) -> Condition:
    """The rule a reviewer most likely means for one argument of a call, among the `offered` ops: an email
    address "ends with @domain", a URL "starts with" its site, anything else (a number, an amount of money, a
    body or any free text) "equals" the call's. Never "any value" while something narrower is offered: a rule
    proposed from a body such as "wire 50000 USD to account 12345" must not approve every body; a reviewer who
    means any value chooses it."""
    if isinstance(value, str):
        email = _EMAIL.fullmatch(value)
        if email and "ends_with" in offered:
            return Condition("ends_with", email.group(1))
        url = _URL.match(value)
        if url and "starts_with" in offered:
            return Condition("starts_with", url.group(1))
    if "equals" in offered:
        return Condition("equals", value)
    return Condition("any")


# ------------------------------------------------------------------------------------------ helpers


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _canonical(value: Any) -> str | None:
    """The canonical JSON of a value (JSON equality: `true` is not `1`), None for what JSON cannot hold."""
    try:
        return canonical_json(value)
    except (TypeError, ValueError):
        return None


def _shown(value: Any) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, float) or value.is_integer() else repr(value)
    return text if len(text) <= 120 else text[:119] + "…"

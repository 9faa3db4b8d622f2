"""`python -m bot policy test`'s fixtures (bot/cli/policy.py): a YAML list of cases read as the requests the policies
see, each with what it should decide; a case that is not one is refused naming the file, the case and the key. A case
with `person:` is a person's vote, asked of the policies about who decides (`DeciderRequest`): `deny` or `none`."""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from bot.policy.bundle import PolicyBundle
from bot.policy.decide import DeciderRequest, PolicyRequest, Vote, workflow_of

CASE_KEYS = ("name", "principal", "agent", "run", "requester", "action", "channel", "kind", "args", "window", "time",
             "workflow", "team", "enterprise", "expect", "ids")
VOTE_KEYS = ("name", "person", "surface", "vote", "person_team", "person_enterprise", "requester", "asker", "policies",
             "action", "channel", "kind", "args", "time", "team", "enterprise", "expect", "ids")
OUTCOMES = ("allow", "deny", "ask", "none")
VOTES: tuple[Vote, ...] = ("approve", "reject", "revise")
_PRINCIPAL = re.compile(r'(Agent|Run)::"([^"\\]+)"')
_MONDAY = 1704067200  # 2024-01-01 00:00 UTC, a Monday: fixture times are counted from it


class FixtureError(ValueError):
    """A fixture file that cannot be read as cases; the message names the file, the case and the key."""


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    request: PolicyRequest | DeciderRequest  # an ask, or a person's vote
    windows: dict[str, int]
    expect: str
    ids: tuple[str, ...] | None


def load_cases(path: Path, bundle: PolicyBundle) -> list[Case]:
    """The cases of a fixture file (module docstring), their windows checked against `bundle`'s."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError) as exc:
        raise FixtureError(f"{path}: cannot be read ({type(exc).__name__})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise FixtureError(f"{path}{line}: not YAML ({getattr(exc, 'problem', None) or exc})") from None
    if not isinstance(document, list) or not document:
        raise FixtureError(f"{path}: a list of cases is expected (- name: ..., action: ..., expect: ...)")
    cases = []
    for number, raw in enumerate(document, 1):
        name = raw.get("name") if isinstance(raw, dict) else None
        where = f"{path}: case {number}" + (f" ({name})" if isinstance(name, str) else "")
        try:
            cases.append(_case(raw, bundle, default_name=f"case {number}"))
        except ValueError as exc:
            raise FixtureError(f"{where}: {exc}") from None
    return cases


def _workflow(raw: Any) -> dict[str, str]:
    """A case's `workflow: {engine, type, id}` (the durable workflow that asks), as `context.workflow`."""
    if raw is None:
        return workflow_of("")
    if not isinstance(raw, dict) or not all(isinstance(v, str) for v in raw.values()):
        raise ValueError("workflow is a mapping of engine, type and id (text)")
    unknown = sorted(set(raw) - {"engine", "type", "id"})
    if unknown:
        raise ValueError(f"workflow: unknown key {unknown[0]!r} (known: engine, type, id)")
    return workflow_of(json.dumps(raw))


def _case(raw: Any, bundle: PolicyBundle, *, default_name: str) -> Case:
    if not isinstance(raw, dict):
        raise ValueError("a mapping is expected (name, agent, action, args, expect...)")
    if "person" in raw:
        return _vote(raw, default_name=default_name)
    unknown = sorted(set(map(str, raw)) - set(CASE_KEYS))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (known: {', '.join(CASE_KEYS)})")
    text = {key: _text(raw, key) for key in ("name", "principal", "agent", "run", "requester", "action", "channel",
                                             "kind", "expect", "team", "enterprise")}
    kind_of, principal = _principal(text)
    action = text["action"]
    if not action:
        raise ValueError("action is missing (the tool's name, \"message\" or \"code\")")
    if text["expect"] not in OUTCOMES:
        raise ValueError(f"expect: use {', '.join(OUTCOMES)}")
    args, ids = _args(raw), _ids(raw.get("ids"))
    request = PolicyRequest(
        principal_type="Agent" if kind_of == "Agent" else "Run", principal=principal, action=action,
        channel=text["channel"] or "C0ANY", kind=_kind(text["kind"], action), args=args,
        requester=text["requester"], at=_moment(raw.get("time")),
        workflow=_workflow(raw.get("workflow")), team=text["team"], enterprise=text["enterprise"],
    )
    return Case(text["name"] or default_name, request, _windows(raw.get("window"), bundle, action), text["expect"],
                ids)


def _vote(raw: dict[Any, Any], *, default_name: str) -> Case:
    """A person's vote (`person:`), as the policies about who decides see it: `deny` or `none` expected."""
    unknown = sorted(set(map(str, raw)) - set(VOTE_KEYS))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} in a vote (person: ...; known: {', '.join(VOTE_KEYS)})")
    text = {key: _text(raw, key) for key in VOTE_KEYS if key not in ("args", "time", "policies", "ids")}
    if not text["person"] or not text["action"]:
        raise ValueError("a vote names its person (a Slack user id, or teams:<object id>) and its action")
    surface, vote, expect = _vote_words(text)
    args, policies = _args(raw), raw.get("policies", [])
    if not isinstance(policies, list) or not all(isinstance(i, str) for i in policies):
        raise ValueError("policies is a list of policy ids")
    action = text["action"]
    request = DeciderRequest(
        person=text["person"], surface=surface, action=action, channel=text["channel"] or "C0ANY",
        vote=next(v for v in VOTES if v == vote), kind=_kind(text["kind"], action), args=args,
        person_team=text["person_team"], person_enterprise=text["person_enterprise"], requester=text["requester"],
        asker=text["asker"], policies=tuple(policies), team=text["team"], enterprise=text["enterprise"],
        at=_moment(raw.get("time")))
    return Case(text["name"] or default_name, request, {}, expect, _ids(raw.get("ids")))


def _vote_words(text: dict[str, str]) -> tuple[str, str, str]:
    """A vote's surface (slack when not given), vote (approve when not given) and what is expected of it."""
    surface, vote, expect = text["surface"] or "slack", text["vote"] or "approve", text["expect"]
    if surface not in ("slack", "teams"):
        raise ValueError("surface: use slack or teams")
    if vote not in VOTES:
        raise ValueError(f"vote: use {', '.join(VOTES)}")
    if expect not in ("deny", "none"):
        raise ValueError("expect: a vote is refused (deny) or not (none)")
    return surface, vote, expect


def _args(raw: dict[Any, Any]) -> dict[Any, Any]:
    """A case's `args`: the call's arguments (none when not given)."""
    args = raw.get("args", {})
    if not isinstance(args, dict):
        raise ValueError("args is a mapping of the call's arguments")
    return args


def _kind(given: str, action: str) -> str:
    """A case's kind of request: as given, else the action's own (`message`, `code`) or a tool call."""
    return given or (action if action in ("message", "code") else "tool_call")


def _principal(text: dict[str, str]) -> tuple[str, str]:
    """Whom a case asks for, given once (`principal: Agent::"name"`, `agent: name` or `run: id`): its type and
    name."""
    given = [key for key in ("principal", "agent", "run") if text[key]]
    if len(given) != 1:
        raise ValueError("give the principal once: principal: 'Agent::\"name\"', agent: name or run: id")
    if text["principal"]:
        found = _PRINCIPAL.fullmatch(text["principal"])
        if found is None:
            raise ValueError(f"principal {text['principal']!r}: use Agent::\"<key name>\" or Run::\"<run id>\"")
        return found[1], found[2]
    return ("Agent", text["agent"]) if text["agent"] else ("Run", text["run"])


def _ids(raw: Any) -> tuple[str, ...] | None:
    """A case's `ids`: the policy ids it expects to decide, sorted (None: not given)."""
    if raw is None:
        return None
    if not isinstance(raw, list) or not all(isinstance(i, str) for i in raw):
        raise ValueError("ids is a list of policy ids")
    return tuple(sorted(raw))


def _text(raw: dict[str, Any], key: str) -> str:
    value = raw.get(key, "")
    if value is None or isinstance(value, bool) or not isinstance(value, str | int):
        raise ValueError(f"{key} is a text")
    return str(value).strip()


def _windows(raw: Any, bundle: PolicyBundle, action: str) -> dict[str, int]:
    """The totals the case gives, over 0 for each window of `bundle` that applies to `action` (as engine.py)."""
    declared = {spec.name: spec for spec in bundle.windows}
    totals = {name: 0 for name, spec in declared.items() if spec.actions is None or action in spec.actions}
    if raw is None:
        return totals
    if not isinstance(raw, dict):
        raise ValueError("window is a mapping of window name: total")
    for name, total in raw.items():
        if name not in declared:
            raise ValueError(f"window {name!r} is not declared in the bundle's policy.yaml"
                             f" ({', '.join(declared) or 'none declared'})")
        if isinstance(total, bool) or not isinstance(total, int):
            raise ValueError(f"window {name}: a whole number is expected")
        totals[str(name)] = total
    return totals


def _moment(raw: Any) -> float:
    """The time a case is asked at: `time: {hour_utc, weekday}` (each defaulting to now's) in a week of 2024."""
    if raw is None:
        return time.time()
    now = time.gmtime()
    if not isinstance(raw, dict) or set(map(str, raw)) - {"hour_utc", "weekday"}:
        raise ValueError("time is {hour_utc: 0-23, weekday: 1-7 (Monday 1)}")
    hour, day = raw.get("hour_utc", now.tm_hour), raw.get("weekday", now.tm_wday + 1)
    if not all(isinstance(n, int) and not isinstance(n, bool) for n in (hour, day)) or not (
            0 <= hour <= 23 and 1 <= day <= 7):
        raise ValueError("time is {hour_utc: 0-23, weekday: 1-7 (Monday 1)}")
    return float(_MONDAY + (day - 1) * 86400 + hour * 3600 + 1800)

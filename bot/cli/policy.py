"""`python -m bot policy …`: a policy bundle (bot/policy/) checked, tested, replayed against history, and one
approval's decision explained. `--dir` is the bundle's folder (default: POLICY_DIR; neither: the shipped defaults).

    python -m bot policy check [--dir DIR]              load it: its hash, policies and windows (exit 2 naming
                                                        file:line when it does not load)
    python -m bot policy test FIXTURES [--dir DIR]      each case's expected outcome (exit 1 naming each mismatch)
    python -m bot policy replay [--since 30d] [--dir CANDIDATE] [--format text|json] [--rows 50]
                                                        re-decide the asks of the audit log with the candidate: the
                                                        outcomes that change, and the totals
    python -m bot policy explain APPROVAL_ID [--dir DIR]
                                                        which policies decided, with which values and windows, and
                                                        what the bundle decides today

`replay` and `explain` read Redis: they need only REDIS_URL (and REDIS_KEY_PREFIX). Exit 2: a bad argument,
fixture or bundle; 1: a mismatch (test), or Redis or what was asked for not found.

FIXTURES is a YAML list of cases, each the request the policies see and what they should decide:

    - name: a small refund is allowed
      agent: support-bot              # or principal: 'Agent::"support-bot"', or run: r123 (with requester)
      action: refund                  # the tool's name, "message" or "code"
      args: {order: A-1, amount_cents: 2000}
      window: {refunds_24h: 10000}    # totals the windows of policy.yaml read (default 0)
      expect: allow                   # allow, deny, ask or none (no policy applies)
      ids: [refunds-within-budget]    # optional: the policies that decide
    - name: the bot's own run, on a Saturday night
      run: r123
      requester: U0ALICE
      action: refund
      channel: C0SALES                # default C0ANY
      kind: tool_call                 # default tool_call (message, code: the action's own)
      args: {amount_cents: 2000}
      time: {hour_utc: 3, weekday: 6}  # 1 Monday ... 7 Sunday; default now
      team: T0EU                      # the workspace it comes from (context.team; default ""), and its
      enterprise: E0ORG               # Enterprise Grid organisation (context.enterprise; default "")
      expect: ask
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sys
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import yaml
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.durations import format_duration
from bot.core.settings import NamingSettings, SettingsError, StoreSettings
from bot.policy.bundle import PolicyBundle, PolicyError, load_bundle
from bot.policy.decide import Evaluator, PolicyRequest, PolicyVerdict, workflow_of
from bot.policy.replay import ASKED, Explanation, Replayed, explain, recorded_asks, replay
from bot.policy.windows import WindowSpec
from bot.report.audit_export import CONTROLS, iso_utc
from bot.report.cli import ReportError, check_since
from bot.slack.directory import Directory
from bot.store import Store, StoreUnavailable, connect

CASE_KEYS = ("name", "principal", "agent", "run", "requester", "action", "channel", "kind", "args", "window", "time",
             "workflow", "team", "enterprise", "expect", "ids")
OUTCOMES = ("allow", "deny", "ask", "none")
ASKS = (*ASKED, "decision")  # the entries a replay reads
_PRINCIPAL = re.compile(r'(Agent|Run)::"([^"\\]+)"')
T = TypeVar("T")
_MONDAY = 1704067200  # 2024-01-01 00:00 UTC, a Monday: fixture times are counted from it


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `python -m bot policy` (its parser: this module's docstring as its description, raw)."""
    sub = parser.add_subparsers(dest="action", required=True)
    check = sub.add_parser("check", help="load the bundle: its hash and policies, or the error at file:line")
    test = sub.add_parser("test", help="check each fixture's expected outcome (exit 1 naming each mismatch)",
                          description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    test.add_argument("fixtures", help="a YAML file of cases (see above)")
    again = sub.add_parser("replay", help="re-decide the audit log's asks with a candidate bundle: what changes")
    again.add_argument("--since", default="30d", help="how far back: 90s, 15m, 12h, 7d, 30d... (default 30d)")
    again.add_argument("--format", choices=("text", "json"), default="text", help="output (default text)")
    again.add_argument("--rows", type=_count, default=50, help="changes listed at most (text; default 50)")
    why = sub.add_parser("explain", help="which policies decided an approval, with which values and windows")
    why.add_argument("approval_id")
    for command in (check, test, again, why):
        command.add_argument("--dir", dest="directory", default=None,
                             help="the bundle's folder (*.cedar, policy.yaml; default $POLICY_DIR)")


def _count(text: str) -> int:
    if not (text.isascii() and text.isdigit()):
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number")
    return int(text)


def policy_command(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None) -> int:
    """`python -m bot policy …` with its parsed arguments; POLICY_DIR, REDIS_URL and REDIS_KEY_PREFIX from `environ`
    (the environment when None). Returns an exit code."""
    try:
        settings = StoreSettings.from_env(environ)
        directory = args.directory if args.directory is not None else settings.policy_dir
        since = check_since(args.since) if args.action == "replay" else 0
        bundle = load_bundle(directory or None)
        if args.action == "check":
            return _check(bundle) or asyncio.run(_check_groups(bundle, NamingSettings.from_env(environ)))
        if args.action == "test":
            return _test(bundle, Path(args.fixtures))
    except (PolicyError, ReportError, SettingsError, FixtureError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        if args.action == "replay":
            return asyncio.run(_replay(settings, bundle, since=since, fmt=args.format, rows=args.rows))
        return asyncio.run(_explain(settings, bundle, args.approval_id))
    except NotFound as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except StoreUnavailable as exc:
        print(f"error: cannot read Redis where REDIS_URL points ({exc.cause}); is it"
              " running there, with the right password?", file=sys.stderr)
        return 1


def shown(value: Any) -> str:
    """Text from the log or a program, safe to print: control characters replaced."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return CONTROLS.sub("\ufffd", text)


def describe_window(spec: WindowSpec) -> str:
    what = f"sum of {spec.sum}" if spec.sum else "count of calls"
    only = f", only {', '.join(spec.actions)}" if spec.actions is not None else ""
    return f"{what} per {', '.join(spec.per)} over {format_duration(spec.over)}{only}"


def _verdict_text(verdict: PolicyVerdict) -> str:
    if not verdict.decided:
        return "none (no policy applies)"
    ids = f" (policies {', '.join(verdict.ids)})" if verdict.ids else ""
    return f"{verdict.outcome}{ids}" + (f": {verdict.reason}" if verdict.error else "")


# check -----------------------------------------------------------------------------------------------------


def _check(bundle: PolicyBundle) -> int:
    source = bundle.directory or "the shipped defaults alone (no --dir, POLICY_DIR unset)"
    print(f"bundle {bundle.hash}: {len(bundle.policies)} policies from {source} ({', '.join(bundle.files)})")
    for policy in bundle.policies.values():
        routing = [f"approvers {','.join(policy.approvers)}" if policy.approvers else "",
                   f"quorum {policy.quorum}" if policy.quorum else "", f"channel {policy.channel}" if policy.channel
                   else "", f"timeout {format_duration(policy.timeout)}" if policy.timeout is not None else "",
                   "step_up" if policy.step_up else "", "shadow" if policy.shadow else ""]
        notes = "; ".join(part for part in routing if part)
        print(f"  {policy.id}  {policy.outcome}  {policy.file}:{policy.line}" + (f"  [{notes}]" if notes else "")
              + (f"  {policy.reason}" if policy.reason else ""))
    for spec in bundle.windows:
        print(f"  window {spec.name}: {describe_window(spec)}")
    return 0


async def _check_groups(bundle: PolicyBundle, slack_settings: NamingSettings) -> int:
    """The user groups @approvers names, asked of Slack when SLACK_BOT_TOKEN is set (SLACK_API_URL: where): 1 when
    one does not exist (its asks could be decided by nobody)."""
    named = [group for policy in bundle.policies.values() for group in policy.approvers if group.startswith("S")]
    if not named:
        return 0
    token = slack_settings.slack_bot_token
    if token is None:
        print("  user groups not checked with Slack (set SLACK_BOT_TOKEN, and SLACK_API_URL if not slack.com): "
              + ", ".join(dict.fromkeys(named)))
        return 0
    slack = AsyncWebClient(token=token.get_secret_value(), base_url=slack_settings.slack_api_url)
    missing, unchecked = await Directory(slack).missing_groups(named)
    for group in missing:
        ids = [p.id for p in bundle.policies.values() if group in p.approvers]
        print(f"error: @approvers names user group {group}, which Slack does not know (policy {', '.join(ids)}):"
              " nobody could decide its asks", file=sys.stderr)
    if unchecked:
        print(f"  user groups not all checked with Slack: {unchecked}")
    elif not missing:
        print(f"  user groups checked with Slack: {', '.join(dict.fromkeys(named))}")
    return 1 if missing else 0


# test ------------------------------------------------------------------------------------------------------


class FixtureError(ValueError):
    """A fixture file that cannot be read as cases; the message names the file, the case and the key."""


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    request: PolicyRequest
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
    unknown = sorted(set(map(str, raw)) - set(CASE_KEYS))
    if unknown:
        raise ValueError(f"unknown key {unknown[0]!r} (known: {', '.join(CASE_KEYS)})")
    text = {key: _text(raw, key) for key in ("name", "principal", "agent", "run", "requester", "action", "channel",
                                             "kind", "expect", "team", "enterprise")}
    given = [key for key in ("principal", "agent", "run") if text[key]]
    if len(given) != 1:
        raise ValueError("give the principal once: principal: 'Agent::\"name\"', agent: name or run: id")
    if text["principal"]:
        found = _PRINCIPAL.fullmatch(text["principal"])
        if found is None:
            raise ValueError(f"principal {text['principal']!r}: use Agent::\"<key name>\" or Run::\"<run id>\"")
        kind_of, principal = found[1], found[2]
    else:
        kind_of, principal = ("Agent", text["agent"]) if text["agent"] else ("Run", text["run"])
    action = text["action"]
    if not action:
        raise ValueError("action is missing (the tool's name, \"message\" or \"code\")")
    if text["expect"] not in OUTCOMES:
        raise ValueError(f"expect: use {', '.join(OUTCOMES)}")
    args = raw.get("args", {})
    if not isinstance(args, dict):
        raise ValueError("args is a mapping of the call's arguments")
    ids = raw.get("ids")
    if ids is not None and (not isinstance(ids, list) or not all(isinstance(i, str) for i in ids)):
        raise ValueError("ids is a list of policy ids")
    request = PolicyRequest(
        principal_type="Agent" if kind_of == "Agent" else "Run", principal=principal, action=action,
        channel=text["channel"] or "C0ANY",
        kind=text["kind"] or (action if action in ("message", "code") else "tool_call"),
        args=args, requester=text["requester"], at=_moment(raw.get("time")),
        workflow=_workflow(raw.get("workflow")), team=text["team"], enterprise=text["enterprise"],
    )
    return Case(text["name"] or default_name, request, _windows(raw.get("window"), bundle, action), text["expect"],
                tuple(sorted(ids)) if ids is not None else None)


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


def _test(bundle: PolicyBundle, path: Path) -> int:
    cases = load_cases(path, bundle)
    evaluator = Evaluator(bundle)
    wrong = 0
    for case in cases:
        verdict = evaluator.evaluate(case.request, case.windows)
        expected = case.expect + (f" ({', '.join(case.ids)})" if case.ids is not None else "")
        if verdict.outcome == case.expect and (case.ids is None or verdict.ids == case.ids):
            print(f"ok        {shown(case.name)}: {_verdict_text(verdict)}")
        else:
            wrong += 1
            print(f"MISMATCH  {shown(case.name)}: expected {expected}, got {_verdict_text(verdict)}")
    print(f"{len(cases)} cases: {len(cases) - wrong} ok, {wrong} mismatched (bundle {bundle.short_hash})")
    return 1 if wrong else 0


# replay and explain (Redis) --------------------------------------------------------------------------------


class NotFound(Exception):
    """What `replay` or `explain` reads is not in Redis (exit 1)."""


async def _read(settings: StoreSettings, reading: Callable[[Store], Awaitable[T]]) -> T:
    """`reading(store)` with the bot's store; NotFound when there is no audit log under its prefix."""
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    store = Store(redis, prefix=settings.store_prefix)
    try:
        if not await store.audit.exists():
            raise NotFound(f"no audit log found under the key prefix {store.keys.prefix!r} (is REDIS_KEY_PREFIX the"
                           " bot's, and REDIS_URL its Redis?)")
        return await reading(store)
    finally:
        await redis.aclose()


async def _replay(settings: StoreSettings, bundle: PolicyBundle, *, since: int, fmt: str, rows: int) -> int:
    start = time.time() - since
    warm = start - max((spec.over for spec in bundle.windows), default=0)  # the windows' history before the period

    async def entries(store: Store) -> list[dict[str, str]]:
        return [entry async for entry in store.audit.export(since=warm) if entry.get("event") in ASKS]

    found = await _read(settings, entries)
    result = replay(recorded_asks(found), Evaluator(bundle), since=start)
    if fmt == "json":
        print(json.dumps({"bundle": bundle.hash, "since": start, "asks": result.asks, "changed": len(result.rows),
                          "skipped": result.skipped, "before": dict(result.before), "after": dict(result.after),
                          "rows": [{"approval": r.approval, "at": r.at, "principal": r.principal,
                                    "action": r.action, "before": r.before, "after": r.after, "ids": list(r.ids),
                                    "reason": r.reason} for r in result.rows]}))
        return 0
    print(f"replayed {result.asks} asks since {iso_utc(repr(start))} with bundle {bundle.short_hash}"
          f" ({bundle.directory or 'the shipped defaults'})")
    _table(result, rows)
    if result.skipped:
        print(f"{result.skipped} tool calls not replayed: their arguments were too long to be audited")
    print(totals_line(result))
    return 0


def _table(result: Replayed, limit: int) -> None:
    if not result.rows:
        print("no outcome changes")
        return
    lines = [("at (UTC)", "approval", "principal", "action", "before", "after")]
    for row in result.rows[:limit]:
        after = f"{row.after} (policy {', '.join(row.ids)})" if row.ids else (
            "none (rules, mode or a person)" if row.after == "none" else row.after)
        lines.append((iso_utc(repr(row.at)), row.approval, shown(row.principal), shown(row.action), row.before,
                      shown(after)))
    widths = [max(len(line[i]) for line in lines) for i in range(len(lines[0]))]
    for line in lines:
        print("  ".join(cell.ljust(width) for cell, width in zip(line, widths, strict=True)).rstrip())
    if len(result.rows) > limit:
        print(f"… {len(result.rows) - limit} more")


def totals_line(result: Replayed) -> str:
    """"allow 120 → 80, ask 10 → 50, deny 0 → 0; 40 of 130 asks change"."""
    shown_outcomes = [o for o in ("allow", "ask", "deny", "none") if o != "none" or result.before[o] or result.after[o]]
    parts = ", ".join(f"{o} {result.before[o]} → {result.after[o]}" for o in shown_outcomes)
    return f"{parts}; {len(result.rows)} of {result.asks} asks change"


async def _explain(settings: StoreSettings, bundle: PolicyBundle, approval_id: str) -> int:
    async def read(store: Store) -> Explanation:
        record = await store.approvals.get(approval_id)
        start = record.created_at - 60 if record is not None else 0.0
        entries = [e async for e in store.audit.export(since=start) if e.get("approval") == approval_id]
        if record is None and not entries:
            raise NotFound(f"no approval {approval_id!r} in Redis or its audit log")
        try:
            return explain(record, entries, bundle)
        except ValueError as exc:
            raise NotFound(f"approval {approval_id}: {exc}") from None

    for line in explanation_lines(await _read(settings, read)):
        print(line)
    return 0


def explanation_lines(it: Explanation) -> list[str]:
    """An explanation as the operator reads it."""
    ask, request = it.ask, it.ask.request
    moment = it.context["time"]
    lines = [
        f"approval {ask.approval}: {shown(request.per['principal'])} asked {shown(request.action)} in"
        f" {shown(request.channel)} at {iso_utc(repr(request.at))} ({request.kind})",
        f"  requester  {shown(request.requester) or '(none)'}",
        f"  workspace  {shown(request.team) or '(the home one)'}" + (f" of {shown(request.enterprise)}"
                                                                    if request.enterprise else ""),
        f"  args       {shown(request.args) if ask.args_recorded else '(too long to be audited)'}",
        f"  time       hour_utc {moment['hour_utc']}, weekday {moment['weekday']}",
    ]
    for name, total, spec in it.windows:
        lines.append(f"  window     {name} = {total}" + (f" ({describe_window(spec)})" if spec else
                                                         " (not declared in the active bundle)"))
    then = ask.bundle[:12] or "(none recorded)"
    same = "the active bundle" if it.same_bundle else f"the active bundle is {it.bundle.short_hash}"
    lines.append(f"decided then: {ask.describe()}, bundle {then} ({same})")
    for policy_id, policy, reason in it.policies:
        if policy is None:
            lines.append(f"  {shown(policy_id)}: not in the active bundle")
            continue
        notes = [f"approvers {','.join(policy.approvers)}" if policy.approvers else "",
                 f"quorum {policy.quorum}" if policy.quorum else "",
                 f"channel {policy.channel}" if policy.channel else "",
                 "step_up: each Approve needs the voter's passkey" if policy.step_up else "",
                 "shadow" if policy.shadow else ""]
        lines.append(f"  {policy.id}  {policy.effect} → {policy.outcome}  {policy.file}:{policy.line}"
                     + "".join(f"; {note}" for note in notes if note))
        if policy.reason:
            lines.append(f"    reason  {shown(policy.reason)}  →  {shown(reason)}")
    if it.record is not None and it.record.policy_reason:
        lines.append(f"  reason given then: {shown(it.record.policy_reason)}")
    if it.record is not None and it.record.step_up:
        by = "the policy's @step_up" if it.record.step_up == "policy" else "the channel's `step_up always`"
        lines.append(f"step-up: required by {by}; each Approve counted only once the voter's passkey confirmed it")
    lines.append("history:")
    for entry in it.history:
        said = entry.get("feedback") or entry.get("rule") or entry.get("reason") or ""
        lines.append(f"  {iso_utc(entry.get('at', ''))}  {entry.get('event', '')}"
                     + (f" {entry['outcome']}" if entry.get("outcome") else "")
                     + (f" by {shown(entry['by'])}" if entry.get("by") else "")
                     + (f", would {entry['would']}" if entry.get("would") else "")
                     + (f", confirmed by passkey {entry['passkey'][:12]}… ({entry.get('amr', '')})"
                        if entry.get("passkey") else "")
                     + (f": {shown(said)[:200]}" if said else ""))
    verdict = _verdict_text(it.today)
    if it.same_today:
        lines.append(f"today: the active bundle {it.bundle.short_hash}, with the values of then, decides the same:"
                     f" {verdict}")
    else:
        own = any(it.bundle.policies[policy_id].reason for policy_id in it.today.ids)  # else the reason is the ids
        lines.append(f"today: the active bundle {it.bundle.short_hash}, with the values of then, decides otherwise:"
                     f" {verdict}"
                     + (f" ({shown(it.today.reason)})" if own and not it.today.error else ""))
    return lines

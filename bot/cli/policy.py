"""`python -m bot policy …`: a policy bundle (bot/policy/) checked, tested, replayed against history, and one
approval's decision explained. `--dir` is the bundle's folder (default: POLICY_DIR; neither: the shipped defaults).

    python -m bot policy check [--dir DIR]              load it: its hash, policies and windows (exit 2 naming
                                                        file:line when it does not load); with MODEL_CONFIG set,
                                                        each @triage must name one of its models (as at a worker's
                                                        start)
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
    - name: a person's vote (a policy about who decides: principal is Person)
      person: U0BOB                   # the voter: a Slack user id, or teams:<object id>
      surface: teams                  # slack (default) or teams
      vote: approve                   # approve (default), reject or revise
      person_team: T0HOME             # principal.team, principal.enterprise as person_enterprise (default "")
      action: refund                  # the approval's tool, as at its ask; channel, kind, args, requester, time,
      args: {amount_cents: 2000000}   # team, enterprise as an ask's; asker: the key or run, policies: [ids] that asked
      expect: deny                    # deny (refused) or none
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Awaitable, Callable, Collection, Mapping
from pathlib import Path
from typing import Any, TypeVar

from slack_sdk.web.async_client import AsyncWebClient

from bot.cli.exits import failed
from bot.cli.policy_cases import FixtureError, load_cases
from bot.core.durations import format_duration
from bot.core.environment import PolicyCheckSettings
from bot.core.settings import NamingSettings, SettingsError, StoreSettings
from bot.policy.bundle import Policy, PolicyBundle, PolicyError, load_bundle
from bot.policy.decide import DeciderRequest, Evaluator, PolicyVerdict
from bot.policy.replay import ASKED, Explanation, Replayed, explain, recorded_asks, replay
from bot.policy.windows import WindowSpec
from bot.report.audit_export import CONTROLS, iso_utc
from bot.report.cli import ReportError, check_since
from bot.slack.directory import Directory
from bot.store import Store, StoreUnavailable, connect

ASKS = (*ASKED, "decision")  # the entries a replay reads
T = TypeVar("T")


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


ModelNames = Callable[[str], Collection[str]]  # MODEL_CONFIG's path: the names of its models (bot/__main__.py's)


def policy_command(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None,
                   models: ModelNames | None = None) -> int:
    """`python -m bot policy …` with its parsed arguments; POLICY_DIR, REDIS_URL and REDIS_KEY_PREFIX from `environ`
    (the environment when None); `models` reads MODEL_CONFIG's model names for `check` (None: not checked).
    Returns an exit code."""
    try:
        settings = StoreSettings.from_env(environ)
        directory = args.directory if args.directory is not None else settings.policy_dir
        since = check_since(args.since) if args.action == "replay" else 0
        named = _models(environ, models) if args.action == "check" else None
        bundle = load_bundle(directory or None, models=named)
        if args.action == "check":
            return _check(bundle) or asyncio.run(_check_groups(bundle, NamingSettings.from_env(environ)))
        if args.action == "test":
            return _test(bundle, Path(args.fixtures))
    except (PolicyError, ReportError, SettingsError, FixtureError) as exc:
        return failed(str(exc), 2)
    try:
        if args.action == "replay":
            return asyncio.run(_replay(settings, bundle, since=since, fmt=args.format, rows=args.rows))
        return asyncio.run(_explain(settings, bundle, args.approval_id))
    except NotFound as exc:
        return failed(str(exc), 1)
    except StoreUnavailable as exc:
        return failed(f"cannot read Redis where REDIS_URL points ({exc.cause}); is it"
                      " running there, with the right password?", 1)


def _models(environ: Mapping[str, str] | None, read: ModelNames | None) -> Collection[str] | None:
    """The models `@triage` may name: MODEL_CONFIG's, when it is set (None: not checked)."""
    path = PolicyCheckSettings.from_env(environ).model_config_path
    if not path or read is None:
        return None
    try:
        return read(path)
    except ValueError as exc:  # MODEL_CONFIG unreadable or not a model config (bot.runs.models.ModelConfigError)
        raise SettingsError(f"{exc} (policy check reads MODEL_CONFIG for the models @triage may name)") from None


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
                   "step_up" if policy.step_up else "", "shadow" if policy.shadow else "",
                   "at a vote: who decides" if policy.decider else ""]
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


def _test(bundle: PolicyBundle, path: Path) -> int:
    cases = load_cases(path, bundle)
    evaluator = Evaluator(bundle)
    wrong = 0
    for case in cases:
        verdict = evaluator.evaluate_vote(case.request) if isinstance(case.request, DeciderRequest) else (
            evaluator.evaluate(case.request, case.windows))
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
    store = Store(redis, prefix=settings.store_prefix, sharded=settings.store_sharded)
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
    return [*_asked_lines(it), *_decided_lines(it), "history:", *map(_history_line, it.history), _today_line(it)]


def _asked_lines(it: Explanation) -> list[str]:
    """What was asked: who, what, where and when, its arguments and the windows' totals then."""
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
    return lines


def _decided_lines(it: Explanation) -> list[str]:
    """How it was decided then: by which bundle, each policy that decided as the active bundle has it, the reason
    given and the step-up asked."""
    ask = it.ask
    then = ask.bundle[:12] or "(none recorded)"
    same = "the active bundle" if it.same_bundle else f"the active bundle is {it.bundle.short_hash}"
    lines = [f"decided then: {ask.describe()}, bundle {then} ({same})"]
    for policy_id, policy, reason in it.policies:
        lines.extend(_policy_lines(policy_id, policy, reason))
    if it.record is not None and it.record.policy_reason:
        lines.append(f"  reason given then: {shown(it.record.policy_reason)}")
    if it.record is not None and it.record.step_up:
        by = "the policy's @step_up" if it.record.step_up == "policy" else "the channel's `step_up always`"
        lines.append(f"step-up: required by {by}; each Approve counted only once the voter's passkey confirmed it")
    return lines


def _policy_lines(policy_id: str, policy: Policy | None, reason: str) -> list[str]:
    """A policy that decided, as the active bundle has it (None: not in it), and the reason it gave."""
    if policy is None:
        return [f"  {shown(policy_id)}: not in the active bundle"]
    notes = [f"approvers {','.join(policy.approvers)}" if policy.approvers else "",
             f"quorum {policy.quorum}" if policy.quorum else "",
             f"channel {policy.channel}" if policy.channel else "",
             "step_up: each Approve needs the voter's passkey" if policy.step_up else "",
             "shadow" if policy.shadow else ""]
    lines = [f"  {policy.id}  {policy.effect} → {policy.outcome}  {policy.file}:{policy.line}"
             + "".join(f"; {note}" for note in notes if note)]
    if policy.reason:
        lines.append(f"    reason  {shown(policy.reason)}  →  {shown(reason)}")
    return lines


def _history_line(entry: Mapping[str, str]) -> str:
    """An audit entry of the approval's history, on one line."""
    said = entry.get("feedback") or entry.get("rule") or entry.get("reason") or ""
    return (f"  {iso_utc(entry.get('at', ''))}  {entry.get('event', '')}"
            + (f" {entry['outcome']}" if entry.get("outcome") else "")
            + (f" by {shown(entry['by'])}" if entry.get("by") else "")
            + (f", would {entry['would']}" if entry.get("would") else "")
            + (f", confirmed by passkey {entry['passkey'][:12]}… ({entry.get('amr', '')})"
               if entry.get("passkey") else "")
            + (f": {shown(said)[:200]}" if said else ""))


def _today_line(it: Explanation) -> str:
    """What the active bundle decides today, with the values of then."""
    verdict = _verdict_text(it.today)
    if it.same_today:
        return (f"today: the active bundle {it.bundle.short_hash}, with the values of then, decides the same:"
                f" {verdict}")
    own = any(it.bundle.policies[policy_id].reason for policy_id in it.today.ids)  # else the reason is the ids
    return (f"today: the active bundle {it.bundle.short_hash}, with the values of then, decides otherwise:"
            f" {verdict}"
            + (f" ({shown(it.today.reason)})" if own and not it.today.error else ""))

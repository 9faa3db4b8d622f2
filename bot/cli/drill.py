"""`python -m bot freeze drill [--scope SCOPE] [--hold DURATION]`: evidence that the stop works (EU AI Act art.
14(4)(e)). A timed freeze and unfreeze of SCOPE (default `all`) through the freeze command's own code
(bot/cli/freeze.py: `freeze_scope`, `unfreeze_scope`, audited `frozen` and `unfrozen`), an ask in the scope put to the
decision chain's freeze link (bot/approvals/deciders/freeze.py, against the real store: what every way in asks)
before, during and after, and the timings recorded as a `freeze_drill` audit entry (by, scope, freeze_seconds:
from the freeze to an ask refused, unfreeze_seconds: from the unfreeze to an ask let through, refused_during) that
`python -m bot report oversight` shows.

It never leaves frozen a scope that was not: a scope already frozen by someone is refused (nothing changed), and so
is one whose asks are refused already (a wider scope frozen: the drill would prove nothing); SIGTERM or Ctrl-C during
it unfreezes before it ends; a drill killed outright (kill -9) leaves its freeze, which the next drill lifts first
(its reason names it a drill: `DRILL_MARK`), and the drill says at its start the command that lifts it by hand.
Asks of the scope that arrive while it is frozen are refused, as in any freeze: `--hold` keeps it frozen longer (to
watch the cards say it), and without it the freeze lasts milliseconds.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import secrets
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass

from agent_approvals.approver import ApprovalRequest

from bot.approvals import Ask, Decided, Freeze, Step
from bot.cli.exits import failed
from bot.cli.freeze import freeze_scope, unfreeze_scope
from bot.core.channel_options import read_settings
from bot.core.durations import DurationError, parse_duration
from bot.core.operators import Operator, operator_of
from bot.core.records import ApprovalRecord, RunRecord
from bot.core.settings import SettingsError, StoreSettings
from bot.store import Store, StoreUnavailable, connect
from bot.store.freezes import frozen_words, parse_scope

DRILL_MARK = "freeze drill"  # the drill's freeze reason starts with it: a freeze the next drill may lift
PROBE_CHANNEL = "C0FREEZEDRILL"  # the probe's channel when the scope is not a channel's
TAKES_EFFECT_WITHIN = 10.0  # seconds a freeze (or an unfreeze) has to show on an ask before the drill says it failed
MAX_HOLD = 600


class DrillRefused(Exception):
    """The drill cannot run (the message says why and what to do); nothing changed."""


def probe(scope: str) -> Step:
    """An ask in `scope` as the freeze link sees one: of its channel, its API key or its agent team."""
    kind, _, name = scope.partition(":")
    channel = name if kind == "channel" else PROBE_CHANNEL
    run = RunRecord(id="freeze-drill", requester="", channel=channel, task=DRILL_MARK,
                    preset=name if kind == "agent" else "")
    request = ApprovalRequest(approval_id="freeze-drill", proposal=DRILL_MARK, author="freeze drill")
    approval = ApprovalRecord(id="freeze-drill", run_id=run.id, owner="", requester="", origin_channel=channel,
                              card_channel=channel, task=DRILL_MARK, proposal=DRILL_MARK, author="freeze drill",
                              created_at=time.time(), deadline=time.time(), timeout_seconds=0,
                              asked_by=name if kind == "key" else "")
    ask = Ask(request=request, run=run, owner="", settings=read_settings({}, default_timeout=60))
    return Step(ask=ask, approval=approval)


async def refused(store: Store, step: Step) -> str:
    """The refusal's words if the freeze link refuses `step` now, else ""."""
    decided = await Freeze(store).decide(step)
    return decided.decision.feedback if isinstance(decided, Decided) else ""


async def until_refused(store: Store, step: Step, *, wanted: bool) -> tuple[float, str] | None:
    """Seconds until the freeze link refuses `step` (`wanted`) or lets it through (not `wanted`), polled up to
    `TAKES_EFFECT_WITHIN`, and the words; None when it never did."""
    start = time.monotonic()
    while True:
        words = await refused(store, step)
        took = time.monotonic() - start
        if bool(words) == wanted:
            return took, words
        if took > TAKES_EFFECT_WITHIN:
            return None
        await asyncio.sleep(0.01)


async def lift_leftovers(store: Store, op: Operator) -> list[str]:
    """Unfreeze what earlier drills left frozen (killed before they could): the scopes lifted."""
    lifted = []
    for scope, held in (await store.freezes.all()).items():
        if held.reason.startswith(DRILL_MARK) and await unfreeze_scope(store, scope, op=op,
                                                                       drill="lifted: an interrupted drill's"):
            lifted.append(scope)
            at = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(held.at))
            print(f"note: a freeze drill (by {held.by}, at {at}) was interrupted and left {scope} frozen: unfrozen now")
    return lifted


@dataclass
class Shield:
    """Set once the drill unfreezes: a SIGTERM then lets it finish (`_run`)."""

    unfreezing: bool = False


async def drill(store: Store, scope: str, *, op: Operator, hold: float, shield: Shield | None = None) -> dict[str, str]:
    """The drill (the module docstring): its `freeze_drill` entry's fields, recorded. DrillRefused before it changes
    anything when it cannot run."""
    shield = shield if shield is not None else Shield()
    await lift_leftovers(store, op)
    held = (await store.freezes.all()).get(scope)
    if held is not None:
        raise DrillRefused(f"{scope} is frozen ({frozen_words(held)}): a drill would unfreeze it. Nothing changed;"
                           " drill another scope, or once it is unfrozen")
    step = probe(scope)
    if words := await refused(store, step):
        raise DrillRefused(f"an ask in {scope} is refused already ({words}): a drill of it would prove nothing."
                           " Nothing changed")
    drill_id = secrets.token_hex(4)
    lift = f"python -m bot unfreeze {scope.replace(':', ' ')}"
    print(f"freeze drill {drill_id} of {scope}: if it is stopped before it ends, the next drill unfreezes it, or:"
          f" {lift}", flush=True)
    reason, froze, unfroze = f"{DRILL_MARK} {drill_id}", None, None
    started = time.monotonic()
    try:
        if not await freeze_scope(store, scope, reason=reason, op=op, drill=drill_id):
            raise DrillRefused(f"{scope} was frozen by someone else as the drill began; nothing changed by the drill")
        froze = None if await until_refused(store, step, wanted=True) is None else time.monotonic() - started
        if hold:
            await asyncio.sleep(hold)  # kept frozen as the operator asked (--hold)
    finally:
        shield.unfreezing = True  # a SIGTERM now no longer cuts the drill short: it is unfreezing
        held = (await store.freezes.all()).get(scope)
        if held is not None and held.reason == reason:  # (stopped at any point after the freeze: still ours)
            started = time.monotonic()
            await unfreeze_scope(store, scope, op=op, drill=drill_id)
            unfroze = None if await until_refused(store, step, wanted=False) is None else time.monotonic() - started
    fields = {"by": op.by, "scope": scope, "freeze_seconds": "" if froze is None else f"{froze:.6f}",
              "unfreeze_seconds": "" if unfroze is None else f"{unfroze:.6f}",
              "refused_during": "false" if froze is None else "true", "drill": drill_id, **op.fields()}
    await store.audit.append("freeze_drill", **fields)
    return fields


def drill_command(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None) -> int:
    """`python -m bot freeze drill …` with its parsed arguments; an exit code (0 the stop worked, 1 it did not or the
    drill could not run, 2 a bad argument or setting)."""
    words = args.drill_scope or ["all"]
    scoped = parse_scope([word.lstrip("#") if word.startswith("#C") else word for word in words])
    if scoped is None or scoped[1]:
        return failed("--scope is one of: all, a channel id (C…), key NAME, agent NAME", 2)
    try:
        hold = parse_duration(args.hold, max_seconds=MAX_HOLD) if args.hold else 0
    except DurationError as exc:
        return failed(f"--hold: {exc.problem}; use a duration of up to {MAX_HOLD // 60} minutes (30s, 2m)", 2)
    try:
        settings = StoreSettings.from_env(environ)
    except SettingsError as exc:
        return failed(str(exc), 2)
    try:
        return asyncio.run(_run(settings, scoped[0], op=operator_of(args.who), hold=hold))
    except StoreUnavailable as exc:
        return failed(f"cannot reach Redis where REDIS_URL points ({exc.cause}); if a drill froze the scope, the"
                      f" next drill unfreezes it, or: python -m bot unfreeze {scoped[0].replace(':', ' ')}", 1)


async def _run(settings: StoreSettings, scope: str, *, op: Operator, hold: float) -> int:
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    store = Store(redis, prefix=settings.store_prefix)
    task = asyncio.current_task()
    loop = asyncio.get_running_loop()
    stopped, shield = False, Shield()

    def stop() -> None:
        nonlocal stopped
        if task is not None and not shield.unfreezing and not stopped:
            stopped = True
            task.cancel()

    with contextlib.suppress(RuntimeError, ValueError):  # (not the main thread, e.g. run in a test's thread: no signal)
        loop.add_signal_handler(signal.SIGTERM, stop)
    try:
        fields = await drill(store, scope, op=op, hold=hold, shield=shield)
    except DrillRefused as exc:
        return failed(str(exc), 1)
    except asyncio.CancelledError:
        if not stopped:
            raise
        print(f"freeze drill stopped (SIGTERM): {scope} unfrozen; nothing recorded as a drill")
        return 1
    finally:
        with contextlib.suppress(Exception):
            loop.remove_signal_handler(signal.SIGTERM)
        await store.close()
    print(f"freeze drill of {scope} (by {op.by}), recorded in the audit log (freeze_drill):")
    print(f"  freeze:   {_took(fields['freeze_seconds'])} until an ask in {scope} was refused")
    print(f"  unfreeze: {_took(fields['unfreeze_seconds'])} until an ask in {scope} was let through again")
    if fields["refused_during"] != "true" or not fields["unfreeze_seconds"]:
        print(f"error: the freeze did not {'refuse the ask' if fields['refused_during'] != 'true' else 'lift'} within"
              f" {TAKES_EFFECT_WITHIN:g} s: the stop does not work as it should")
        return 1
    return 0


def _took(seconds: str) -> str:
    return f"{float(seconds):.3f} s" if seconds else "never"

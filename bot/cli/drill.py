"""`python -m bot freeze drill [--scope SCOPE] [--hold DURATION]`: evidence that the stop works (EU AI Act art.
14(4)(e)). A timed freeze and unfreeze of SCOPE (default `all`) through the freeze command's own code
(bot/cli/freeze.py: `freeze_scope`, `unfreeze_scope`, audited `frozen` and `unfrozen`), an ask in the scope put to the
decision chain's freeze link (bot/approvals/deciders/freeze.py, against the real store: what every way in asks)
before, during and after, and the timings recorded as a `freeze_drill` audit entry (by, scope, freeze_seconds:
from the freeze to an ask refused, unfreeze_seconds: from the unfreeze to an ask let through, refused_during) that
`python -m bot report oversight` shows.

It never leaves frozen a scope that was not, and never undoes a real freeze: a scope already frozen by someone is
refused (nothing changed), and so is one whose asks are refused already (a wider scope frozen: the drill would prove
nothing); its freeze is a hold that names the drill (bot/store/freezes.py), and a real freeze asked while it holds
the scope (`python -m bot freeze`, `/agent freeze`) is recorded and stands after it: the drill's end lifts only its
own hold (lua/drill_end.lua), audited `drill_ended` then, not `unfrozen`. One drill runs at a time: it holds a lease
(`DRILL_LEASE_SECONDS`, renewed while it runs), and a second drill meanwhile is refused naming the running one.
SIGTERM or Ctrl-C during it unfreezes before it ends; a drill killed outright (kill -9) leaves its hold, which the
next drill lifts first once that drill's lease has expired (as interrupted), and the drill says at its start the
command that lifts it by hand. Asks of the scope that arrive while it is frozen are refused, as in any freeze:
`--hold` keeps it frozen longer (to watch the cards say it), and without it the freeze lasts milliseconds.
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
from functools import partial

from agent_approvals.approver import ApprovalRequest

from bot.approvals import Ask, Decided, Freeze, Step
from bot.cli.exits import failed, on_the_store
from bot.cli.freeze import end_drill_hold, freeze_scope, unfreeze_scope
from bot.core.channel_options import read_settings
from bot.core.durations import DurationError, parse_duration
from bot.core.operators import Operator, operator_of
from bot.core.records import ApprovalRecord, RunRecord
from bot.core.settings import StoreSettings
from bot.slack.blocks.freeze import clock
from bot.store import Store, StoreUnavailable, connect
from bot.store.freezes import Drilling, frozen_words, parse_scope

DRILL_MARK = "freeze drill"  # the drill's freeze reason starts with it: a freeze the next drill may lift
PROBE_CHANNEL = "C0FREEZEDRILL"  # the probe's channel when the scope is not a channel's
TAKES_EFFECT_WITHIN = 10.0  # seconds a freeze (or an unfreeze) has to show on an ask before the drill says it failed
MAX_HOLD = 600
DRILL_LEASE_SECONDS = 10.0  # a drill's lease: renewed every third of it while the drill runs; expired, it died


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


async def lift_leftovers(store: Store, op: Operator, *, ours: str) -> list[str]:
    """End the holds earlier drills left (killed before they could; called holding the drill's lease, so no other drill
    runs): the scopes lifted. A real freeze asked during such a drill stands."""
    lifted = []
    for scope, held in (await store.freezes.all()).items():
        if held.drill == ours or not (held.drill or held.reason.startswith(f"{DRILL_MARK} ")):
            continue
        if held.drill:
            status, by = await end_drill_hold(store, scope, drill=held.drill, op=op, interrupted="true")
        else:  # (a hold written before holds named their drill: its reason does)
            status, by = ("lifted" if await unfreeze_scope(store, scope, op=op, interrupted="true") else "", "")
        if status == "lifted":
            lifted.append(scope)
        if status in ("lifted", "stands"):
            stays = (f"; {scope} stays frozen, by {by}" if status == "stands"
                     else f" and left {scope} frozen: unfrozen now")
            print(f"note: a freeze drill ({held.drill or held.reason}) was interrupted{stays}")
    return lifted


@dataclass
class Shield:
    """Set once the drill unfreezes: a SIGTERM then lets it finish (`_run`)."""

    unfreezing: bool = False


async def drill(store: Store, scope: str, *, op: Operator, hold: float, shield: Shield | None = None) -> dict[str, str]:
    """The drill (the module docstring): its `freeze_drill` entry's fields, recorded. DrillRefused before it changes
    anything when it cannot run."""
    drill_id = secrets.token_hex(4)
    running = await store.freezes.take_drill(Drilling(drill_id, op.by, scope, time.time()), seconds=DRILL_LEASE_SECONDS)
    if running is not None:
        raise DrillRefused(f"freeze drill {running.drill or '(unreadable)'} of {running.scope} (by {running.by}, since"
                           f" {clock(running.at)}) is running: one drill at a time. Nothing changed; drill once it"
                           f" ends (a drill killed outright is lifted by the next within {DRILL_LEASE_SECONDS:g} s)")
    renewing = asyncio.create_task(_renew(store, drill_id))
    try:
        return await _drill(store, scope, drill_id, op=op, hold=hold,
                            shield=shield if shield is not None else Shield())
    finally:
        renewing.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await renewing
        await store.freezes.release_drill(drill_id)


async def _renew(store: Store, drill_id: str) -> None:
    """Keep the drill's lease while it runs (a third of its time apart)."""
    while True:
        await asyncio.sleep(DRILL_LEASE_SECONDS / 3)
        with contextlib.suppress(StoreUnavailable):
            if not await store.freezes.renew_drill(drill_id, seconds=DRILL_LEASE_SECONDS):
                print(f"warning: freeze drill {drill_id} lost its lease (stalled past {DRILL_LEASE_SECONDS:g} s): the"
                      " next drill may lift its hold as interrupted", flush=True)
                return


async def _drill(store: Store, scope: str, drill_id: str, *, op: Operator, hold: float, shield: Shield
                 ) -> dict[str, str]:
    await lift_leftovers(store, op, ours=drill_id)
    held = (await store.freezes.all()).get(scope)
    if held is not None:
        raise DrillRefused(f"{scope} is frozen ({frozen_words(held)}): a drill would unfreeze it. Nothing changed;"
                           " drill another scope, or once it is unfrozen")
    step = probe(scope)
    if words := await refused(store, step):
        raise DrillRefused(f"an ask in {scope} is refused already ({words}): a drill of it would prove nothing."
                           " Nothing changed")
    lift = f"python -m bot unfreeze {scope.replace(':', ' ')}"
    print(f"freeze drill {drill_id} of {scope}: if it is stopped before it ends, the next drill unfreezes it, or:"
          f" {lift}", flush=True)
    froze, unfroze = None, None
    started = time.monotonic()
    try:
        until = time.time() + hold
        if (await freeze_scope(store, scope, reason=f"{DRILL_MARK} {drill_id}", op=op, drill=drill_id,
                               until=until)).status != "frozen":
            raise DrillRefused(f"{scope} was frozen by someone else as the drill began; nothing changed by the drill")
        froze = None if await until_refused(store, step, wanted=True) is None else time.monotonic() - started
        if hold:
            await asyncio.sleep(max(0.0, until - time.time()))  # kept frozen as the operator asked (--hold)
    finally:
        shield.unfreezing = True  # a SIGTERM now no longer cuts the drill short: it is unfreezing
        started = time.monotonic()  # (stopped at any point: its hold is lifted, if it holds one; lua/drill_end.lua)
        ended, stands = await end_drill_hold(store, scope, drill=drill_id, op=op)
        if ended == "lifted":
            unfroze = None if await until_refused(store, step, wanted=False) is None else time.monotonic() - started
    fields = {"by": op.by, "scope": scope, "freeze_seconds": "" if froze is None else f"{froze:.6f}",
              "unfreeze_seconds": "" if unfroze is None else f"{unfroze:.6f}",
              "refused_during": "false" if froze is None else "true", "drill": drill_id,
              "ended": {"lifted": "unfrozen", "stands": "frozen: a freeze asked during it stands"}.get(
                  ended, "lifted by someone else"), **({"frozen_by": stands} if stands else {}), **op.fields()}
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
    return on_the_store(environ, partial(_run, scope=scoped[0], op=operator_of(args.who), hold=hold),
                        unreachable="; if a drill froze the scope, the next drill unfreezes it, or: python -m bot"
                        f" unfreeze {scoped[0].replace(':', ' ')}")


async def _run(settings: StoreSettings, *, scope: str, op: Operator, hold: float) -> int:
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    store = Store(redis, prefix=settings.store_prefix, sharded=settings.store_sharded)
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
    if fields.get("frozen_by"):
        print(f"  unfreeze: not measured: {scope} stays frozen, by {fields['frozen_by']} (a freeze asked during the"
              " drill stands)")
        return 0 if fields["refused_during"] == "true" else 1
    if not fields["unfreeze_seconds"] and fields["refused_during"] == "true" and fields["ended"] != "unfrozen":
        print(f"  unfreeze: not measured: the drill's hold was lifted by someone else ({fields['ended']})")
        return 1
    print(f"  unfreeze: {_took(fields['unfreeze_seconds'])} until an ask in {scope} was let through again")
    if fields["refused_during"] != "true" or not fields["unfreeze_seconds"]:
        print(f"error: the freeze did not {'refuse the ask' if fields['refused_during'] != 'true' else 'lift'} within"
              f" {TAKES_EFFECT_WITHIN:g} s: the stop does not work as it should")
        return 1
    return 0


def _took(seconds: str) -> str:
    return f"{float(seconds):.3f} s" if seconds else "never"

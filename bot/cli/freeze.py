"""`python -m bot freeze …` and `python -m bot unfreeze …`: the freeze (bot/store/freezes.py) for when Slack itself is
down (needs only REDIS_URL). Audited naming who ran it: `--as NAME`, else the OS user and host (`cli:<who>@<host>`).
The CLI's unfreeze is at once (the operator's own hand on the deployment; in Slack it needs a second admin)."""

from __future__ import annotations

import argparse
import time
from collections.abc import Mapping
from functools import partial

from bot.cli.exits import failed, on_the_store
from bot.core.operators import Operator, add_as, operator_of
from bot.core.redaction import shown_text
from bot.core.settings import StoreSettings
from bot.slack.blocks import clean
from bot.slack.blocks.freeze import clock
from bot.store import Frozen, Store, connect
from bot.store.freezes import MAX_FREEZE_REASON, Froze, frozen_scope, parse_scope

HELP = """Freeze a scope: every new ask in it is refused at once with the reason, its pending approvals cannot be
approved (Reject still works), until it is unfrozen. Needs only REDIS_URL.

    python -m bot freeze all|C…|key NAME|agent NAME [--reason TEXT] [--as NAME]
    python -m bot unfreeze all|C…|key NAME|agent NAME [--as NAME]
    python -m bot freeze drill [--scope all|C…|key NAME|agent NAME] [--hold 30s] [--as NAME]

A drill freezes the scope (default all) and unfreezes it at once, checks that an ask in it was refused meanwhile,
and records the timings in the audit log (`freeze_drill`), as evidence that the stop works; it refuses a scope
already frozen, runs one at a time, and never leaves one frozen (a drill killed outright is undone by the next). A
freeze asked while a drill holds its scope is recorded and stands after the drill.

Audited with who ran it (`--as`, else the OS user and host). In Slack, admins do the same with `/agent freeze` and
`/agent unfreeze` (which needs a second admin's confirmation).
"""


def add_arguments(parser: argparse.ArgumentParser, *, freeze: bool) -> None:
    """The arguments of `python -m bot freeze` (`freeze`) or `unfreeze`."""
    parser.add_argument("scope", nargs="+", help="all, a channel id (C…), key NAME or agent NAME; freeze: or drill")
    if freeze:
        parser.add_argument("--reason", default="", help="why (told to every ask refused)")
        parser.add_argument("--scope", dest="drill_scope", nargs="+", default=None, metavar="SCOPE",
                            help="drill: the scope the drill freezes (default all)")
        parser.add_argument("--hold", default="", help="drill: how long it stays frozen (default: only as long as it"
                            " takes to see an ask refused; at most 10m)")
    add_as(parser)


def freeze_command(args: argparse.Namespace, *, freeze: bool, environ: Mapping[str, str] | None = None) -> int:
    """`python -m bot freeze|unfreeze …` with its parsed arguments; an exit code."""
    if getattr(args, "drill_scope", None) or getattr(args, "hold", ""):
        return failed("--scope and --hold are for `freeze drill`", 2)
    scoped = parse_scope([word.lstrip("#") if word.startswith("#C") else word for word in args.scope])
    if scoped is None or scoped[1]:
        return failed("the scope is one of: all, a channel id (C…), key NAME, agent NAME", 2)
    reason = clean(getattr(args, "reason", "")).strip()
    if len(reason) > MAX_FREEZE_REASON:
        return failed(f"the reason is {len(reason)} characters long; the limit is {MAX_FREEZE_REASON}", 2)
    return on_the_store(environ, partial(_run, scope=scoped[0], reason=reason, op=operator_of(args.who), freeze=freeze))


async def _run(settings: StoreSettings, *, scope: str, reason: str, op: Operator, freeze: bool) -> int:
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    store = Store(redis, prefix=settings.store_prefix, sharded=settings.store_sharded)
    reason = shown_text(reason)  # free text hidden as by the one door (Hiding.text): told to every ask refused
    try:
        if freeze:
            print(frozen_said(await freeze_scope(store, scope, reason=reason, op=op), scope=scope, op=op))
            return 0
        if not await unfreeze_scope(store, scope, op=op):
            print(f"{scope} is not frozen; nothing changed")
            return 0
        print(f"unfrozen: {scope} (by {op.by})")
        return 0
    finally:
        await store.close()


def frozen_said(froze: Froze, *, scope: str, op: Operator) -> str:
    """What the CLI's freeze says of what it did (a drill holding the scope named, with when its hold ends)."""
    lift = f"python -m bot unfreeze {scope.replace(':', ' ')}"
    held = froze.held
    drilled = f"a freeze drill holds {scope} until {clock(held.until)}" if held is not None and held.drill else ""
    if froze.status == "stands":
        return f"{drilled}; your freeze is recorded (by {op.by}) and will stand after the drill; unfreeze with: {lift}"
    if froze.status == "already":
        if drilled and held is not None and held.stands:
            return f"{scope} is frozen already: {drilled}, and a freeze by {held.by} stands after it; nothing changed"
        return f"{scope} is frozen already; nothing changed"
    return f"frozen: {scope} (by {op.by}); unfreeze with: {lift}"


async def freeze_scope(
    store: Store, scope: str, *, reason: str, op: Operator, drill: str = "", until: float = 0.0
) -> Froze:
    """Freeze `scope` as the CLI does (audited `frozen`, via "cli"; the pending cards in it due a redraw); `drill`:
    a freeze drill's hold (its id, until `until`). While a drill holds the scope, a real freeze is recorded to stand
    after it (audited `frozen` naming the drill, `during_drill`); frozen already: nothing changed."""
    froze = await store.freezes.freeze(scope, reason=reason, by=op.by, drill=drill, until=until)
    if not froze:
        return froze
    during = {"during_drill": froze.held.drill} if froze.held is not None else {}
    await store.audit.append("frozen", by=op.by, scope=scope, reason=reason, via="cli", **op.fields(),
                             **({"drill": drill} if drill else {}), **during)
    if froze.status == "frozen":
        await _cards_due(store, scope)
    return froze


async def unfreeze_scope(store: Store, scope: str, *, op: Operator, **extra: str) -> bool:
    """Unfreeze `scope` at once as the CLI does (audited `unfrozen`, via "cli", with `extra` fields; its cards due a
    redraw); False when it was not frozen."""
    status, _ = await store.freezes.unfreeze(scope, by=op.by, direct=True)
    if status == "not_frozen":
        return False
    await store.audit.append("unfrozen", by=op.by, scope=scope, via="cli", **op.fields(), **extra)
    await _cards_due(store, scope)
    return True


async def end_drill_hold(store: Store, scope: str, *, drill: str, op: Operator, **extra: str) -> tuple[str, str]:
    """End freeze drill `drill`'s hold of `scope` (lua/drill_end.lua), as the CLI does: ("lifted", ""): unfrozen
    (audited `unfrozen` naming the drill, with `extra` fields; its cards due a redraw); ("stands", who froze it): a
    real freeze asked during the drill stays (audited `drill_ended`, naming who froze it); ("not_ours", ""): the
    drill held it no more (nothing changed)."""
    status, by = await store.freezes.end_drill(scope, drill=drill)
    if status == "lifted":
        await store.audit.append("unfrozen", by=op.by, scope=scope, via="cli", drill=drill, **op.fields(), **extra)
        await _cards_due(store, scope)
    elif status == "stands":
        await store.audit.append("drill_ended", by=op.by, scope=scope, via="cli", drill=drill, frozen_by=by,
                                 still="frozen", **op.fields(), **extra)
    return status, by


async def _cards_due(store: Store, scope: str) -> None:
    """The cards of the pending approvals in `scope` due a redraw (the workers' outbox draws them: frozen, they say
    Approve is refused; unfrozen, no more)."""
    held = {scope: Frozen(scope, "", "", 0.0)}
    now = time.time()
    for approval in await store.approvals.get_many(await store.approvals.waiting_ids()):
        if approval.pending and frozen_scope(held, channel=approval.origin_channel, key=approval.asked_by,
                                             agent=approval.agent) is not None:
            await store.outbox.add(approval.id, due=now)

"""`python -m bot store move-workspaces [--dry-run] [--wait SECONDS] [--as NAME]`: a Redis Cluster store whose
workspaces share one hash tag moved to a tag per workspace (issue 89, stored format 3: bot/store/workspace_move.py;
docs/operators/upgrades.md, "Moving to a hash tag per workspace")."""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping
from functools import partial

from bot.cli.exits import failed, on_the_store
from bot.core.operators import add_as, operator_of
from bot.core.settings import StoreSettings
from bot.core.version import __version__
from bot.store import Store, connect
from bot.store.slots import is_tag
from bot.store.stored_format import WORKSPACE_TAGS
from bot.store.workspace_move import WorkspaceMove, said

HELP = """Move every workspace's keys from the single hash tag ({hitl}:ws:T…:…) to a tag of its own (hitl:{ws:T…}:…),
so that workspaces spread over the cluster's primaries; then start the workers with REDIS_WORKSPACE_TAGS=true.
Needs only REDIS_URL (redis+cluster://) and REDIS_KEY_PREFIX.

    python -m bot store move-workspaces --dry-run      what would move, and the workers in the way
    python -m bot store move-workspaces [--wait 5m]    move (waiting for the workers in the way to be gone)

No worker of a release before 0.9 may be alive (it writes the old names): it names those alive and exits 1, changing
nothing (--wait: it waits for them to be gone). Workers of this release writing one tag hold their commands during
the move (asks and clicks fail closed and are retried) and stay held after it: restart them with
REDIS_WORKSPACE_TAGS=true. Idempotent (run again: "nothing to move") and resumable (killed, run again: it finishes;
no key moved twice, none lost).
"""

POLL_SECONDS = 1.0
HOLD_WITHIN = 60.0  # seconds the workers of this release have to hold their commands (a few heartbeats)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """`python -m bot store`'s arguments."""
    parser.add_argument("action", choices=["move-workspaces"], help="move-workspaces: each workspace to a hash tag of"
                        " its own")
    parser.add_argument("--dry-run", action="store_true", help="say what would move and who is in the way; change"
                        " nothing")
    parser.add_argument("--wait", default="0", metavar="SECONDS", help="wait this long (seconds, or 30s, 5m) for the"
                        " workers in the way to be gone (default: do not wait)")
    add_as(parser)


def store_command(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None) -> int:
    """`python -m bot store …` with its parsed arguments; an exit code."""
    wait = _seconds(args.wait)
    if wait is None:
        return failed(f"--wait takes seconds (30, 30s, 5m), not {args.wait[:20]!r}", 2)
    by = operator_of(args.who).by
    return on_the_store(environ, partial(_run, dry_run=args.dry_run, wait=wait, by=by))


def _seconds(text: str) -> float | None:
    units = {"s": 1, "m": 60, "h": 3600}
    number, unit = (text[:-1], units[text[-1]]) if text[-1:] in units else (text, 1)
    try:
        found = float(number) * unit
    except ValueError:
        return None
    return found if 0 <= found <= 86400 else None


async def _run(settings: StoreSettings, *, dry_run: bool, wait: float, by: str) -> int:
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    store = Store(redis, prefix=settings.store_prefix, sharded=settings.store_sharded)
    try:
        return await move_workspaces(WorkspaceMove(store.shared), dry_run=dry_run, wait=wait, by=by)
    finally:
        await store.close()


async def move_workspaces(mover: WorkspaceMove, *, dry_run: bool, wait: float, by: str,
                          hold_within: float = HOLD_WITHIN) -> int:
    """The command's work on a store (tests call it on theirs); an exit code."""
    if not is_tag(mover.root):
        return failed(f"the keys' prefix {mover.root} is no hash tag: workspaces have tags of their own on Redis"
                      " Cluster alone (REDIS_URL redis+cluster://); on one node a workspace's keys keep their names", 2)
    moving = await mover.moving()
    if moving is None and await mover.stored() >= WORKSPACE_TAGS:
        print("nothing to move: each workspace's keys are under a hash tag of their own already (stored format"
              f" {WORKSPACE_TAGS}); start the workers with REDIS_WORKSPACE_TAGS=true")
        return 0
    plan = await mover.plan()
    resumed = f" (resuming the move {moving} started)" if moving else ""
    print(f"{len(plan.keys)} workspaces, {plan.count} keys under {mover.root}:ws:… to move{resumed}")
    blockers = await mover.blockers()
    if dry_run:
        for worker, beat in sorted(blockers.items()):
            print(f"in the way: worker {worker} ({said(beat)})")
        for worker, beat in sorted((await mover.unheld()).items()):
            print(f"to hold its commands during the move: worker {worker} ({said(beat)})")
        print("dry run: nothing changed")
        return 0
    deadline = time.monotonic() + wait
    named = False
    while blockers and time.monotonic() < deadline:
        if not named:
            print("waiting for " + ", ".join(f"{w} ({said(b)})" for w, b in sorted(blockers.items())))
            named = True
        await asyncio.sleep(POLL_SECONDS)
        blockers = await mover.blockers()
    if blockers:
        return _in_the_way(blockers)
    held = await mover.claim(by)
    while held is not None and time.monotonic() < deadline:
        await asyncio.sleep(POLL_SECONDS)
        held = await mover.claim(by)
    if held is not None:
        return failed(f"another move is under way ({held}); run again once it ends, or with --wait", 1)
    try:
        was = await mover.mark(by) if moving is None else None
        refused = await _until_held(mover, within=max(wait, hold_within))
        if refused is not None:
            if was is not None:
                await mover.unmark(*was)
            return refused
        return await _move(mover, by)
    finally:
        await mover.release()


async def _until_held(mover: WorkspaceMove, *, within: float) -> int | None:
    """Marked: wait until every live worker of this release writing one tag holds its commands (None), for `within`
    seconds at most; an exit code when one does not, or a worker of a release before started meanwhile."""
    deadline, named = time.monotonic() + within, False
    while True:
        blockers = await mover.blockers()  # (one that started between the look and the mark)
        if blockers:
            return _in_the_way(blockers)
        unheld = await mover.unheld()
        if not unheld:
            return None
        if time.monotonic() >= deadline:
            names = "; ".join(f"{worker} ({said(beat)})" for worker, beat in sorted(unheld.items()))
            return failed(f"{len(unheld)} workers did not hold their commands within {within:.0f} s: {names}. Stop"
                          " them (or run with a longer --wait), then run this again", 1)
        if not named:
            print(f"waiting for {len(unheld)} workers of this release to hold their commands: "
                  + ", ".join(sorted(unheld)))
            named = True
        await asyncio.sleep(POLL_SECONDS)


async def _move(mover: WorkspaceMove, by: str) -> int:
    plan = await mover.plan()  # (again, marked: nothing writes the old names now)
    keyed = await mover.key_workspaces()
    total = 0
    for tenant in sorted(set(plan.keys) | set(keyed)):
        moved = await mover.move_one(tenant, plan.keys.get(tenant, []), keyed.get(tenant, []))
        total += moved
        print(f"moved {tenant}: {moved} keys")
        await mover.renew(by)
    await mover.finish(__version__, by=by, workspaces=len(set(plan.keys) | set(keyed)), keys=total)
    print(f"done: {total} keys of {len(set(plan.keys) | set(keyed))} workspaces moved; the stored format says"
          f" {WORKSPACE_TAGS} (a hash tag per workspace): start the workers with REDIS_WORKSPACE_TAGS=true")
    return 0


def _in_the_way(blockers: Mapping[str, str]) -> int:
    names = "; ".join(f"{worker} ({said(beat)})" for worker, beat in sorted(blockers.items()))
    return failed(f"{len(blockers)} workers of a release before 0.9 are alive, that write the workspaces' keys under"
                  f" the old names: {names}."
                  " Stop them (or run with --wait), then run this again; nothing changed", 1)

"""`python -m bot keys …`: API keys made, listed and revoked by an operator (needs only REDIS_URL). A channel's
admins do the same with `/agent keys …` in Slack; both make keys one way (`bot.api.keys.create_key`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Mapping

from bot.api.keys import create_key
from bot.core.operators import add_as, operator_name
from bot.core.records import DEFAULT_MAX_PENDING, DEFAULT_PER_MINUTE, ApiKey
from bot.core.settings import SettingsError, StoreSettings
from bot.core.workspaces import WorkspaceRef
from bot.store import NewKey, Store, StoreUnavailable, connect
from bot.store.api_keys import describe

HELP = """The Approvals API's keys: programs ask for approvals with one (they never decide). Needs only REDIS_URL.

    python -m bot keys create NAME --channel C… [--channel C…] [--team T… [--enterprise E…]]
                              [--max-pending N] [--per-minute N]
    python -m bot keys list
    python -m bot keys revoke NAME

`create` prints the key and its webhook secret once: only a hash of the key is kept. A key is bound to one
workspace (`--team`, and `--enterprise` for an Enterprise Grid organisation's; its channels are that workspace's):
it never reads, withdraws or is answered another's approvals. Without `--team`, the home workspace (the first the
bot was installed in), said in the output. In Slack, a channel's admins do the same with `/agent keys create NAME`
(bound to the workspace it is typed in) and `/agent keys revoke NAME`.
"""


def announce(made: NewKey, *, home: WorkspaceRef | None = None) -> str:
    """What `create` shows, once (`home`: the home workspace, when the key was bound to it for want of `--team`)."""
    return (
        f"API key {made.record.name} for {', '.join(made.record.channels)}:\n"
        f"  workspace:      {workspace_line(made.record, home=home)}\n"
        f"  id:             {made.record.id}  (its receipts' aud: pin it in executors; never another key's)\n"
        f"  key:            {made.key}\n"
        f"  webhook secret: {made.record.webhook_secret}\n"
        "Keep both now: they are not shown again (only a hash of the key is kept)."
    )


def workspace_line(key: ApiKey, *, home: WorkspaceRef | None) -> str:
    """The workspace a new key is bound to, in words."""
    if home is not None:
        said = home.team + (f" of {home.enterprise}" if home.enterprise else "")
        return f"{said} (the home workspace: no --team given)"
    if not key.team:
        return "the home workspace (no --team given; no worker has learnt its team yet)"
    return key.team + (f" of {key.enterprise}" if key.enterprise else "")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `python -m bot keys` (its parser: `HELP` as its description, raw)."""
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="make a key (printed once)")
    create.add_argument("name")
    create.add_argument("--channel", action="append", default=[], required=True,
                        help="a channel id the key may ask in (repeat for more; the first is its default)")
    create.add_argument("--team", default="", help="the workspace (T…) the key is bound to (default: the home one)")
    create.add_argument("--enterprise", default="", help="its Enterprise Grid organisation (E…), if any")
    create.add_argument("--max-pending", type=int, default=DEFAULT_MAX_PENDING)
    create.add_argument("--per-minute", type=int, default=DEFAULT_PER_MINUTE)
    add_as(create)
    sub.add_parser("list", help="the keys that stand (never the keys themselves)")
    revoke = sub.add_parser("revoke", help="revoke a key: the next request with it is refused, its pending"
                            " approvals withdrawn")
    revoke.add_argument("name")
    add_as(revoke)


def keys_command(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None) -> int:
    """`python -m bot keys …` with its parsed arguments (see `HELP`); its settings from `environ` (the
    environment when None). Returns an exit code."""
    try:
        settings = StoreSettings.from_env(environ)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(settings, args))
    except StoreUnavailable as exc:
        print(f"error: cannot reach Redis where REDIS_URL points ({exc.cause}); is it"
              " running there, with the right password?", file=sys.stderr)
        return 1


async def _run(settings: StoreSettings, args: argparse.Namespace) -> int:
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    store = Store(redis, prefix=settings.store_prefix)
    action = args.action
    try:
        if action == "create":
            return await _create(store, args)
        elif action == "list":
            keys = await store.api_keys.all()
            for key in keys:
                print(describe(key))
            if not keys:
                print("no API keys (make one with: python -m bot keys create NAME --channel C…)", file=sys.stderr)
        else:
            name = args.name
            # no worker here: the withdrawn approvals' cards are due at once, for the next worker's outbox round
            revoked = await store.api_keys.revoke(name, by=operator_name(args.who), card_grace=0)
            if revoked is None:
                print(f"error: there is no key named {name}", file=sys.stderr)
                return 2
            print(f"revoked {name}; withdrew its {len(revoked.withdrawn)} pending approval(s)")
        return 0
    finally:
        await store.close()


async def _create(store: Store, args: argparse.Namespace) -> int:
    """`keys create`: bound to `--team` (`--enterprise`), or to the home workspace."""
    if args.enterprise and not args.team:
        print("error: --enterprise goes with --team (the workspace of that organisation)", file=sys.stderr)
        return 2
    home = None if args.team else await store.tenants.home()
    workspace = WorkspaceRef(args.team, args.enterprise or None) if args.team else home
    made = await create_key(store, args.name, args.channel, by=operator_name(args.who), max_pending=args.max_pending,
                            per_minute=args.per_minute, workspace=workspace)
    if isinstance(made, str):
        print(f"error: {made}", file=sys.stderr)
        return 2
    print(announce(made, home=home))
    return 0

"""API keys, made and revoked by an operator (`python -m bot keys …`, needs only REDIS_URL) or by a
channel's admins (`/agent keys …` in Slack): both make keys the same way (`create_key`)."""


from __future__ import annotations

import argparse
import asyncio
import re
import sys
from collections.abc import Sequence

from bot.core.records import DEFAULT_MAX_PENDING, DEFAULT_PER_MINUTE, KEY_NAME
from bot.core.settings import SettingsError, StoreSettings
from bot.store import NewKey, Store, StoreUnavailable, connect
from bot.store.api_keys import MAX_CHANNELS, describe

CHANNEL = re.compile(r"^[CG][A-Z0-9]{2,23}$")
HELP = """The Approvals API's keys: programs ask for approvals with one (they never decide). Needs only REDIS_URL.

    python -m bot keys create NAME --channel C… [--channel C…] [--max-pending N] [--per-minute N]
    python -m bot keys list
    python -m bot keys revoke NAME

`create` prints the key and its webhook secret once: only a hash of the key is kept. In Slack, a channel's
admins do the same with `/agent keys create NAME` and `/agent keys revoke NAME`.
"""


async def create_key(
    store: Store,
    name: str,
    channels: Sequence[str],
    *,
    by: str,
    max_pending: int = DEFAULT_MAX_PENDING,
    per_minute: int = DEFAULT_PER_MINUTE,
) -> NewKey | str:
    """A new key, or why not (a message for the person who asked)."""
    if not KEY_NAME.fullmatch(name):
        return "a key's name is 1 to 40 lowercase letters, digits or _ . - (starting with a letter or digit)"
    if not channels:
        return "name at least one channel the key may ask in (--channel C…)"
    if len(channels) > MAX_CHANNELS:
        return f"a key may ask in at most {MAX_CHANNELS} channels"
    wrong = [c for c in channels if not CHANNEL.fullmatch(c)]
    if wrong:
        return f"{wrong[0][:30]!r} is not a channel id (C… or G…)"
    if not 1 <= max_pending <= 100_000 or not 1 <= per_minute <= 100_000:
        return "limits are whole numbers from 1 to 100000"
    made = await store.api_keys.create(name, channels, by=by, max_pending=max_pending, per_minute=per_minute)
    return made if made is not None else f"there is a key named {name} already (revoke it first)"


def announce(made: NewKey) -> str:
    """What `create` shows, once."""
    return (
        f"API key {made.record.name} for {', '.join(made.record.channels)}:\n"
        f"  id:             {made.record.id}  (its receipts' aud: pin it in executors; never another key's)\n"
        f"  key:            {made.key}\n"
        f"  webhook secret: {made.record.webhook_secret}\n"
        "Keep both now: they are not shown again (only a hash of the key is kept)."
    )


def keys_command(argv: Sequence[str], *, settings: StoreSettings | None = None) -> int:
    """`python -m bot keys …` (see the module docstring). Returns an exit code."""
    parser = argparse.ArgumentParser(prog="python -m bot keys", description=HELP,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    create = sub.add_parser("create", help="make a key (printed once)")
    create.add_argument("name")
    create.add_argument("--channel", action="append", default=[], required=True,
                        help="a channel id the key may ask in (repeat for more; the first is its default)")
    create.add_argument("--max-pending", type=int, default=DEFAULT_MAX_PENDING)
    create.add_argument("--per-minute", type=int, default=DEFAULT_PER_MINUTE)
    sub.add_parser("list", help="the keys that stand (never the keys themselves)")
    revoke = sub.add_parser("revoke", help="revoke a key: the next request with it is refused")
    revoke.add_argument("name")
    args = parser.parse_args(argv)
    try:
        settings = StoreSettings.from_env() if settings is None else settings
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        return asyncio.run(_run(settings, args))
    except StoreUnavailable as exc:
        print(f"error: cannot reach Redis where REDIS_URL points ({type(exc.__cause__ or exc).__name__}); is it"
              " running there, with the right password?", file=sys.stderr)
        return 1


async def _run(settings: StoreSettings, args: argparse.Namespace) -> int:
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    store = Store(redis, prefix=settings.store_prefix)
    action = args.action
    try:
        if action == "create":
            made = await create_key(
                store, args.name, args.channel, by="cli", max_pending=args.max_pending, per_minute=args.per_minute
            )
            if isinstance(made, str):
                print(f"error: {made}", file=sys.stderr)
                return 2
            print(announce(made))
        elif action == "list":
            keys = await store.api_keys.all()
            for key in keys:
                print(describe(key))
            if not keys:
                print("no API keys (make one with: python -m bot keys create NAME --channel C…)", file=sys.stderr)
        else:
            name = args.name
            if not await store.api_keys.revoke(name, by="cli"):
                print(f"error: there is no key named {name}", file=sys.stderr)
                return 2
            print(f"revoked {name}")
        return 0
    finally:
        await store.close()

"""`python -m bot keys …`: API keys made, listed and revoked by an operator (needs only REDIS_URL). A channel's
admins do the same with `/agent keys …` in Slack; both make keys one way (`bot.api.keys.create_key`)."""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Mapping

from bot.api.keys import SPONSOR_WORDS, create_key, sponsor_of
from bot.cli.exits import failed
from bot.cli.served import unserved
from bot.cli.sponsors import sponsor_refusal
from bot.core.durations import DurationError, parse_duration
from bot.core.key_records import DEFAULT_MAX_PENDING, DEFAULT_PER_MINUTE, ApiKey
from bot.core.operators import add_as, operator_of
from bot.core.sealing import HiddenKeyring
from bot.core.settings import KeysSettings, SettingsError, reveal
from bot.core.workspaces import WorkspaceRef
from bot.store import NewKey, Store, StoreUnavailable, WrongSecretsKey, connect
from bot.store.api_keys import describe

HELP = """The Approvals API's keys: programs ask for approvals with one (they never decide). Needs REDIS_URL,
SLACK_BOT_TOKEN (and SLACK_API_URL) to check a sponsor, and SECRETS_KEY (the workers' own) to make or rotate a key
with a webhook secret, which is kept sealed with it.

    python -m bot keys create NAME --channel C… [--channel C…] [--team T… [--enterprise E…]]
                              [--max-pending N] [--per-minute N] [--expires 90d] [--sponsor @U… [--no-check]]
    python -m bot keys list [--without-sponsor]
    python -m bot keys sponsor NAME @U… [--no-check]
    python -m bot keys rotate NAME --grace 1d [--expires 90d]
    python -m bot keys revoke NAME

`create` prints the key and its webhook secret once: only a hash of the key is kept, and the secret sealed. With
`--expires`, the key is refused after that long (401, saying it expired). `list` shows when each key was last used.
`rotate` makes a new key and webhook secret under the same name and id: the old key keeps working for the `--grace`
given, then is refused; webhooks are signed with both secrets meanwhile (a relay given either accepts them). Each
command is audited with the OS user and host; `--as NAME` is recorded beside them as a claim. A key is bound to one
workspace (`--team`, and `--enterprise` for an Enterprise Grid organisation's; its channels are that workspace's):
it never reads, withdraws or is answered another's approvals. Without `--team`, the home workspace (the first the
bot was installed in), said in the output. A workspace no installation serves is refused (an org-wide install not
added to it: with SLACK_TOKENS_KEY, the workers' own, Slack is asked when no worker has said; docs/operators/
workspaces.md). In Slack, a channel's admins do the same with `/agent keys create NAME`
(bound to the workspace it is typed in) and `/agent keys revoke NAME`.

Every agent has a person accountable: `--sponsor` names the key's sponsor (a Slack member id, U…), shown on its cards
("agent NAME, sponsored by …"); `keys sponsor NAME @U…` names or changes it on a key made before (audited
`key_sponsor`). The sponsor is checked with Slack first (`bot.cli.sponsors`: unknown, deactivated or a bot is
refused; Slack out of reach refuses too, unless `--no-check`). `list` shows each key's `sponsor` ("none" until one
is named) and `--without-sponsor` lists only those; the metric `hitl_keys_without_sponsor` counts them. A sponsor
deactivated in Slack is said to the admins.
"""


NO_SECRET = "none (SECRETS_KEY is not set: the key asks and waits, but no webhook can be signed)"
LONGEST_KEY = 3 * 366 * 86400  # `--expires`: three years at most
LONGEST_GRACE = 30 * 86400  # `--grace`: a month at most


def announce(made: NewKey, *, home: WorkspaceRef | None = None) -> str:
    """What `create` and `rotate` show, once (`home`: the home workspace, when the key was bound to it for want of
    `--team`)."""
    record = made.record
    expires = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(record.expires_at)) if record.expires_at else "never"
    return (
        f"API key {record.name} for {', '.join(record.channels)}:\n"
        f"  workspace:      {workspace_line(record, home=home)}\n"
        f"  id:             {record.id}  (its receipts' aud: pin it in executors; never another key's)\n"
        f"  key:            {made.key}\n"
        f"  webhook secret: {record.webhook_secret or NO_SECRET}\n"
        f"  expires:        {expires}\n"
        f"  sponsor:        {record.sponsor or 'none (name one: python -m bot keys sponsor NAME @U…)'}\n"
        "Keep both now: they are not shown again (only a hash of the key is kept, and the secret sealed)."
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
    create.add_argument("--expires", default="", help="refused after this long (90d, 12h...; default: never)")
    create.add_argument("--sponsor", default="", help="the person accountable for the agent using it (@U…)")
    create.add_argument("--no-check", action="store_true",
                        help="name the sponsor without asking Slack whether it knows them (when Slack cannot answer)")
    add_as(create)
    listing = sub.add_parser("list", help="the keys that stand, and when each was last used (never the keys"
                             " themselves)")
    listing.add_argument("--without-sponsor", action="store_true", help="only the keys no sponsor is named for")
    sponsor = sub.add_parser("sponsor", help="name (or change) the sponsor of a key")
    sponsor.add_argument("name")
    sponsor.add_argument("person", help="their Slack member id (@U…)")
    sponsor.add_argument("--no-check", action="store_true",
                         help="name them without asking Slack whether it knows them (when Slack cannot answer)")
    add_as(sponsor)
    rotate = sub.add_parser("rotate", help="a new key and webhook secret; the old key works for --grace more")
    rotate.add_argument("name")
    rotate.add_argument("--grace", required=True, help="how long the old key and secret keep working (1h, 1d...)")
    rotate.add_argument("--expires", default="",
                        help="the new key's lifetime (default: the old key's, if it had one; `never`: none)")
    add_as(rotate)
    revoke = sub.add_parser("revoke", help="revoke a key: the next request with it is refused, its pending"
                            " approvals withdrawn")
    revoke.add_argument("name")
    add_as(revoke)


def keys_command(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None) -> int:
    """`python -m bot keys …` with its parsed arguments (see `HELP`); its settings from `environ` (the
    environment when None). Returns an exit code."""
    try:
        settings = KeysSettings.from_env(environ)
    except SettingsError as exc:
        return failed(str(exc), 2)
    try:
        keyring = HiddenKeyring.from_setting(reveal(settings.secrets_key) or "") if settings.secrets_key else None
        return asyncio.run(_run(settings, args, keyring))
    except WrongSecretsKey as exc:
        return failed(str(exc), 2)
    except StoreUnavailable as exc:
        return failed(f"cannot reach Redis where REDIS_URL points ({exc.cause}); is it"
                      " running there, with the right password?", 1)


async def _run(settings: KeysSettings, args: argparse.Namespace, keyring: HiddenKeyring | None) -> int:
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    store = Store(redis, prefix=settings.store_prefix, sharded=settings.store_sharded)
    store.hidden.use(keyring)  # seals the webhook secrets made here
    action = args.action
    try:
        if action in ("create", "rotate"):  # a webhook secret sealed with a key the workers lack: refused (#87)
            await store.secrets_check.opens()
        if action == "create":
            return await _create(store, args, settings)
        elif action == "rotate":
            return await _rotate(store, args)
        elif action == "list":
            keys = await store.api_keys.all()
            used = await store.api_keys.last_used(keys)
            for key in keys:
                if not (args.without_sponsor and key.sponsor):
                    print(describe(key, last_used=used.get(key.id)))
            if not keys:
                print("no API keys (make one with: python -m bot keys create NAME --channel C…)", file=sys.stderr)
        elif action == "sponsor":
            return await _sponsor(store, args, settings)
        else:
            name, op = args.name, operator_of(args.who)
            # no worker here: the withdrawn approvals' cards are due at once, for the next worker's outbox round
            revoked = await store.api_keys.revoke(name, by=op.by, card_grace=0, operator=op.fields())
            if revoked is None:
                return failed(f"there is no key named {name}", 2)
            print(f"revoked {name}; withdrew its {len(revoked.withdrawn)} pending approval(s)")
        return 0
    finally:
        await store.close()


def _seconds(text: str, what: str, *, longest: int) -> float:
    """A duration argument (`90d`, `12h`...) in seconds; DurationError naming the argument."""
    try:
        return float(parse_duration(text, max_seconds=longest))
    except DurationError as exc:
        raise DurationError(f"{what}: {exc}") from None


async def _rotate(store: Store, args: argparse.Namespace) -> int:
    """`keys rotate`: a new key and secret; the old ones work for `--grace` more."""
    try:
        grace = _seconds(args.grace, "--grace", longest=LONGEST_GRACE)
        expires = None if not args.expires else 0.0 if args.expires == "never" else _seconds(
            args.expires, "--expires", longest=LONGEST_KEY)
    except DurationError as exc:
        return failed(str(exc), 2)
    op = operator_of(args.who)
    made = await store.api_keys.rotate(args.name, by=op.by, grace=grace, expires_in=expires, operator=op.fields())
    if made is None:
        return failed(f"there is no key named {args.name}", 2)
    until = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(made.record.previous_until))
    print(announce(made))
    print(f"The old key and webhook secret work until {until}; webhooks are signed with both until then: give the"
          " new ones to the program and its relay before.")
    return 0


async def _checked(sponsor: str, args: argparse.Namespace, settings: KeysSettings) -> str:
    """Why Slack says `sponsor` cannot be named ("" when they can, or when `--no-check` says not to ask, said so)."""
    if args.no_check:
        print(f"{sponsor} named without asking Slack (--no-check)", file=sys.stderr)
        return ""
    return await sponsor_refusal(sponsor, settings)


async def _sponsor(store: Store, args: argparse.Namespace, settings: KeysSettings) -> int:
    """`keys sponsor NAME @U…`: name or change the person accountable for a key, once Slack says who they are."""
    sponsor = sponsor_of(args.person)
    if sponsor is None:
        return failed(f"{args.person[:40]!r}: {SPONSOR_WORDS}", 2)
    refused = await _checked(sponsor, args, settings)
    if refused:
        return failed(f"{refused}. Nothing changed.", 2)
    op = operator_of(args.who)
    done = await store.api_keys.set_sponsor(args.name, sponsor, by=op.by, operator=op.fields())
    if done == "missing":
        return failed(f"there is no key named {args.name}", 2)
    print(f"{args.name} is sponsored by {sponsor}" + (" (it was already)" if done == "same" else ""))
    return 0


async def _create(store: Store, args: argparse.Namespace, settings: KeysSettings) -> int:
    """`keys create`: bound to `--team` (`--enterprise`), or to the home workspace."""
    if args.enterprise and not args.team:
        return failed("--enterprise goes with --team (the workspace of that organisation)", 2)
    home = None if args.team else await store.tenants.home()
    workspace = WorkspaceRef(args.team, args.enterprise or None) if args.team else home
    try:
        expires = _seconds(args.expires, "--expires", longest=LONGEST_KEY) if args.expires else 0.0
    except DurationError as exc:
        return failed(str(exc), 2)
    sponsor = sponsor_of(args.sponsor) if args.sponsor else ""
    if sponsor is None:
        return failed(f"--sponsor {args.sponsor[:40]!r}: {SPONSOR_WORDS}", 2)
    if workspace is not None and args.team:  # a key only for a workspace that is served (#87)
        why = await unserved(store, workspace, tokens_key=reveal(settings.slack_tokens_key),
                             api_url=settings.slack_api_url)
        if why is not None:
            return failed(why, 2)
    refused = await _checked(sponsor, args, settings) if sponsor else ""
    if refused:
        return failed(f"--sponsor: {refused}. No key was made.", 2)
    op = operator_of(args.who)
    made = await create_key(store, args.name, args.channel, by=op.by, max_pending=args.max_pending,
                            per_minute=args.per_minute, workspace=workspace, expires_in=expires, operator=op.fields(),
                            sponsor=sponsor)
    if isinstance(made, str):
        return failed(made, 2)
    print(announce(made, home=home))
    return 0

"""`python -m bot signing …`: the signing keys of receipts and audit checkpoints (bot/core/signing.py).

    python -m bot signing rotate [--file PATH]   add a key; the old current one is retired now
    python -m bot signing show [--file PATH]     the public keys: kids, which is current, when retired

`rotate` keeps every retired key's public part (old audit checkpoints still verify) and its private part
until what it signed has expired (RECEIPT_TTL after it was retired). It writes the file atomically with mode
0600, creating it when missing; workers re-read it within seconds, no restart. When the keys come from the
SIGNING_KEYS variable instead, it prints the new JSON for the operator to set.

`rotate` is audited before the keys change (a `signing_rotated` entry: the new kid, the one retired, where, and who
ran it: `--as NAME`, else the OS user and host): it needs REDIS_URL, and when the entry cannot be written nothing
changes (exit 1). `show` needs no Redis.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from bot.cli.exits import failed
from bot.core.key_files import document, entries_of, rotated, write_private
from bot.core.operators import Operator, add_as, operator_of
from bot.core.settings import SettingsError, StoreSettings, reveal
from bot.core.signing import ENV_NAME, FILE_NAME, SigningError, current_of, parse_keys, read_keys_file
from bot.store import Store, StoreUnavailable, connect


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `python -m bot signing` (its parser: this module's docstring as its description, raw)."""
    sub = parser.add_subparsers(dest="action", required=True)
    for name, words in (("rotate", "add a new current key; retire the old one"), ("show", "the public keys")):
        command = sub.add_parser(name, help=words)
        command.add_argument("--file", help=f"the keys file (default ${FILE_NAME}; else ${ENV_NAME} is used)")
        if name == "rotate":
            add_as(command)


def signing_command(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None) -> int:
    """`python -m bot signing …` with its parsed arguments; its settings (SIGNING_KEYS_FILE, SIGNING_KEYS,
    RECEIPT_TTL) from `environ` (the environment when None). Returns an exit code."""
    try:
        settings = StoreSettings.from_env(environ)
    except SettingsError as exc:
        return failed(str(exc), 2)
    named = args.file or settings.signing_keys_file
    path = Path(named).expanduser() if named else None
    given = (reveal(settings.signing_keys) or "").strip()
    if path is None and not given:
        if args.action == "show":
            return failed(f"no signing keys: set {FILE_NAME} (or {ENV_NAME}), or name a file with --file", 2)
        return failed(f"name the keys file to write: --file PATH or {FILE_NAME}", 2)
    try:
        if args.action == "rotate":
            return _rotate(path, given, keep=settings.receipt_ttl, settings=settings, op=operator_of(args.who))
        return _show(path, given)
    except SigningError as exc:
        return failed(str(exc), 2)
    except StoreUnavailable as exc:
        return failed(f"the rotation is audited first, and Redis where REDIS_URL points cannot be reached"
                      f" ({exc.cause}): nothing changed", 1)


def _rotate(path: Path | None, given: str, *, keep: float, settings: StoreSettings, op: Operator) -> int:
    now = time.time()
    before = (entries_of(*_read(path)) if path.exists() else []) if path is not None else entries_of(given, ENV_NAME)
    after, said = rotated(before, now=now, keep=keep)
    where = f"{FILE_NAME} {path}" if path is not None else ENV_NAME
    asyncio.run(_audit(settings, op=op, before=before, after=after, where=where))
    if path is not None:
        write_private(path, document(after))
        for line in said:
            print(line)
        print(f"wrote {path} (mode 0600); workers re-read it within seconds")
        return 0
    print(json.dumps({"keys": after}))
    for line in said:
        print(line, file=sys.stderr)
    print(f"set {ENV_NAME} to the JSON above on every worker and restart them (keys from the environment are"
          " read at start)", file=sys.stderr)
    return 0


async def _audit(
    settings: StoreSettings, *, op: Operator, before: list[dict[str, object]], after: list[dict[str, object]],
    where: str,
) -> None:
    """The rotation's audit entry (before the keys change): the new current kid, the one it retires, where."""
    old = {str(k.get("kid")) for k in before}
    new = next((str(k.get("kid")) for k in after if str(k.get("kid")) not in old), "")
    retired = next((str(k.get("kid")) for k in before if "retired_at" not in k), "")
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    try:
        await Store(redis, prefix=settings.store_prefix, sharded=settings.store_sharded).audit.append(
            "signing_rotated", by=op.by, kid=new, retired=retired, where=where[:300], via="cli", **op.fields())
    finally:
        await redis.aclose()


def _read(path: Path) -> tuple[str, str]:
    text, _ = read_keys_file(path)
    return text, f"{FILE_NAME} {path}"


def _show(path: Path | None, given: str) -> int:
    text, source = _read(path) if path is not None else (given, ENV_NAME)
    keys = parse_keys(text, source, require_current=False)
    current = current_of(keys)
    shown = []
    for key in sorted(keys, key=lambda key: -key.created_at):
        entry = key.public_jwk() | {"created_at": int(key.created_at), "current": key is current,
                                    "private_part_kept": key.private is not None}
        if key.retired_at is not None:
            entry["retired_at"] = int(key.retired_at)
        shown.append(entry)
    print(json.dumps({"current_kid": None if current is None else current.kid, "keys": shown}, indent=2))
    return 0

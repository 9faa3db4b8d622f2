"""`python -m bot signing …`: the signing keys of receipts and audit checkpoints (bot/core/signing.py).

    python -m bot signing rotate [--file PATH]   add a key; the old current one is retired now
    python -m bot signing show [--file PATH]     the public keys: kids, which is current, when retired

`rotate` keeps every retired key's public part (old audit checkpoints still verify) and its private part
until what it signed has expired (RECEIPT_TTL after it was retired). It writes the file atomically with mode
0600, creating it when missing; workers re-read it within seconds, no restart. When the keys come from the
SIGNING_KEYS variable instead, it prints the new JSON for the operator to set. Needs no Redis.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from bot.core.key_files import document, entries_of, rotated, write_private
from bot.core.settings import SettingsError, StoreSettings, reveal
from bot.core.signing import ENV_NAME, FILE_NAME, SigningError, current_of, parse_keys, read_keys_file


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The arguments of `python -m bot signing` (its parser: this module's docstring as its description, raw)."""
    sub = parser.add_subparsers(dest="action", required=True)
    for name, words in (("rotate", "add a new current key; retire the old one"), ("show", "the public keys")):
        command = sub.add_parser(name, help=words)
        command.add_argument("--file", help=f"the keys file (default ${FILE_NAME}; else ${ENV_NAME} is used)")


def signing_command(args: argparse.Namespace, *, environ: Mapping[str, str] | None = None) -> int:
    """`python -m bot signing …` with its parsed arguments; its settings (SIGNING_KEYS_FILE, SIGNING_KEYS,
    RECEIPT_TTL) from `environ` (the environment when None). Returns an exit code."""
    try:
        settings = StoreSettings.from_env(environ)
    except SettingsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    named = args.file or settings.signing_keys_file
    path = Path(named).expanduser() if named else None
    given = (reveal(settings.signing_keys) or "").strip()
    if path is None and not given:
        if args.action == "show":
            print(f"error: no signing keys: set {FILE_NAME} (or {ENV_NAME}), or name a file with --file",
                  file=sys.stderr)
            return 2
        print(f"error: name the keys file to write: --file PATH or {FILE_NAME}", file=sys.stderr)
        return 2
    try:
        if args.action == "rotate":
            return _rotate(path, given, keep=settings.receipt_ttl)
        return _show(path, given)
    except SigningError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _rotate(path: Path | None, given: str, *, keep: float) -> int:
    now = time.time()
    if path is not None:
        entries = entries_of(*_read(path)) if path.exists() else []
        after, said = rotated(entries, now=now, keep=keep)
        write_private(path, document(after))
        for line in said:
            print(line)
        print(f"wrote {path} (mode 0600); workers re-read it within seconds")
        return 0
    after, said = rotated(entries_of(given, ENV_NAME), now=now, keep=keep)
    print(json.dumps({"keys": after}))
    for line in said:
        print(line, file=sys.stderr)
    print(f"set {ENV_NAME} to the JSON above on every worker and restart them (keys from the environment are"
          " read at start)", file=sys.stderr)
    return 0


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

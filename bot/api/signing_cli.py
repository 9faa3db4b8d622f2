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
import os
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from bot.core.durations import DurationError, parse_duration
from bot.core.signing import (
    ENV_NAME,
    FILE_NAME,
    SigningError,
    current_of,
    new_key_jwk,
    parse_keys,
    read_keys_file,
)

DEFAULT_KEEP = 600  # RECEIPT_TTL's default (bot/core/settings.py)


def receipt_ttl(environ: Mapping[str, str]) -> int:
    """RECEIPT_TTL from the environment (how long a receipt stays valid): how long a retired key's private
    part is kept. Read here alone so `signing` needs none of the worker's other settings."""
    text = environ.get("RECEIPT_TTL", "").strip()
    return parse_duration(text, max_seconds=86400) if text else DEFAULT_KEEP


def rotated(entries: list[dict[str, Any]], *, now: float, keep: float) -> tuple[list[dict[str, Any]], list[str]]:
    """The keys document's entries after a rotation, and what changed (lines for the operator): a new key;
    every key not yet retired retired `now`; the private part of keys retired `keep` seconds ago or more
    dropped (their public part stays)."""
    said: list[str] = []
    out: list[dict[str, Any]] = []
    for entry in entries:
        entry = dict(entry)
        if entry.get("retired_at") is None:
            entry["retired_at"] = int(now)
            said.append(f"retired {entry['kid']} (its receipts verify until they expire)")
        elif "d" in entry and now - float(entry["retired_at"]) >= keep:
            del entry["d"]
            said.append(f"dropped the private part of {entry['kid']} (retired {int(now - entry['retired_at'])} s ago)")
        out.append(entry)
    new = new_key_jwk(now)
    out.append(new)
    said.insert(0, f"added {new['kid']}: the current key")
    return out, said


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path` atomically (a new file renamed over it) with mode 0600 from its first byte."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mkstemp: 0600
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, 0o600)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    try:
        directory = os.open(path.parent, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(directory)
    except OSError:
        pass
    finally:
        os.close(directory)


def ensure_keys_file(path: Path) -> bool:
    """Make `path` a keys file with one new key when it does not exist (dev mode). True when it made one."""
    if path.exists():
        return False
    write_private(path, _dump([new_key_jwk()]))
    return True


def _dump(entries: list[dict[str, Any]]) -> str:
    return json.dumps({"keys": entries}, indent=2) + "\n"


def _entries(text: str, source: str) -> list[dict[str, Any]]:
    parse_keys(text, source, require_current=False)  # refuses what is malformed, with a message
    keys: list[dict[str, Any]] = json.loads(text)["keys"]
    return keys


def _rotate(path: Path | None, environ: Mapping[str, str]) -> int:
    keep = receipt_ttl(environ)
    now = time.time()
    if path is not None:
        entries = _entries(*_read(path)) if path.exists() else []
        after, said = rotated(entries, now=now, keep=keep)
        write_private(path, _dump(after))
        for line in said:
            print(line)
        print(f"wrote {path} (mode 0600); workers re-read it within seconds")
        return 0
    text = environ.get(ENV_NAME, "")
    after, said = rotated(_entries(text, ENV_NAME), now=now, keep=keep)
    print(json.dumps({"keys": after}))
    for line in said:
        print(line, file=sys.stderr)
    print(f"set {ENV_NAME} to the JSON above on every worker and restart them (keys from the environment are"
          " read at start)", file=sys.stderr)
    return 0


def _read(path: Path) -> tuple[str, str]:
    text, _ = read_keys_file(path)
    return text, f"{FILE_NAME} {path}"


def _show(path: Path | None, environ: Mapping[str, str]) -> int:
    text, source = _read(path) if path is not None else (environ.get(ENV_NAME, ""), ENV_NAME)
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


def signing_command(argv: Sequence[str], *, environ: Mapping[str, str] | None = None) -> int:
    """`python -m bot signing …` (see the module docstring). Returns an exit code."""
    env = os.environ if environ is None else environ
    parser = argparse.ArgumentParser(prog="python -m bot signing", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="action", required=True)
    for name, words in (("rotate", "add a new current key; retire the old one"), ("show", "the public keys")):
        command = sub.add_parser(name, help=words)
        command.add_argument("--file", help=f"the keys file (default ${FILE_NAME}; else ${ENV_NAME} is used)")
    args = parser.parse_args(argv)
    named = args.file or env.get(FILE_NAME, "").strip()
    path = Path(named).expanduser() if named else None
    if path is None and not env.get(ENV_NAME, "").strip():
        if args.action == "show":
            print(f"error: no signing keys: set {FILE_NAME} (or {ENV_NAME}), or name a file with --file",
                  file=sys.stderr)
            return 2
        print(f"error: name the keys file to write: --file PATH or {FILE_NAME}", file=sys.stderr)
        return 2
    try:
        return _rotate(path, env) if args.action == "rotate" else _show(path, env)
    except (SigningError, DurationError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

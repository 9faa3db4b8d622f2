"""The signing keys' file (bot/core/signing.py reads it): made for dev mode, rotated by `python -m bot signing
rotate` (bot/cli/signing.py), always written whole, atomically, with mode 0600 from its first byte."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from bot.core.signing import new_key_jwk, parse_keys


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
    write_private(path, document([new_key_jwk()]))
    return True


def document(entries: list[dict[str, Any]]) -> str:
    """The keys file's text for `entries`."""
    return json.dumps({"keys": entries}, indent=2) + "\n"


def entries_of(text: str, source: str) -> list[dict[str, Any]]:
    """The entries of a keys document, as written (refused with a `SigningError` naming `source` when malformed)."""
    parse_keys(text, source, require_current=False)
    keys: list[dict[str, Any]] = json.loads(text)["keys"]
    return keys

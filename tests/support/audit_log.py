"""Helpers of the audit log's tests: a signing keys file, the stream read and rewritten with plain Redis commands
(as someone with Redis access would tamper with it), and the verify walk's answer."""

from __future__ import annotations

import json
import os
from pathlib import Path

from bot.audit.checkpoints import CHECKPOINT_TYPE, AuditCheckpoints
from bot.audit.verify import Verifier, walk
from bot.core.signing import SigningKeys, new_key_jwk
from bot.store import Store
from bot.store.audit import Announced

Entry = tuple[str, dict[str, str]]


class UnannouncedWriter(AuditCheckpoints):
    """The checkpoint writer as released before keys were announced in the log (#63.13): it writes no `signing_key`
    entry. The walk's own findings are tested with it, on the seqs they were written for; a log it wrote is one from
    before announcements (verify checks no key against it), which this version's writer upgrades
    (tests/audit/test_key_announcements.py)."""

    async def _announced(self, keys: SigningKeys, *, upgrading: bool) -> Announced:
        return Announced(kid=keys.current.kid, since=0, seq=0, entry_id="")


def keys_file(path: Path) -> Path:
    """A keys file of one new Ed25519 key, mode 0600 (as bot/core/signing.py wants)."""
    path.write_text(json.dumps({"keys": [new_key_jwk()]}))
    os.chmod(path, 0o600)
    return path


def signing_keys(path: Path) -> SigningKeys:
    return SigningKeys.from_file(keys_file(path))


def verifier(keys: SigningKeys) -> Verifier:
    return lambda jws: keys.verify(jws, typ=CHECKPOINT_TYPE)


async def entries(store: Store) -> list[Entry]:
    return [(str(i), dict(f)) for i, f in await store.redis.xrange(store.keys.audit)]


async def rewrite(store: Store, new: list[Entry], key: str | None = None) -> None:
    """Replace the whole stream with `new` (ids as given), as plain DEL and XADD do."""
    key = key or store.keys.audit
    await store.redis.delete(key)
    for entry_id, fields in new:
        await store.redis.xadd(key, fields, id=entry_id)  # type: ignore[arg-type]


def spaced(log: list[Entry]) -> list[Entry]:
    """The same entries under ids 10 ms apart (room to insert one between two), fields unchanged."""
    return [(f"{1_000_000 + 10 * n}-0", fields) for n, (_, fields) in enumerate(log)]


async def verdict(
    store: Store, keys: SigningKeys | None = None, since: float | None = None, retention: float | None = None,
    now: float | None = None,
) -> tuple[str, int]:
    return await walk(store, since, verifier(keys) if keys is not None else None, retention=retention, now=now)

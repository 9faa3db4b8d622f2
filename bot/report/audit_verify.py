"""`python -m bot audit verify [--since 7d|ISO] [--jwks FILE]`: walk the audit chain and check its signed checkpoints.

Exit 0 with a one-paragraph summary when the log is intact; 1 naming the first entry altered, deleted or inserted
(or a checkpoint whose signature does not verify), or when Redis cannot be read; 2 on bad usage. The walk itself is
bot/report/audit_chain.py; here the entries and checkpoints are read from Redis, and the checkpoints' signatures
checked with the deployment's keys (SIGNING_KEYS_FILE / SIGNING_KEYS), or with the public keys of `--jwks` (a
JWKS: the bot's `GET /api/v1/jwks.json`, or the keys file itself).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from bot.core.settings import SettingsError, StoreSettings
from bot.core.signing import SigningError, load_signing_keys, public_keys_of, verify_jws
from bot.report.audit_chain import ChainWalk, Checkpoint, Problem
from bot.report.audit_export import iso_utc
from bot.report.checkpoints import CHECKPOINT_TYPE
from bot.report.cli import ReportError, check_since
from bot.store import Store, StoreUnavailable, connect

Verifier = Callable[[str], dict[str, Any]]  # a checkpoint's JWS -> its claims, or SigningError
BATCH = 2000  # entries read per XRANGE


class Forged(Exception):
    """A checkpoint whose signature or fields do not verify."""


def since_time(text: str, now: float) -> float:
    """`--since` as epoch seconds: a duration back from `now` (7d, 12h...) or an ISO 8601 time (UTC unless it
    says its offset). ReportError when it is neither."""
    try:
        return now - check_since(text)
    except ReportError as duration_error:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise ReportError(f"{duration_error}, or an ISO 8601 time (2026-11-23T14:05:09Z)") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()


def jwks_verifier(path: Path) -> Verifier:
    """Checks checkpoints with the public keys of a JWKS file (private parts, if any, are not read)."""
    try:
        keys = public_keys_of(json.loads(path.read_text()))
    except (OSError, ValueError, SigningError) as exc:
        raise ReportError(f"--jwks: {path} is not a readable JWKS of Ed25519 keys ({type(exc).__name__})") from None
    if not keys:
        raise ReportError(f"--jwks: {path} holds no Ed25519 key")
    return lambda jws: verify_jws(jws, keys, typ=CHECKPOINT_TYPE, whose="the keys in --jwks")


def checkpoint_of(entry_id: str, fields: dict[str, str], verify: Verifier | None) -> Checkpoint:
    """A stored checkpoint, its JWS verified when there is a key (Forged says why not); what it signed is the
    truth, and the fields stored beside it must say the same."""
    try:
        stored = Checkpoint(entry_id, int(fields["seq"]), fields["hash"], fields["id"], float(fields["at"]),
                            signed=False)
    except (KeyError, ValueError):
        raise Forged("its fields are not a checkpoint's (seq, hash, id, at, jws)") from None
    if verify is None:
        return stored
    try:
        claims = verify(fields.get("jws", ""))
    except SigningError as exc:
        raise Forged(str(exc)) from None
    signed = (claims.get("seq"), claims.get("hash"), claims.get("id"))
    if signed != (stored.seq, stored.hash, stored.entry_id):
        raise Forged("the seq, hash or id stored beside its JWS are not what it signed")
    return Checkpoint(entry_id, stored.seq, stored.hash, stored.entry_id, float(claims.get("at") or 0), signed=True)


def verify_audit(
    *, since: str | None, jwks: str | None, out: TextIO | None = None, settings: StoreSettings | None = None
) -> int:
    """Check the audit log (see the module). Returns the exit code."""
    out = out or sys.stdout
    try:
        start_at = since_time(since, time.time()) if since is not None else None
        settings = StoreSettings.from_env() if settings is None else settings
        verify: Verifier | None
        if jwks is not None:
            verify = jwks_verifier(Path(jwks).expanduser())
        else:
            keys = load_signing_keys(settings)
            verify = None if keys is None else (lambda jws: keys.verify(jws, typ=CHECKPOINT_TYPE))
    except (ReportError, SettingsError, SigningError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        said, code = asyncio.run(_verify(settings, start_at, verify))
    except StoreUnavailable as exc:
        print(f"error: cannot read the audit log from Redis ({type(exc).__name__}); is Redis running where REDIS_URL"
              " points, with the right password?", file=sys.stderr)
        return 1
    print(said, file=out)
    return code


async def _verify(settings: StoreSettings, start_at: float | None, verify: Verifier | None) -> tuple[str, int]:
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    store = Store(redis, prefix=settings.store_prefix)
    try:
        return await walk(store, start_at, verify)
    finally:
        await redis.aclose()


async def walk(store: Store, start_at: float | None, verify: Verifier | None) -> tuple[str, int]:
    """Walk the store's audit log (from the last checkpoint at or before `start_at`, else from its oldest entry):
    (what to print, exit code)."""
    checkpoints: list[Checkpoint] = []
    for entry_id, fields in await store.audit.checkpoints():
        try:
            checkpoints.append(checkpoint_of(entry_id, fields, verify))
        except Forged as exc:
            return f"audit log NOT intact: forged checkpoint {entry_id} (seq {fields.get('seq', '?')[:20]}): {exc}", 1
    start = None
    if start_at is not None:
        start = max((c for c in checkpoints if c.at <= start_at), key=lambda c: c.seq, default=None)
        oldest = await store.audit.chained(count=1)
        if start is not None and (not oldest or _id_key(oldest[0][0]) > _id_key(start.entry_id)):
            start = None  # its entry is trimmed: the walk starts at the oldest entry kept
    chain = ChainWalk(checkpoints, start=start)
    lower = start.entry_id if start is not None else "-"
    while batch := await store.audit.chained(lower=lower, count=BATCH):
        for entry_id, fields in batch:
            if chain.feed(entry_id, fields) is not None:
                break
        if chain.problem is not None or len(batch) < BATCH:
            break
        lower = "(" + batch[-1][0]
    problem = chain.finish()
    if problem is not None:
        return _not_intact(problem), 1
    return summary(chain, start, signing=verify is not None), 0


def _id_key(entry_id: str) -> tuple[int, int]:
    ms, _, number = entry_id.partition("-")
    return int(ms), int(number or 0)


def _not_intact(problem: Problem) -> str:
    return f"audit log NOT intact: {problem}"


def summary(chain: ChainWalk, start: Checkpoint | None, *, signing: bool) -> str:
    """The paragraph `audit verify` prints for an intact log."""
    if chain.first is None or chain.last is None:
        said = "audit log intact: no chained entry"
        if chain.skipped:
            said += f"; {chain.skipped:,} older entries written before the chain were not checked"
        return said + "."
    said = f"audit log intact: {chain.checked:,} entries checked, seq {chain.first.seq:,} to {chain.last.seq:,}"
    if start is not None:
        said += f", from checkpoint {start.id} (seq {start.seq:,}, signed {iso_utc(repr(start.at))})"
    if chain.skipped:
        said += f"; {chain.skipped:,} older entries written before the chain were skipped"
    signed = chain.signed
    if signed:
        newest = max(signed, key=lambda c: c.seq)
        said += (f"; {len(signed):,} signed checkpoints verified, the last at seq {newest.seq:,}"
                 f" (signed {iso_utc(repr(newest.at))}); {chain.unsigned_tail:,} entries after it are covered only by"
                 " the chain, not yet by a signature")
    elif signing:
        said += (f"; no signed checkpoint covers them yet: all {chain.unsigned_tail:,} are covered only by the chain,"
                 " whose head is in Redis")
    else:
        unchecked = len(chain.matched)
        said += ("; the log is chained but unsigned: no signing key (SIGNING_KEYS_FILE, SIGNING_KEYS or --jwks)"
                 + (f", so the {unchecked:,} checkpoints it reached were compared but their signatures not checked"
                    if unchecked else ""))
    return said + "."

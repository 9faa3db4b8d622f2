"""`python -m bot audit verify [--since 7d|ISO] [--jwks FILE|URL]`: check the audit log against its signed checkpoints.

Exit 0 with a one-paragraph summary when the log is intact; 1 naming the first entry altered, deleted or inserted
(or a checkpoint whose signature does not verify), when no audit log is found under REDIS_KEY_PREFIX, or when Redis
cannot be read; 2 on bad usage. The log is walked by this scheme's rules (bot/audit/walker.py, bot/audit/walk.py),
and every finding names its shard (bot/audit/shards.py); an entry or a checkpoint of another form (such as the old
chain's, of versions before 0.1.0) is not of this scheme, and named. Here the entries and checkpoints are read from
Redis, and the checkpoints' signatures checked with the deployment's keys (SIGNING_KEYS_FILE / SIGNING_KEYS), or
with the public keys of `--jwks` (a JWKS file, or a URL such as a deployed bot's `https://.../api/v1/jwks.json`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import httpx

from bot.audit.chains import chain_stores, check_population
from bot.audit.checkpoints import CHECKPOINT_TYPE, VERSION, redis_keep
from bot.audit.digests import chain, unpack
from bot.audit.shards import ONE, ShardIndexError, read_index
from bot.audit.walk import Problem, Signed, check_checkpoints
from bot.audit.walker import Walker, as_float, iso_utc, named
from bot.core.durations import DurationError, parse_duration
from bot.core.settings import LONGEST_RETENTION, SettingsError, StoreSettings
from bot.core.signing import (
    ENV_NAME,
    FILE_NAME,
    SigningError,
    b64url_decode,
    load_signing_keys,
    public_keys_of,
    verify_jws,
)
from bot.store import Store, StoreUnavailable, connect

Verifier = Callable[[str], dict[str, Any]]  # a checkpoint's JWS -> its claims, or SigningError
KEY_SKEW = 300.0  # seconds a key's `created_at` may follow a checkpoint it signed (clocks apart) before a warning
BATCH = 2000  # entries read per XRANGE
NO_LOG = -1  # the walk's code for "no audit log here" (the command exits 1 and says so)
RESTORED = 3  # exit code: intact, but for the seqs a restore lost, each signed as such (a known restore, named)


class UsageError(ValueError):
    """A bad argument: the message names it."""


class Forged(Exception):
    """A checkpoint whose signature or fields do not verify."""


@dataclass(frozen=True)
class Trust:
    """The keys a check trusts: where they come from (`source`), each one's creation time by kid (None: not known,
    as in a JWKS), and whether they were pinned (`--jwks`) rather than read from the deployment's own keys."""

    source: str
    created: dict[str, float | None]
    pinned: bool
    public: dict[str, str] = field(default_factory=dict)  # each key's public part `x`, by kid

    def said(self) -> str:
        kids = ", ".join(
            kid + (f" (created {iso_utc(at)})" if at is not None else "") for kid, at in self.created.items()
        )
        said = f"; the keys trusted, from {self.source}: {kids}"
        if not self.pinned:
            said += (". Anyone who can write the keys file and Redis could rewrite the log from a key's announcement"
                     " on: check with the public keys pinned where the bot cannot write them (--jwks FILE, a copy of"
                     " /api/v1/jwks.json kept apart)")
        return said


def kid_of(jws: str) -> str:
    """The `kid` in a compact JWS's header ("" when there is none)."""
    try:
        header = json.loads(b64url_decode(jws.split(".", 1)[0]))
    except (ValueError, IndexError, SigningError, RecursionError):
        return ""
    kid = header.get("kid") if isinstance(header, dict) else None
    return kid if isinstance(kid, str) else ""


def late_keys(checkpoints: list[tuple[str, float, str]], trust: Trust | None) -> list[str]:
    """Warnings for checkpoints (stream id, when signed, the JWS) signed by a key created after them: a key added
    to the keys file since may have re-signed them."""
    if trust is None:
        return []
    said: list[str] = []
    for entry_id, at, jws in checkpoints:
        kid = kid_of(jws)
        created = trust.created.get(kid)
        if created is not None and created > at + KEY_SKEW:
            said.append(f"WARNING: checkpoint {entry_id} says it was signed {iso_utc(at)}, by key {kid}, which was"
                        f" created {iso_utc(created)}, after it: a key added to the keys file since may have re-signed"
                        " it. Check with pinned keys (--jwks).")
    return said


Announced = dict[str, list[tuple[int, str]]]  # kid -> (the seq it stands from, its public `x`), per announcement


async def announcements(store: Store, seen: list[tuple[str, dict[str, str]]]) -> Announced:
    """The signing keys the log announces (`signing_key` entries, bot/audit/checkpoints.py): those among the entries
    walked (`seen`), and those before them (`--since`) that `Keys.audit_kids` points to and the log still has."""
    have = {entry_id for entry_id, _ in seen}
    pointed = [a.entry_id for a in await store.audit.announced() if a.entry_id not in have]
    found: Announced = {}
    for _, fields in [*seen, *await store.audit.entries_at(pointed)]:
        try:
            kid, x = fields["kid"], json.loads(fields["jwk"])["x"]
            since = int(fields.get("since") or fields["seq"])
        except (KeyError, ValueError, TypeError):
            continue  # no announcement: a key it would stand for is named
        if fields.get("event") == "signing_key" and isinstance(x, str):
            found.setdefault(kid, []).append((since, x))
    return found


def unannounced(
    stored: list[tuple[str, dict[str, str]]], found: Announced, begin: int | None, trust: Trust | None
) -> str | None:
    """The first checkpoint of this scheme (from seq `begin` on) signed by a key the log did not announce before it
    (or announced with another public key than the one trusted under its kid), said; None when there is none, or
    when the log announces no key at all (written before announcements)."""
    if not found:
        return None
    for entry_id, fields in stored:
        seq = int(fields.get("seq") or 0)
        if fields.get("v") != VERSION or (begin is not None and seq < begin):
            continue
        kid = kid_of(fields.get("jws", ""))
        x = trust.public.get(kid) if trust is not None else None
        theirs = [since for since, announced in found.get(kid, []) if x is None or announced == x]
        if theirs and min(theirs) <= seq:
            continue
        if found.get(kid) and not theirs:
            why = "which the log announced with another public key"
        elif theirs:
            why = f"which the log announced only from seq {min(theirs):,}, after it (backdated)"
        else:
            why = "which the log never announced"
        return (f"checkpoint {entry_id} (seq {seq:,}) is signed by key {kid[:60]}, {why}: a key added to the keys"
                " file may have re-signed it")
    return None


def since_time(text: str, now: float) -> float:
    """`--since` as epoch seconds: a duration back from `now` (7d, 12h...) or an ISO 8601 time (UTC unless it
    says its offset). UsageError when it is neither."""
    try:
        return now - parse_duration(text, max_seconds=LONGEST_RETENTION)
    except DurationError as exc:
        try:
            moment = datetime.fromisoformat(text.strip())
        except ValueError:
            raise UsageError(f"--since: {exc.problem}: {text.strip()[:40]!r}; use a duration (30m, 12h, 7d) or an"
                             " ISO 8601 time (2026-11-23T14:05:09Z)") from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return moment.timestamp()


def jwks_document(where: str) -> dict[str, Any]:
    """The JWKS of `--jwks`: a file, or an http(s) URL; UsageError when it holds no Ed25519 public key."""
    try:
        if where.startswith(("http://", "https://")):
            answer = httpx.get(where, timeout=10.0, follow_redirects=True)
            answer.raise_for_status()
            document = answer.json()
        else:
            document = json.loads(Path(where).expanduser().read_text())
        keys = public_keys_of(document)
    except (OSError, ValueError, SigningError, httpx.HTTPError, RecursionError) as exc:
        raise UsageError(f"--jwks: {where[:200]} is not a readable JWKS of Ed25519 keys ({type(exc).__name__})"
                         ) from None
    if not keys:
        raise UsageError(f"--jwks: {where[:200]} holds no Ed25519 key")
    return dict(document)


def jwks_verifier(where: str) -> tuple[Verifier, Trust]:
    """Checks checkpoints with the public keys of a JWKS: a file, or an http(s) URL (private parts are not read)."""
    document = jwks_document(where)
    keys = public_keys_of(document)
    public = {str(e["kid"]): str(e.get("x")) for e in document["keys"] if isinstance(e, dict) and e.get("kid") in keys}
    trust = Trust(source=f"--jwks {where[:200]}", created=dict.fromkeys(keys), pinned=True, public=public)
    return (lambda jws: verify_jws(jws, keys, typ=CHECKPOINT_TYPE, whose="the keys in --jwks")), trust


SIGNED_FIELDS = ("from", "seq", "id", "head", "prev", "start", "trim")


def signed_of(entry_id: str, fields: dict[str, str], verify: Verifier | None) -> Signed:
    """A stored checkpoint of this scheme: what it signed, checked against the fields stored beside its JWS (Forged
    when they differ), and its kept digests (None when they are not what it signed)."""
    try:
        stored = Signed(entry_id, int(fields["from"]), int(fields["seq"]), fields["id"], fields["head"],
                        fields["prev"], int(fields["start"]), fields["trim"], float(fields["at"]), signed=False)
    except (KeyError, ValueError):
        raise Forged("its fields are not a checkpoint's (from, seq, id, head, prev, start, trim, at, jws)") from None
    if verify is not None:
        claims = _claims(fields, verify)
        if [str(claims.get(name)) for name in SIGNED_FIELDS] != [fields[name] for name in SIGNED_FIELDS]:
            raise Forged("the fields stored beside its JWS are not what it signed")
    gap = _gap(fields.get("restored_gap"))
    if verify is not None and "restored_gap" in fields and _claims(fields, verify).get("restored_gap") != (
            list(gap) if gap else None):
        raise Forged("the restored gap stored beside its JWS is not what it signed")
    keep = _keep(fields.get("keep"))
    if verify is not None:  # (what it signs, whatever is kept beside it)
        signed_keep = _keep(_claims(fields, verify).get("keep"))
        if "keep" in fields and signed_keep != keep:
            raise Forged("the keep stored beside its JWS is not what it signed")
        keep = signed_keep
    leaves = unpack(fields.get("leaves", ""))
    if leaves is not None:
        if len(leaves) != stored.seq - stored.first + 1 or chain(_raw(stored.prev), leaves).hex() != stored.head:
            leaves = None
    return Signed(stored.id, stored.first, stored.seq, stored.entry_id, stored.head, stored.prev, stored.start,
                  stored.trim, stored.at, tuple(leaves) if leaves is not None else None, signed=verify is not None,
                  gap=gap, keep=keep)


def _keep(value: object) -> float | None:
    """A checkpoint's `keep` (seconds), as signed or kept beside it; None when it says none."""
    try:
        keep = float(str(value)) if value is not None else None
    except ValueError:
        return None
    return keep if keep is not None and keep >= 0 and keep == keep else None


def _gap(text: str | None) -> tuple[int, int] | None:
    """A checkpoint's `restored_gap` as kept (`from-to`), or None."""
    low, _, high = (text or "").partition("-")
    if not (low.isascii() and low.isdigit() and high.isascii() and high.isdigit()):
        return None
    return int(low), int(high)


def other_scheme(fields: dict[str, str]) -> str:
    """Why a stored checkpoint without `v` 2 is not one of this scheme (said after its stream id and seq)."""
    if "v" not in fields:
        return ("is not a checkpoint of this scheme: it has no `v` (the old chain's checkpoints, `seq`, `hash`, `id`,"
                " `at`, were written by versions before 0.1.0)")
    return f"is not a checkpoint of this scheme: its `v` is {fields['v'][:20]!r}, not {VERSION}"


def _raw(text: str) -> bytes:
    try:
        return bytes.fromhex(text)
    except ValueError:
        return b""


def _claims(fields: dict[str, str], verify: Verifier) -> dict[str, Any]:
    try:
        return verify(fields.get("jws", ""))
    except SigningError as exc:
        raise Forged(str(exc)) from None


def verify_audit(
    *, since: str | None, jwks: str | None, out: TextIO | None = None, settings: StoreSettings | None = None,
    environ: Mapping[str, str] | None = None,
) -> int:
    """Check the audit log (see the module). Returns the exit code. The store and the signing keys are `settings`'s,
    else `StoreSettings.from_env(environ)`'s (the environment when `environ` is None)."""
    out = out or sys.stdout
    try:
        start_at = since_time(since, time.time()) if since is not None else None
        settings = StoreSettings.from_env(environ) if settings is None else settings
        verify: Verifier | None
        trust: Trust | None = None
        if jwks is not None:
            verify, trust = jwks_verifier(jwks)
        else:
            keys = load_signing_keys(settings)
            verify = None if keys is None else (lambda jws: keys.verify(jws, typ=CHECKPOINT_TYPE))
            if keys is not None:
                source = f"{FILE_NAME} {settings.signing_keys_file}" if settings.signing_keys_file else ENV_NAME
                trust = Trust(source=source, created={k.kid: k.created_at for k in keys.keys}, pinned=False,
                              public={k.kid: k.x for k in keys.keys})
    except (UsageError, SettingsError, SigningError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        said, code = asyncio.run(_verify(settings, start_at, verify, trust))
    except StoreUnavailable as exc:
        print(f"error: cannot read the audit log from Redis ({exc.cause}); is Redis running where REDIS_URL"
              " points, with the right password?", file=sys.stderr)
        return 1
    if code == NO_LOG:
        print(f"error: {said}", file=sys.stderr)
        return 1
    if code == 0 and not settings.audit_archive:
        said += (f"\nNo archive (AUDIT_ARCHIVE): entries older than AUDIT_RETENTION"
                 f" ({settings.audit_retention / 86400:,.0f} days) are trimmed from Redis and gone for good.")
    print(said, file=out)
    return code


async def _verify(
    settings: StoreSettings, start_at: float | None, verify: Verifier | None, trust: Trust | None
) -> tuple[str, int]:
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    store = Store(redis, prefix=settings.store_prefix, sharded=settings.store_sharded)
    try:
        return await walk_chains(store, start_at, verify, retention=redis_keep(settings), trust=trust)
    finally:
        await redis.aclose()


async def walk_chains(
    store: Store, start_at: float | None, verify: Verifier | None, *, retention: float | None = None,
    trust: Trust | None = None,
) -> tuple[str, int]:
    """`walk` over every audit chain (bot/audit/chains.py: home's first, said as before, then each tenant's, said
    after its name), then the global checkpoints over their heads: what to print, and the worst exit code (NO_LOG
    only when no chain has a log)."""
    said, code = await walk(store, start_at, verify, retention=retention, trust=trust)
    lines, codes = [said], [code]
    for name, tenant in (await chain_stores(store))[1:]:
        chain_said, chain_code = await walk(tenant, start_at, verify, retention=retention, trust=trust)
        if chain_code != NO_LOG:  # (a tenant with no entry yet: nothing to say; one named gone: the global check)
            lines.append(f"chain {name}: {chain_said}")
            codes.append(chain_code)
    problem, proven = await check_population(store, verify)
    if problem is not None:
        lines.append(f"audit log NOT intact: {problem}")
        codes.append(1)
    elif proven and codes[0] in (0, RESTORED, NO_LOG) and all(c in (0, RESTORED) for c in codes[1:]):
        # (a chain broken: only what is wrong is said; home's may hold nothing yet, the workspaces' everything)
        lines.append(proven.strip())
    if codes[0] == NO_LOG and len(codes) == 1:
        return said, NO_LOG
    worst = 1 if any(c not in (0, RESTORED, NO_LOG) for c in codes) else (RESTORED if RESTORED in codes else 0)
    return "\n".join(line for line in lines if line), worst


async def walk(
    store: Store, start_at: float | None, verify: Verifier | None, *, retention: float | None = None,
    now: float | None = None, trust: Trust | None = None, after: str = "",
) -> tuple[str, int]:
    """Walk the store's audit log (from the last checkpoint at or before `start_at`, else from its oldest entry):
    (what to print, exit code; NO_LOG when there is none under the store's prefix). Nothing checked is never
    "intact" (exit 1), and the log must end at its counter: entries deleted from its end are found too. `after`
    (the watcher's): the stream id of the checkpoint verified last, the checkpoint at `start_at`: only it and the
    ones after it are read and verified (all of them when it is no longer kept)."""
    now = time.time() if now is None else now
    if not await store.audit.exists():
        return (f"no audit log found under the key prefix {store.keys.prefix!r} (is REDIS_KEY_PREFIX the bot's, and"
                " REDIS_URL its Redis?)"), NO_LOG
    counter = await store.audit.counter()  # read first: entries written during the walk are numbered past it
    try:
        shard = read_index(await store.audit.shards())
    except ShardIndexError as exc:
        return f"audit log NOT intact: the shard index {store.keys.audit_shards} is not one: {exc}", 1
    name = (shard or ONE).name
    stored = await _stored_checkpoints(store, after)
    read = _read_checkpoints(stored, verify)
    if isinstance(read, str):
        return f"audit log NOT intact: {name}: {read}", 1
    new, signatures = read
    begin = _last_at(new, start_at)
    walker = Walker(new, begin=begin, signing=verify is not None, name=name, indexed=shard is not None)
    problem = named(check_checkpoints([begin, *walker.new] if begin else new, retention=retention), name)
    seen: list[tuple[str, dict[str, str]]] = []  # the keys announced in the entries walked
    if problem is None:
        problem = await _feed(store, walker, "(" + begin.entry_id if begin is not None else "-", seen)
    problem = problem or walker.finish() or walker.past_end(counter)
    if problem is not None:
        return f"audit log NOT intact: {problem}", 1
    keys_said = ""
    if verify is not None:
        late, keys_said = await _keys_announced(store, seen, stored, begin, trust)
        if late is not None:
            return f"audit log NOT intact: {name}: {late}", 1
    if not walker.checked:
        return _nothing_checked(begin), 1
    said = walker.summary(now) + (trust.said() + "." if trust is not None else "") + keys_said
    restores = [restored(c) for c in walker.walk.restored]
    return "\n".join([said, *restores, *late_keys(signatures, trust)]), RESTORED if restores else 0


def _last_at(checkpoints: list[Signed], start_at: float | None) -> Signed | None:
    """The last checkpoint made at or before `start_at`, the walk's start (None: no `start_at`, or none so early)."""
    if not start_at:
        return None
    return max((c for c in checkpoints if c.at <= start_at), key=lambda c: c.seq, default=None)


def _nothing_checked(begin: Signed | None) -> str:
    return ("audit log NOT verified: no numbered entry was checked"
            + (f" after checkpoint {begin.id} (seq {begin.seq:,})" if begin is not None else "")
            + "; nothing checked is no proof. Verify from earlier (--since) or the whole log.")


async def _keys_announced(
    store: Store, seen: list[tuple[str, dict[str, str]]], stored: list[tuple[str, dict[str, str]]],
    begin: Signed | None, trust: Trust | None,
) -> tuple[str | None, str]:
    """The first checkpoint signed by a key the log did not announce before it (None: none), and what the summary
    says of the keys."""
    found = await announcements(store, seen)
    if (late := unannounced(stored, found, begin.seq if begin is not None else None, trust)) is not None:
        return late, ""
    return None, (" Every checkpoint's key was announced in the log before it." if found else
                  " No signing key is announced in this log (written before announcements): its checkpoints'"
                  " keys are not checked against it.")


async def _stored_checkpoints(store: Store, after: str) -> list[tuple[str, dict[str, str]]]:
    """The checkpoints to verify: from `after` on when it is still kept, else every one."""
    stored = await store.audit.checkpoints(since=after) if after else []
    if not stored or stored[0][0] != after:  # (not asked, or that checkpoint is gone: every one)
        stored = await store.audit.checkpoints()
    return stored


def _read_checkpoints(
    stored: list[tuple[str, dict[str, str]]], verify: Verifier | None
) -> tuple[list[Signed], list[tuple[str, float, str]]] | str:
    """The stored checkpoints read (and their signatures verified when `verify`), with what each was signed at; or
    the first one that is not of this scheme or is forged, said."""
    new: list[Signed] = []
    signatures: list[tuple[str, float, str]] = []
    for entry_id, fields in stored:
        if verify is not None:
            signatures.append((entry_id, as_float(fields.get("at")), fields.get("jws", "")))
        seq = fields.get("seq", "?")[:20]
        if fields.get("v") != VERSION:
            return f"checkpoint {entry_id} (seq {seq}) {other_scheme(fields)}"
        try:
            new.append(signed_of(entry_id, fields, verify))
        except Forged as exc:
            return f"forged checkpoint {entry_id} (seq {seq}): {exc}"
    return new, signatures


async def _feed(
    store: Store, walker: Walker, lower: str, seen: list[tuple[str, dict[str, str]]]
) -> Problem | None:
    """Feed the walker the log's entries after `lower`, a batch read while the one before is hashed, until one is
    wrong (its problem) or the log ends; the signing keys announced on the way are added to `seen`."""
    reading: asyncio.Task[list[tuple[str, dict[str, str]]]] | None = asyncio.create_task(
        store.audit.chained(lower=lower, count=BATCH))
    while reading is not None:
        batch = await reading
        # the next batch is read while this one is hashed
        reading = asyncio.create_task(store.audit.chained(lower="(" + batch[-1][0], count=BATCH)) if len(
            batch) == BATCH else None
        for entry_id, fields in batch:
            if fields.get("event") == "signing_key":
                seen.append((entry_id, fields))
            if (problem := walker.feed(entry_id, fields)) is not None:
                if reading is not None:
                    reading.cancel()
                return problem
    return None


def restored(checkpoint: Signed) -> str:
    """A known restore, said: the seqs Redis lost, and the signed checkpoint that names them."""
    low, high = checkpoint.gap or (0, 0)
    return (f"RESTORED: Redis lacks seqs {low:,} to {high:,} ({high - low + 1:,} entries): it was restored from an"
            f" older backup; checkpoint {checkpoint.id} (seq {checkpoint.first:,} to {checkpoint.seq:,}) signs them as"
            " lost in a restore and the archive (AUDIT_ARCHIVE) holds them: check them with `audit verify --archive`"
            " (exit 3: a known restore, not tampering).")

"""`python -m bot audit verify [--since 7d|ISO] [--jwks FILE|URL]`: check the audit log against its signed checkpoints.

Exit 0 with a one-paragraph summary when the log is intact; 1 naming the first entry altered, deleted or inserted
(or a checkpoint whose signature does not verify), when no audit log is found under REDIS_KEY_PREFIX, or when Redis
cannot be read; 2 on bad usage. The walks are bot/audit/walk.py (this scheme) and bot/audit/legacy.py (the old
chain, for logs upgraded from it); here the entries and checkpoints are read from Redis, and the checkpoints'
signatures checked with the deployment's keys (SIGNING_KEYS_FILE / SIGNING_KEYS), or with the public keys of
`--jwks` (a JWKS file, or a URL such as a deployed bot's `https://.../api/v1/jwks.json`).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

import httpx

from bot.audit.checkpoints import CHECKPOINT_TYPE, VERSION
from bot.audit.digests import BRIDGE, bridged, chain, number_of, seq_of, unpack
from bot.audit.legacy import ZERO, ChainWalk, Checkpoint, entry_hash
from bot.audit.walk import LogWalk, Problem, Signed, check_checkpoints, id_ms
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
NO_LOG = 3  # the walk's code for "no audit log here" (the command exits 1 and says so)


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

    def said(self) -> str:
        kids = ", ".join(
            kid + (f" (created {iso_utc(at)})" if at is not None else "") for kid, at in self.created.items()
        )
        said = f"; the keys trusted, from {self.source}: {kids}"
        if not self.pinned:
            said += (". Anyone who can write the keys file can add a key and re-sign checkpoints: check with the public"
                     " keys pinned where the bot cannot write them (--jwks FILE, a copy of /api/v1/jwks.json kept"
                     " apart)")
        return said


def kid_of(jws: str) -> str:
    """The `kid` in a compact JWS's header ("" when there is none)."""
    try:
        header = json.loads(b64url_decode(jws.split(".", 1)[0]))
    except (ValueError, IndexError):
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


def iso_utc(seconds: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(seconds))


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


def jwks_verifier(where: str) -> tuple[Verifier, Trust]:
    """Checks checkpoints with the public keys of a JWKS: a file, or an http(s) URL (private parts are not read)."""
    try:
        if where.startswith(("http://", "https://")):
            answer = httpx.get(where, timeout=10.0, follow_redirects=True)
            answer.raise_for_status()
            document = answer.json()
        else:
            document = json.loads(Path(where).expanduser().read_text())
        keys = public_keys_of(document)
    except (OSError, ValueError, SigningError, httpx.HTTPError) as exc:
        raise UsageError(f"--jwks: {where[:200]} is not a readable JWKS of Ed25519 keys ({type(exc).__name__})"
                         ) from None
    if not keys:
        raise UsageError(f"--jwks: {where[:200]} holds no Ed25519 key")
    trust = Trust(source=f"--jwks {where[:200]}", created=dict.fromkeys(keys), pinned=True)
    return (lambda jws: verify_jws(jws, keys, typ=CHECKPOINT_TYPE, whose="the keys in --jwks")), trust


def checkpoint_of(entry_id: str, fields: dict[str, str], verify: Verifier | None) -> Checkpoint:
    """A stored checkpoint of the old chain, its JWS verified when there is a key (Forged says why not)."""
    try:
        stored = Checkpoint(entry_id, int(fields["seq"]), fields["hash"], fields["id"], float(fields["at"]),
                            signed=False)
    except (KeyError, ValueError):
        raise Forged("its fields are not a checkpoint's (seq, hash, id, at, jws)") from None
    if verify is None:
        return stored
    claims = _claims(fields, verify)
    if (claims.get("seq"), claims.get("hash"), claims.get("id")) != (stored.seq, stored.hash, stored.entry_id):
        raise Forged("the seq, hash or id stored beside its JWS are not what it signed")
    return Checkpoint(entry_id, stored.seq, stored.hash, stored.entry_id, float(claims.get("at") or 0), signed=True)


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
    leaves = unpack(fields.get("leaves", ""))
    if leaves is not None:
        if len(leaves) != stored.seq - stored.first + 1 or chain(_raw(stored.prev), leaves).hex() != stored.head:
            leaves = None
    return Signed(stored.id, stored.first, stored.seq, stored.entry_id, stored.head, stored.prev, stored.start,
                  stored.trim, stored.at, tuple(leaves) if leaves is not None else None, signed=verify is not None)


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
    *, since: str | None, jwks: str | None, out: TextIO | None = None, settings: StoreSettings | None = None
) -> int:
    """Check the audit log (see the module). Returns the exit code."""
    out = out or sys.stdout
    try:
        start_at = since_time(since, time.time()) if since is not None else None
        settings = StoreSettings.from_env() if settings is None else settings
        verify: Verifier | None
        trust: Trust | None = None
        if jwks is not None:
            verify, trust = jwks_verifier(jwks)
        else:
            keys = load_signing_keys(settings)
            verify = None if keys is None else (lambda jws: keys.verify(jws, typ=CHECKPOINT_TYPE))
            if keys is not None:
                source = f"{FILE_NAME} {settings.signing_keys_file}" if settings.signing_keys_file else ENV_NAME
                trust = Trust(source=source, created={k.kid: k.created_at for k in keys.keys}, pinned=False)
    except (UsageError, SettingsError, SigningError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        said, code = asyncio.run(_verify(settings, start_at, verify, trust))
    except StoreUnavailable as exc:
        print(f"error: cannot read the audit log from Redis ({type(exc).__name__}); is Redis running where REDIS_URL"
              " points, with the right password?", file=sys.stderr)
        return 1
    if code == NO_LOG:
        print(f"error: {said}", file=sys.stderr)
        return 1
    print(said, file=out)
    return code


async def _verify(
    settings: StoreSettings, start_at: float | None, verify: Verifier | None, trust: Trust | None
) -> tuple[str, int]:
    redis = connect(settings.redis_url.get_secret_value(), command_timeout=settings.redis_timeout)
    store = Store(redis, prefix=settings.store_prefix)
    try:
        return await walk(store, start_at, verify, retention=settings.audit_retention, trust=trust)
    finally:
        await redis.aclose()


async def walk(
    store: Store, start_at: float | None, verify: Verifier | None, *, retention: float | None = None,
    now: float | None = None, trust: Trust | None = None,
) -> tuple[str, int]:
    """Walk the store's audit log (from the last checkpoint at or before `start_at`, else from its oldest entry):
    (what to print, exit code; NO_LOG when there is none under the store's prefix). Nothing checked is never
    "intact" (exit 1), and the log must end at its counter: entries deleted from its end are found too."""
    now = time.time() if now is None else now
    if not await store.audit.exists():
        return (f"no audit log found under the key prefix {store.keys.prefix!r} (is REDIS_KEY_PREFIX the bot's, and"
                " REDIS_URL its Redis?)"), NO_LOG
    counter = await store.audit.counter()  # read first: entries written during the walk are numbered past it
    old: list[Checkpoint] = []
    new: list[Signed] = []
    signatures: list[tuple[str, float, str]] = []
    for entry_id, fields in await store.audit.checkpoints():
        if verify is not None:
            signatures.append((entry_id, _float(fields.get("at")), fields.get("jws", "")))
        try:
            if fields.get("v") == VERSION:
                new.append(signed_of(entry_id, fields, verify))
            else:
                old.append(checkpoint_of(entry_id, fields, verify))
        except Forged as exc:
            return f"audit log NOT intact: forged checkpoint {entry_id} (seq {fields.get('seq', '?')[:20]}): {exc}", 1
    begin = max((c for c in new if c.at <= start_at), key=lambda c: c.seq, default=None) if start_at else None
    walker = Walker(old, new, begin=begin, signing=verify is not None, retention=retention, now=now)
    problem = check_checkpoints([begin, *walker.new] if begin else new, retention=retention)
    lower = "(" + begin.entry_id if begin is not None else "-"
    reading: asyncio.Task[list[tuple[str, dict[str, str]]]] | None = None
    if problem is None:
        reading = asyncio.create_task(store.audit.chained(lower=lower, count=BATCH))
    while reading is not None:
        batch = await reading
        # the next batch is read while this one is hashed
        reading = asyncio.create_task(store.audit.chained(lower="(" + batch[-1][0], count=BATCH)) if len(
            batch) == BATCH else None
        for entry_id, fields in batch:
            if (problem := walker.feed(entry_id, fields)) is not None:
                break
        if problem is not None:
            if reading is not None:
                reading.cancel()
            break
    problem = problem or walker.finish() or walker.past_end(counter)
    if problem is not None:
        return f"audit log NOT intact: {problem}", 1
    if not walker.checked:
        return ("audit log NOT verified: no numbered entry was checked"
                + (f" after checkpoint {begin.id} (seq {begin.seq:,})" if begin is not None else "")
                + "; nothing checked is no proof. Verify from earlier (--since) or the whole log."), 1
    said = walker.summary(now) + (trust.said() + "." if trust is not None else "")
    return "\n".join([said, *late_keys(signatures, trust)]), 0


def _float(text: str | None) -> float:
    try:
        return float(text or 0)
    except ValueError:
        return 0.0


class Walker:
    """Hands each entry to the walk of its format: entries from before any chain, the old chain's, this scheme's
    (in that order only), and checks where the log starts against the newest signed checkpoint.

    This scheme starts at its first entry that ends with `seq`, or that a worker of this version wrote while the
    bridge was on (bot/audit/bridge.py), or that a checkpoint of this scheme covers. From there on an entry that ends
    with `seq`, `prev`, `hash` (the bridge's, and those old workers wrote during a rolling upgrade) is an entry of
    this scheme like any other, its seq the third field from the end; where no checkpoint of this scheme covers it
    yet, its `prev` and `hash` are checked as the old workers wrote them. Checkpoints of the old chain's form signed
    from that seq on (by old workers during the upgrade) are set aside from the old chain's walk: each is compared
    with the entry it signed, if kept."""

    def __init__(
        self, old: list[Checkpoint], new: list[Signed], *, begin: Signed | None, signing: bool,
        retention: float | None = None, now: float = 0.0,
    ) -> None:
        self.begin = begin
        self.new = [c for c in new if begin is None or c.seq > begin.seq]
        self.signing = signing
        self.retention = retention
        self.now = now
        self.legacy = ChainWalk(old if begin is None else [])
        self.walk = LogWalk(self.new, want=begin.seq + 1 if begin else None, anchor=begin.head if begin else None)
        self.phase = "new" if begin is not None else "old"
        self.first: tuple[str, int] | None = None  # the first numbered entry: where the log starts
        self.aside: list[Checkpoint] = sorted((c for c in old if c.seq > begin.seq), key=lambda c: c.seq) if begin \
            else []
        self._aside_by_seq = {c.seq: c for c in self.aside}
        self.aside_matched = 0
        self._aside_problem: Problem | None = None
        self.bridged = 0  # entries of this scheme ending with `seq`, `prev`, `hash` (written during the upgrade)
        self.by_old = 0  # of them, those old workers wrote
        self.trimmed: tuple[int, int] | None = None  # seqs gone at the start, older than the retention, not signed
        self._before: dict[str, str] | None = None  # the fields of the entry fed before this one

    def feed(self, entry_id: str, fields: dict[str, str]) -> Problem | None:
        seq = seq_of(fields)
        number = seq if seq is not None else number_of(fields)
        if self.first is None and self.begin is None and number is not None:
            self.first = (entry_id, number)
            if (problem := self._check_start(entry_id, number)) is not None:
                return problem
        if self.phase == "old" and number is not None and (
                seq is not None or bridged(fields) or (self.new and number >= self.new[0].first)):
            self.phase = "new"
            if (problem := self._enter_new(entry_id, number)) is not None:
                return problem
        if self.phase == "new":
            if seq is None and number is not None:
                if (problem := self._check_upgrade_entry(entry_id, fields, number)) is not None:
                    return problem
            problem = self.walk.feed(entry_id, fields, number)
            if problem is None and number is not None and (signed := self._aside_by_seq.get(number)) is not None:
                if (entry_id, fields.get("hash")) == (signed.entry_id, signed.hash):
                    self.aside_matched += 1
                elif self._aside_problem is None:  # told at the end, if the walk of this scheme finds nothing first
                    self._aside_problem = Problem("altered", entry_id, number, f"checkpoint {signed.id} (of the old"
                                                  " chain's form, signed by an old worker during the upgrade) signed"
                                                  f" another entry for this seq: entry {signed.entry_id}")
            self._before = fields
            return problem
        self._before = fields
        return self.legacy.feed(entry_id, fields)

    def _check_upgrade_entry(self, entry_id: str, fields: dict[str, str], seq: int) -> Problem | None:
        """An entry of this scheme ending with `seq`, `prev`, `hash`: the bridge's, or an old worker's during the
        upgrade. An old worker's that starts its chain again at seq 1 wrote while the bridge was off; the rest is
        checked here only where no checkpoint of this scheme covers the entry (one that does covers all of it)."""
        self.bridged += 1
        prev, digest = fields["prev"], fields["hash"]
        if digest != BRIDGE:
            self.by_old += 1
            if (seq, prev) == (1, ZERO) and self.walk.last_seq is not None:
                return Problem("inserted", entry_id, self.walk.last_seq + 1, "an entry of the old chain that starts it"
                               " again at seq 1, after entries of the new scheme: a worker of the old version wrote it"
                               " while the bridge was off (no worker of the new version saw it alive)")
        if self.new and self.new[0].first <= seq <= self.new[-1].seq:
            return None
        if digest == BRIDGE:
            if prev != BRIDGE:
                return Problem("altered", entry_id, seq, "it ends as the bridge's entries do, but its `prev` is not"
                               f" {BRIDGE!r}")
            return None
        if entry_hash(fields) != digest:
            return Problem("altered", entry_id, seq, "an old worker's entry whose fields do not hash to its `hash`")
        before = self._before
        if before is not None and before.get("hash") != prev:
            return Problem("altered", entry_id, seq, "an old worker's entry whose `prev` is not the `hash` of the entry"
                           " before it")
        return None

    def _check_start(self, entry_id: str, seq: int) -> Problem | None:
        """The log must start where the newest checkpoint signed it starts (or at seq 1, with none signed). Entries
        missing before that are a trim no checkpoint signed yet (an old worker's `MINID ~`, during a rolling upgrade)
        only when they are older than the retention."""
        if self.new:
            newest = self.new[-1]
            if seq > newest.start:
                if self._aged(entry_id, seq):
                    self.trimmed = (newest.start, seq - 1)
                    return None
                return Problem("deleted", entry_id, newest.start, f"entries seq {newest.start} to {seq - 1} at the"
                               f" start of the log are gone: checkpoint {newest.id} signed that the log starts at seq"
                               f" {newest.start}; that is no trim")
        elif seq > 1 and self.signing and not self.legacy.checkpoints:
            return Problem("deleted", entry_id, 1, f"the log starts at seq {seq}, and no signed checkpoint says"
                           " entries were trimmed")
        return None

    def _aged(self, entry_id: str, seq: int) -> bool:
        """Whether every entry before `entry_id` (seq `seq`) is older than the retention: it is itself, or the
        checkpoint that covered seq `seq` - 1 was signed before the retention's cutoff."""
        if self.retention is None:
            return False
        cutoff = (self.now - self.retention) * 1000
        if id_ms(entry_id) <= cutoff:
            return True
        covering = next((c for c in self.new if c.covers(seq - 1)), None)
        return covering is not None and covering.at * 1000 <= cutoff

    def _enter_new(self, entry_id: str, seq: int) -> Problem | None:
        if self.new and seq < self.new[0].first:
            oldest = self.new[0]
            return Problem("deleted", entry_id, seq, f"no checkpoint kept covers seq {seq} to {oldest.first - 1},"
                           f" though checkpoint {oldest.id} and later ones cover what follows: the checkpoints before"
                           " it are gone")
        self.aside = self.legacy.set_aside(seq)
        self._aside_by_seq = {c.seq: c for c in self.aside}
        last = self.legacy.last
        if last is not None:
            if (problem := self.legacy.finish()) is not None:
                return problem
            if seq != last.seq + 1:
                return Problem("deleted", entry_id, last.seq + 1, f"the new scheme's first entry here is seq {seq},"
                               f" after the old chain's seq {last.seq} (entry {last.id})")
            first = next((c for c in self.new if c.first == seq), None)
            if first is not None and first.prev != last.hash:
                return Problem("altered", last.id, last.seq, f"checkpoint {first.id} anchors the new scheme on"
                               " another hash than this entry's: the old chain was rewritten")
            self.walk.want = seq
        elif self.legacy.skipped and seq != 1:
            return Problem("altered", self.legacy.skipped_first, max(1, seq - self.legacy.skipped), f"it and"
                           f" {self.legacy.skipped - 1:,} more entries have no `seq`, before seq {seq}: their numbering"
                           " was removed")
        return None

    def finish(self) -> Problem | None:
        if self.phase == "old":
            return self.legacy.finish() or self.walk.finish()
        problem = self.walk.finish() or self._aside_problem
        end = self.walk.last_seq
        if problem is None and self.aside and end is not None and self.aside[-1].seq > end:
            cut = self.aside[-1]
            problem = Problem("deleted", cut.entry_id, end + 1, f"checkpoint {cut.id} (of the old chain's form) signed"
                              f" seq {cut.seq}, but the log ends at seq {end}: entries seq {end + 1} to {cut.seq} are"
                              " gone")
        return problem

    @property
    def checked(self) -> int:
        """How many numbered entries the walks checked."""
        return self.legacy.checked + self.walk.checked

    def past_end(self, counter: int | None) -> Problem | None:
        """Entries deleted from the log's end: the log's counter (read before the walk) is past its last entry."""
        end = self.walk.last_seq if self.phase == "new" else (self.legacy.last.seq if self.legacy.last else None)
        if end is None and self.begin is not None:
            end = self.begin.seq
        if counter is None or counter <= (end or 0):
            return None
        first = (end or 0) + 1
        return Problem("deleted", "(the end)", first, f"entries seq {first:,} to {counter:,} at the end of the log are"
                       f" gone: the log's counter is at seq {counter:,}, its last entry is "
                       + (f"seq {end:,}" if end is not None else "none"))

    def summary(self, now: float) -> str:
        """The paragraph `audit verify` prints for an intact log."""
        walk, legacy = self.walk, self.legacy
        parts: list[str] = []
        if legacy.checked:
            assert legacy.first is not None and legacy.last is not None
            parts.append(f"{legacy.checked:,} entries of the old chain checked, seq {legacy.first.seq:,} to"
                         f" {legacy.last.seq:,}, under {len(legacy.matched):,} of its checkpoints")
        if walk.checked:
            parts.append(f"{walk.checked:,} entries checked, seq {walk.first_seq:,} to {walk.last_seq:,}"
                         + (f", from checkpoint {self.begin.id} (seq {self.begin.seq:,}, signed"
                            f" {iso_utc(self.begin.at)})" if self.begin else ""))
        if not parts:
            parts.append("no numbered entry")
        said = "audit log intact: " + "; ".join(parts)
        if legacy.skipped:
            said += f"; {legacy.skipped:,} older entries written before the chain were skipped"
        if self.trimmed is not None:
            said += (f"; entries seq {self.trimmed[0]:,} to {self.trimmed[1]:,}, older than the retention, were"
                     " trimmed and no checkpoint signs that yet (an old worker's trim, during a rolling upgrade)")
        if self.bridged:
            said += (f"; {self.bridged:,} of them written during a rolling upgrade, with `prev` and `hash` (the"
                     f" bridge), {self.by_old:,} by workers of the old version")
        if self.aside:
            said += (f"; {len(self.aside):,} checkpoints of the old chain's form, signed by old workers during the"
                     f" upgrade, set aside ({self.aside_matched:,} matched the entry they signed, the others' entries"
                     " are trimmed)")
        matched = self.new if walk.checked else walk.matched
        if matched and matched[-1].signed:
            newest = matched[-1]
            said += (f"; {len(matched):,} signed checkpoints verified, the last at seq {newest.seq:,} (signed"
                     f" {iso_utc(newest.at)})")
            said += self._tail(now)
        elif matched:
            said += (f"; unsigned: no signing key (SIGNING_KEYS_FILE, SIGNING_KEYS or --jwks), so the"
                     f" {len(matched):,} checkpoints it reached were compared but their signatures not checked")
        elif walk.checked and self.signing:
            said += f"; no signed checkpoint covers them yet: all {walk.checked:,} are covered by no signature"
        elif walk.checked:
            said += "; unsigned: no checkpoint (a worker with a signing key writes them)"
        return said + "."

    def _tail(self, now: float) -> str:
        walk = self.walk
        if not walk.tail:
            return "; 0 entries after it (no unsigned tail)"
        age = max(0.0, now - id_ms(walk.tail_since) / 1000)
        return (f"; the unsigned tail: {walk.tail:,} entries after it are covered by no signature yet, the oldest"
                f" written {age:,.1f} s ago")

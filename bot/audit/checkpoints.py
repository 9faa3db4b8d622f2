"""Signed checkpoints of the audit log, and its trimming: one worker at a time (a lease in Redis), every few seconds.

The write path only numbers entries (lua/lib/audit.lua); the worker holding the lease hashes them here, off that
path. A checkpoint covers the entries after the last one, by seq: their digests (bot/audit/digests.py), the chain's
head over them from the previous checkpoint's head, the stream id of its last entry, and where the log starts once
its trim is done (`trim`: the cutoff in ms, entries older than it went), how long entries stay in Redis (`keep`, in
seconds: AUDIT_REDIS_KEEP with an archive, else AUDIT_RETENTION: what the trim was allowed to do, which `audit verify`
reads from here, never from its caller's environment), and with an archive (AUDIT_ARCHIVE, bot/audit/archive/)
`archived`: the last seq it holds, as `Keys.audit_archived_through` says. The claims `{v, from, seq, id, head, prev,
start, trim, keep, at[, archived]}` are signed as a compact JWS (EdDSA,
typ `audit-checkpoint+jwt`) with the deployment's current key (bot/core/signing.py), and kept in
`Keys.audit_checkpoints` with those fields beside the JWS and the digests (`leaves`, base64).

One is due AUDIT_CHECKPOINT_INTERVAL (default 5 s) after the last when entries were written, or after
AUDIT_CHECKPOINT_EVERY new entries (a checkpoint covers at most that many). The trim is the same step
(lua/audit_checkpoint.lua): entries older than AUDIT_RETENTION, below the newest, go, and `start` says where the
log starts now. It is computed from what was older than the retention, never from where the log happens to start:
a head deleted by hand is not signed as a trim. With an archive nothing past what it holds is trimmed, whatever its
age (the trim waits while the archive lags or fails), and without a signing key (nothing can be archived) nothing.

The first checkpoint anchors the chain: its `prev` is 64 zeros, and it starts at the log's first entry, seq 1. A
writer finds entries it cannot sign (a gap, an entry without `seq`, a first entry that is not seq 1, a newest
checkpoint not of this scheme) and writes nothing: `audit verify` names them.

One gap is signed past, named: the seqs a restore lost. When Redis was restored from an older backup, the archive's
writer found its counter behind the archive, raised it, and kept the seqs lost (and the archive's tree head at their
end) in the audit floor (lua/audit_floor.lua). The writer signs up to the gap, then a checkpoint that starts after
it and says so: `restored_gap` [from, to], `restored_size` and `restored_root` (the archive's signed tree that holds
them), its `prev` the head before the gap. `audit verify` reads it as a known restore (exit 3), any other gap as
deleted.

Every key that signs is announced in the log first: before its first signature (a checkpoint, or a receipt:
bot/api/receipts.py), the worker appends a `signing_key` entry (its kid and public JWK; lua/audit_announce.lua, once
per kid; KeyAnnouncer) and the next checkpoint covers it, so `audit verify`
names a checkpoint signed by a key the log never announced before it (one added to the keys file by hand, re-signing
or backdating checkpoints), even without pinned keys. A log upgraded from before announcements gets every key of the
keys file announced as standing from seq 0 at its next checkpoint; an announcement about to be trimmed is written
again (`since`: where it stands from), so the log keeps every key it announced.

Without a signing key nothing is signed; the lease holder only trims. A worker stopping gives the lease up; one
whose lease expired unreleased (stopped, hung, killed) is kept as lost by the worker that takes it over
(bot/store/writer_lease.py), and the watcher says it as `stalled`.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time

from bot.audit.chains import chain_stores, write_global
from bot.audit.digests import ZERO, chain, leaf, pack, seq_of
from bot.audit.rounds import Rounds
from bot.core.settings import StoreSettings
from bot.core.signing import SigningError, SigningKey, SigningKeys
from bot.store import Store, StoreUnavailable
from bot.store.audit import Announced

log = logging.getLogger(__name__)

CHECKPOINT_TYPE = "audit-checkpoint+jwt"  # the JWS header's `typ`
VERSION = "2"  # checkpoints of this scheme say `v` 2
POLL_SECONDS = 1.0  # how often a worker looks (at most): one Redis call, three for the lease holder


def redis_keep(settings: StoreSettings) -> float:
    """How long audit entries stay in Redis (the trim, and `audit verify`'s check of it): AUDIT_REDIS_KEEP with an
    archive (when set), else AUDIT_RETENTION."""
    keep = settings.audit_redis_keep if settings.audit_archive else 0
    return keep or settings.audit_retention


class Unsignable(Exception):
    """What the writer found instead of entries it may sign."""


class KeyAnnouncer:
    """Announces a signing key in the log before it signs anything (a checkpoint, or a receipt: the checkpoint
    writer and the receipt issuer each hold one): the log's `signing_key` entry of the key (lua/audit_announce.lua,
    once per kid, whichever worker is first), read or written once per key by this worker."""

    def __init__(self, store: Store, *, worker: str) -> None:
        self._store = store
        self._worker = worker
        self._done: dict[str, Announced] = {}  # kid -> its announcement, once read or written here

    async def announced(self, key: SigningKey, keys: SigningKeys, *, upgrading: bool | None = None) -> Announced:
        """The log's announcement of `key`, written now when it has none. A log with checkpoints of this scheme and
        no announcement at all (`upgrading`: written before announcements; None: look) first gets every key of
        `keys`, each said to stand from seq 0 (they may have signed it)."""
        if (done := self._done.get(key.kid)) is not None:
            return done
        audit = self._store.audit
        if not await audit.announced():
            if upgrading is None:
                upgrading = await audit.last_checkpoint() is not None
            if upgrading:
                for old in keys.keys:
                    await audit.announce_key(old.kid, about(old, "signed before announcements", self._worker),
                                             since="0")
        self._done[key.kid] = found = await audit.announce_key(key.kid, about(key, "first signature", self._worker))
        log.info("signing key %s announced in the audit log (seq %d)", key.kid, found.seq)
        return found


def about(key: SigningKey, why: str, worker: str) -> dict[str, str]:
    """A `signing_key` entry's fields: the key's public JWK, why it is announced, by which worker."""
    return {"jwk": json.dumps(key.public_jwk(), separators=(",", ":")), "why": why, "by": worker}


class AuditCheckpoints(Rounds):
    """Writes a checkpoint when one is due (`write_due`), from its own task, while this worker holds the lease."""

    def __init__(
        self, store: Store, keys: SigningKeys | None, *, worker: str, every: int, interval: float, retention: float,
        poll: float = POLL_SECONDS, archive: bool = False,
    ) -> None:
        super().__init__("audit-checkpoints", store=store, worker=worker, every=min(poll, max(interval, 0.05)))
        self._keys = keys
        self._every = every
        self._interval = interval
        self._retention = retention
        self._archive = archive  # AUDIT_ARCHIVE is set: nothing is trimmed past what it holds (archived_through)
        self._announcer = KeyAnnouncer(store, worker=worker)
        self._chains: dict[str, AuditCheckpoints] = {}  # the other tenants' chains' writers, by tenant

    async def round(self) -> None:
        await self.write_due()

    def failed(self, exc: Exception) -> bool:
        return _unsigned(exc)

    async def stop(self) -> None:
        """Stop, and give the lease up: the next holder takes it as released, not lost (bot/store/writer_lease.py)."""
        await super().stop()
        with contextlib.suppress(StoreUnavailable):
            await self._store.writer_lease.release(self._worker)

    async def write_due(self, now: float | None = None) -> bool:
        """If this worker holds (or takes) the lease: trim, and sign a checkpoint when one is due, in every chain
        (bot/audit/chains.py), then a global checkpoint over their heads when one moved. True if this call wrote a
        checkpoint of the home chain or another."""
        now = time.time() if now is None else now
        if not await self._store.writer_lease.take(self._worker, max(3 * self.every, 2 * self._interval, 5.0)):
            return False
        if not self._archive:
            await self._store.audit.drop_floor()  # (an archive once set, then unset: nothing would confirm it)
        wrote = await self._write_chain(now)
        for name, store in (await chain_stores(self._store))[1:]:
            signer = self._chains.get(name)
            if signer is None:  # (the same writer over the tenant's chain; its own key announcements)
                signer = self._chains[name] = type(self)(
                    store, self._keys, worker=self._worker, every=self._every, interval=self._interval,
                    retention=self._retention, poll=self.every, archive=self._archive)
            wrote = await signer._write_chain(now) or wrote
        if self._keys is not None:
            try:
                await write_global(self._store, self._keys, now=now, retention=self._retention)
            except SigningError as exc:
                log.warning("global audit checkpoint not signed: %s", exc)
        return wrote

    async def _write_chain(self, now: float) -> bool:
        """Trim this store's chain, and sign a checkpoint of it when one is due: True if one was written."""
        if self._keys is None:
            if self._archive:
                return False  # (nothing can be archived unsigned: nothing is trimmed)
            head = await self._store.audit.last()
            if head is not None:
                minid = _ms(now - self._retention) + "-0"
                await self._store.audit.trim(head[0] if _key(head[0]) < _key(minid) else minid)
            return False
        try:
            return await self._sign_due(now, self._keys)
        except Unsignable as exc:
            log.warning("audit checkpoint of %s not signed: %s; `python -m bot audit verify` names the entry",
                        self._store.keys.audit, exc)
            return False

    async def _sign_due(self, now: float, keys: SigningKeys) -> bool:
        audit = self._store.audit
        head = await audit.last()
        if head is None or (head_seq := seq_of(head[1])) is None:  # (none of this scheme's: nothing to sign)
            return False
        last = await audit.last_checkpoint()
        after = last[0] if last is not None else ""
        done, prev, start, lower, at = _signed_to(last) if last is not None else await self._genesis()
        if head_seq <= done or (head_seq - done < self._every and now - at < self._interval):
            return False
        announced = await self._announced(keys, upgrading=last is not None)
        batch = await audit.chained(lower=lower, count=max(self._every, announced.since - done))  # (covers it)
        first, leaves, entry_id, restored = await self._leaves(batch, done + 1)
        if not leaves:
            return False
        seq = first + len(leaves) - 1
        cutoff = _ms(now - self._retention)
        archived = (await audit.archived_through() or 0) if self._archive else None
        start, trim_id = await self._trim_to(cutoff, start, seq, entry_id, archived=archived)
        if trim_id:
            await self._carry(start)
        gap: dict[str, object] = ({"restored_gap": [int(restored["gap_from"]), int(restored["gap_to"])],
                "restored_size": int(restored["gap_size"]), "restored_root": restored["gap_root"]} if restored else {})
        claims = {"v": int(VERSION), "from": first, "seq": seq, "id": entry_id,
                  "head": chain(bytes.fromhex(prev), leaves).hex(), "prev": prev, "start": start,
                  "trim": cutoff if trim_id else "", "keep": self._retention, "at": now,
                  **({"archived": archived} if archived is not None else {}), **gap}
        stored = {"v": VERSION, **{k: _stored(v) for k, v in claims.items() if k not in ("v", "at")}, "at": repr(now),
                  "leaves": pack(leaves), "jws": keys.sign(claims, typ=CHECKPOINT_TYPE, kid=announced.kid)}
        written = await audit.write_checkpoint(stored, after=after, trim_id=trim_id, start=start)
        if written:
            log.debug("audit checkpoint signed at seq %d", seq)
        return written

    async def _leaves(
        self, batch: list[tuple[str, dict[str, str]]], first: int
    ) -> tuple[int, list[bytes], str, dict[str, str]]:
        """The leaves of the entries of `batch` numbered on from seq `first`, up to the seqs a restore lost: the seq
        the first leaf is of (past those seqs when the batch starts at them), the leaves, the stream id of the last
        and the audit floor naming the seqs lost ({}: none)."""
        entry_id = ""
        leaves: list[bytes] = []
        restored: dict[str, str] = {}
        for found_id, fields in batch:
            want, number = first + len(leaves), seq_of(fields)
            if number != want:
                lost = await self._restored(want, number)
                if not lost:
                    raise Unsignable(f"entry {found_id} is not seq {want}")
                if leaves:
                    break  # signed up to the seqs a restore lost; the next checkpoint signs past them
                first, restored = number or want, lost  # (this checkpoint names them, and signs from the one after)
            leaves.append(leaf(found_id, fields))
            entry_id = found_id
        return first, leaves, entry_id, restored

    async def _restored(self, want: int, found: int | None) -> dict[str, str]:
        """The audit floor ({gap_from, gap_to, gap_size, gap_root}), when the entry after seq `want` - 1 is seq `found`
        because Redis was restored from an older backup: the archive's writer found the counter behind the archive
        and kept those seqs there (lua/audit_floor.lua), the archive holds them. {} for any other gap: not
        signed."""
        floor = await self._store.audit.floor() if found is not None and found > want else {}
        if floor.get("gap_from") == str(want) and floor.get("gap_to") == str((found or 0) - 1) and all(
                name in floor for name in ("gap_size", "gap_root")):
            return floor
        return {}

    async def _announced(self, keys: SigningKeys, *, upgrading: bool) -> Announced:
        """The log's announcement of the key about to sign, written now when it has none, so the checkpoint about
        to be signed covers it (KeyAnnouncer)."""
        return await self._announcer.announced(keys.current, keys, upgrading=upgrading)

    async def _carry(self, start: int) -> None:
        """Announce again each key whose announcement is about to be trimmed (below seq `start`), with the seq it
        stands from: the log keeps every key it announced."""
        audit = self._store.audit
        gone = [a for a in await audit.announced() if a.seq < start]
        for _, fields in await audit.entries_at(a.entry_id for a in gone):
            kid = fields.get("kid", "")
            was = next((a for a in gone if a.kid == kid), None)
            if was is not None and "jwk" in fields:
                await audit.announce_key(kid, {"jwk": fields["jwk"], "why": "carried past a trim", "by": self._worker},
                                         since=str(was.since), carry=True)

    async def _genesis(self) -> tuple[int, str, int, str, float]:
        """Where the chain starts (no checkpoint yet): (the seq before its first entry, the anchor, the log's start,
        the stream id to read from, 0.0). Its first entry must be the log's first, seq 1; anything else is not
        signed."""
        oldest = await self._store.audit.chained(count=1)
        if not oldest or seq_of(oldest[0][1]) != 1:
            raise Unsignable(f"the log's first entry, {oldest[0][0] if oldest else '(none)'}, is not seq 1 of this"
                             " scheme")
        return 0, ZERO, 1, oldest[0][0], 0.0

    async def _trim_to(
        self, cutoff: str, start: int, seq: int, entry_id: str, *, archived: int | None = None
    ) -> tuple[int, str]:
        """Where the log starts after trimming the entries older than `cutoff` (ms: the retention), and the stream
        id to trim below ("": no trim). Never past the newest entry signed (`seq`, `entry_id`), so numbering goes
        on; with an archive, never past the last entry it holds (`archived`): the trim waits for it."""
        older = await self._store.audit.newest_before(cutoff + "-0") if cutoff != "0" else None
        if older is None or (last_old := seq_of(older[1])) is None or last_old + 1 <= start:
            return start, ""
        older_id = older[0]
        if archived is not None and last_old > archived:
            mark = await self._archived_mark(archived)
            if mark is None or mark[0] + 1 <= start:
                return start, ""
            last_old, older_id = mark
        if last_old >= seq:
            return seq, entry_id
        after = await self._store.audit.chained(lower="(" + older_id, count=1)
        if not after or seq_of(after[0][1]) != last_old + 1:
            return start, ""  # what follows is not the next seq: leave it for verify to name
        return last_old + 1, after[0][0]


    async def _archived_mark(self, archived: int) -> tuple[int, str] | None:
        """The newest checkpoint's last entry at or below seq `archived` (seq, stream id): where a trim that waits
        for the archive may go."""
        marks = [(int(f["seq"]), f["id"]) for _, f in await self._store.audit.checkpoints()
                 if f.get("v") == VERSION and int(f["seq"]) <= archived]
        return max(marks, default=None)


def _stored(value: object) -> str:
    """A claim as kept beside the JWS: a restored gap [from, to] as `from-to`."""
    return f"{value[0]}-{value[1]}" if isinstance(value, list) else str(value)


def _signed_to(last: tuple[str, dict[str, str]]) -> tuple[int, str, int, str, float]:
    """Where the newest checkpoint left the log: the seq it signed to, its head, the seq the log starts at, the
    stream bound to read on from and when it was signed."""
    entry_id, fields = last
    if fields.get("v") != VERSION:
        raise Unsignable(f"the newest checkpoint, {entry_id}, is not of this scheme (no `v` {VERSION})")
    return int(fields["seq"]), fields["head"], int(fields["start"]), "(" + fields["id"], float(fields["at"])


def _ms(moment: float) -> str:
    return str(max(0, int(moment * 1000)))


def _key(entry_id: str) -> tuple[int, int]:
    ms, _, number = entry_id.partition("-")
    return int(ms), int(number or 0)


def _unsigned(exc: Exception) -> bool:
    """A checkpoint's signing failed: said in one line (its message names no key material)."""
    if isinstance(exc, SigningError):
        log.warning("audit checkpoint not signed: %s", exc)
        return True
    return False

"""The audit stream: every request, decision, refusal, run and settings change, trimmed to AUDIT_RETENTION.

Every entry is numbered in the step that writes it (`lua/lib/audit.lua`: `seq` ends each entry), and nothing
more: the workers hash the entries off that path and sign checkpoints of them, kept in a second stream
(`Keys.audit_checkpoints`, written by `bot/audit/checkpoints.py`, which alone trims the log); `bot/audit/` checks
both.

A refused attempt is audited through `refusal` (and the decide step's own, `lua/lib/refusals.lua`): every one is in
the log, the first of a quiet window at once and the rest as one summarising entry with their `count`, written in
the step that deletes the count (`summarise_refusals`, by any worker's sweeper), so none is lost when a worker dies.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.store.connection import aw
from bot.store.due import DueWork
from bot.store.keys import REFUSAL_AUDIT_SECONDS
from bot.store.shared import Shared

OWN_FIELDS = ("seq",)  # the log's own: `seq` ends every entry
_OWN = frozenset(OWN_FIELDS)

BATCH = 256  # entries in one call of the group commit at most
LAG_SCAN = 10_000  # entries read back at most to tell the archive's lag in seconds
IN_FLIGHT = 2  # calls of one worker on their way at once: the next batch is sent while Redis runs one

Entry = tuple[str, dict[str, str]]  # a stream entry: its id and its fields, in stored order


@dataclass(frozen=True, slots=True)
class Census:
    """The audit log counted in one step (`AuditLog.census`): its length (XLEN), its first and last entries, its
    counter and the newest checkpoint (None each when there is none)."""

    length: int
    first: Entry | None
    last: Entry | None
    counter: int | None
    newest: Entry | None


@dataclass(frozen=True, slots=True)
class Announced:
    """Where the log announces a signing key: the seq it stands from (`since`: its first announcement's, or 0 for a
    key that signed before announcements), and the entry that has it now (`seq`, `entry_id`)."""

    kid: str
    since: int
    seq: int
    entry_id: str


def _entry(event: str, fields: Mapping[str, str | float]) -> dict[str, str]:
    if taken := set(fields) & set(OWN_FIELDS):
        raise ValueError(f"audit fields {sorted(taken)} are the log's own")
    return {"event": event, "at": repr(time.time()), **{k: str(v) for k, v in fields.items()}}


def entry_fields(event: str, fields: Mapping[str, str | float]) -> list[str]:
    """An entry as the Lua steps take it (field, value, ...; `event` and `at` first): what every append builds, so
    kept lean. A field that is the log's own (`OWN_FIELDS`) raises ValueError."""
    if not _OWN.isdisjoint(fields):
        return [part for pair in _entry(event, fields).items() for part in pair]  # (raises)
    flat = ["event", event, "at", repr(time.time())]
    for name, value in fields.items():
        flat += (name, value if isinstance(value, str) else str(value))
    return flat


def _text(value: str | bytes | int) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


HOLD_GRACE = 1.0  # seconds the floor stays held after the first step held, so every asking worker says what it gave


class AuditLog:
    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self._due = DueWork(shared)  # a refusal window's end is due work (bot/store/due.py)
        self._queue: list[tuple[list[str], asyncio.Future[tuple[int, str]]]] = []  # entries not yet sent
        self._in_flight = 0  # calls on their way to Redis
        self._writing: set[asyncio.Task[None]] = set()
        self.refused: Callable[[str], None] = lambda reason: None  # each refusal's reason (the metrics)

    async def append(self, event: str, **fields: str | float) -> tuple[int, str]:
        """One entry, numbered (`lua/audit_append.lua`). Returns its seq and stream id.

        Group commit: the entries this worker's appenders made while `IN_FLIGHT` calls were already on their way
        to Redis go together in the next call (an entry is numbered after every append that had returned before it
        was made; appends made together are numbered in any order). A lone append is its own
        call, one round trip as before; many at once cost Redis and this process one script call per batch, not
        per entry. A batch's call is a task of its own: an appender cancelled while it waits does not stop it."""
        flat = entry_fields(event, fields)
        if not self._in_flight:  # alone: this call is the one on its way
            self._in_flight += 1
            try:
                return (await self._call([flat]))[0]
            finally:
                self._done()
        queued: asyncio.Future[tuple[int, str]] = asyncio.get_running_loop().create_future()
        self._queue.append((flat, queued))
        if self._in_flight < IN_FLIGHT:
            self._write_next()
        return await queued

    async def _call(self, entries: list[list[str]]) -> list[tuple[int, str]]:
        k = self._s.keys
        written = await self._s.script("audit_append")(
            keys={"audit": k.audit, "audit_seq": k.audit_seq, "audit_shards": k.audit_shards}, args={"entries": entries}
        )
        found = [(int(seq), _text(entry_id)) for seq, entry_id in written]
        if not self._s.keys.tenant:  # (the floor's restore check is the home chain's: bot/audit/chains.py)
            self._s.audit_known = max([self._s.audit_known, *(seq for seq, _ in found)])  # (never lowered)
        return found

    def _write_next(self) -> None:
        batch, self._queue = self._queue[:BATCH], self._queue[BATCH:]
        self._in_flight += 1
        task = asyncio.create_task(self._write(batch), name="audit-append")
        self._writing.add(task)
        task.add_done_callback(self._writing.discard)

    def _done(self) -> None:
        """A call came back: send what queued meanwhile."""
        self._in_flight -= 1
        if self._queue and self._in_flight < IN_FLIGHT:
            self._write_next()

    async def _write(self, batch: list[tuple[list[str], asyncio.Future[tuple[int, str]]]]) -> None:
        try:
            written = await self._call([flat for flat, _ in batch])
        except Exception as exc:  # each appender of the batch gets the failure its own call would have had
            for _, queued in batch:
                if not queued.done():
                    queued.set_exception(exc)
        except asyncio.CancelledError:  # the worker is stopping: nothing more is sent
            for _, queued in [*batch, *self._queue]:
                queued.cancel()
            self._queue = []
            raise
        else:
            for (_, queued), result in zip(batch, written, strict=True):
                if not queued.done():
                    queued.set_result(result)
        finally:
            self._done()

    async def refusal(self, what: str, event: str, /, *, window: int = REFUSAL_AUDIT_SECONDS,
                      **fields: str | float) -> bool:
        """Audit one refused attempt (`what`: whose and why, e.g. "outsider:U1:guest"): written now when it is the
        first of `what` in `window` seconds (True: tell the person), else counted for the window's summarising entry
        (`count`, `since`; False), one Lua step (`lua/audit_refusal.lua`). `refused` is told the reason: `what`'s
        first word."""
        self.refused(what.partition(":")[0])
        k = self._s.keys
        first = await self._s.script("audit_refusal")(
            keys={"refusal": k.refusal(what), "due": k.refusals_due, "audit": k.audit, "audit_seq": k.audit_seq,
                  "audit_shards": k.audit_shards},
            args={"entry": entry_fields(event, fields), "now": repr(time.time()), "window": str(window)},
        )
        if first:  # a window opened: its end is due
            await self._due.note()
        return bool(first)

    async def summarise_refusals(self, now: float, *, limit: int = 200) -> int:
        """Write the summarising entry of each refusal window closed by `now` (`lua/refusals_due.lua`), up to
        `limit`; the number written. Any worker may: a window is summarised once, in the step that deletes it."""
        k = self._s.keys
        due = await aw(self._s.redis.zrangebyscore(k.refusals_due, "-inf", repr(now), start=0, num=limit))
        if not due:
            return 0
        return int(await self._s.script("refusals_due")(
            keys={"due": k.refusals_due, "audit": k.audit, "audit_seq": k.audit_seq, "audit_shards": k.audit_shards,
                  "refusals": [str(key) for key in due]},
            args={"now": repr(now)},
        ))

    async def append_once(
        self, idempotency: str | None, event: str, fields: Mapping[str, str | float], *, body_digest: str,
        answer: str, ttl: int, windows: Sequence[Mapping[str, Any]] = (),
    ) -> tuple[str, str]:
        """`append(event, **fields)`, once per `idempotency` Redis key (one Lua step, lua/audit_once.lua; None: no
        key, written each time): ("new", answer) the first time, ("again", the first answer) for a retry with the
        same `body_digest`, ("conflict", "") when that key came with another body. With policy `windows` (each as
        `Approvals.open` takes them: a call a program's allow-list let through), the call is counted in them in the
        same step, or ("stale", window) when a total changed since the policies read it."""
        keys = self._s.keys
        result = await self._s.script("audit_once")(
            keys={"idempotency": idempotency or keys.api_idempotency("-", "-"), "audit": keys.audit,
                  "audit_seq": keys.audit_seq, "audit_shards": keys.audit_shards,
                  "windows": [str(window["key"]) for window in windows]},
            args={"once": idempotency is not None, "digest": body_digest, "answer": answer,
                  "entry": entry_fields(event, fields), "ttl": ttl, "now": repr(time.time()),
                  "windows": [{name: w[name] for name in ("since", "expect", "count", "member", "ttl")}
                              for w in windows]},
        )
        return _text(result[0]), _text(result[1]) if len(result) > 1 else ""

    async def chained(self, *, lower: str = "-", count: int = 1000) -> list[Entry]:
        """Up to `count` entries from stream id `lower` on (inclusive; `(id` for after it), oldest first, each with
        its fields in stored order (what is hashed)."""
        return [(str(entry_id), dict(values)) for entry_id, values in
                await self._s.redis.xrange(self._s.keys.audit, min=lower, count=count)]

    async def last(self) -> Entry | None:
        """The newest entry, or None when the stream is empty."""
        newest = await self._s.redis.xrevrange(self._s.keys.audit, count=1)
        return (str(newest[0][0]), dict(newest[0][1])) if newest else None

    async def newest_before(self, entry_id: str) -> Entry | None:
        """The newest entry whose stream id is below `entry_id` (`ms-n`, or `ms` for `ms-0`), or None."""
        found = await self._s.redis.xrevrange(self._s.keys.audit, max="(" + entry_id, count=1)
        return (str(found[0][0]), dict(found[0][1])) if found else None

    async def counter(self) -> int | None:
        """The log's counter: the seq its last entry was given (None: never set). An entry and its number are
        written in one step, so an intact log ends at this seq (entries written since are numbered past it)."""
        value = await self._s.redis.get(self._s.keys.audit_seq)
        return int(value) if value is not None else None

    async def exists(self) -> bool:
        """Whether there is an audit log under this prefix at all (entries or checkpoints)."""
        return bool(await self._s.redis.exists(self._s.keys.audit, self._s.keys.audit_checkpoints))

    async def lease(self, worker: str, seconds: float) -> bool:
        """Take or keep the checkpoint writer's lease for `seconds` (`lua/audit_lease.lua`): True when `worker`
        holds it now (one worker at a time signs checkpoints and trims the log)."""
        held = await self._s.script("audit_lease")(
            keys={"lease": self._s.keys.audit_lease}, args={"worker": worker, "ms": max(1, int(seconds * 1000))}
        )
        return int(held) == 1

    async def archive_lease(self, worker: str, seconds: float) -> bool:
        """Take or keep the audit archive writer's lease for `seconds` (the same step as `lease`, its own key): True
        when `worker` holds it now (one worker at a time writes the archive, bot/audit/archive/writer.py)."""
        held = await self._s.script("audit_lease")(
            keys={"lease": self._s.keys.audit_archive_lease},
            args={"worker": worker, "ms": max(1, int(seconds * 1000))},
        )
        return int(held) == 1

    async def watch_lease(self, worker: str, seconds: float) -> bool:
        """Take or keep the audit watcher's lease for `seconds` (as `lease`, its own key): True when `worker` holds
        it now (one worker at a time verifies the log as it is written, bot/audit/watch.py)."""
        held = await self._s.script("audit_lease")(
            keys={"lease": self._s.keys.audit_watch_lease}, args={"worker": worker, "ms": max(1, int(seconds * 1000))}
        )
        return int(held) == 1

    async def watched(self) -> dict[str, str]:
        """Where the watcher stopped: {seq, at, id, checked, full, looked} (empty: it never looked)."""
        stored = await aw(self._s.redis.hgetall(self._s.keys.audit_watched))
        return {str(k): str(v) for k, v in stored.items()}

    async def set_watched(self, fields: Mapping[str, str]) -> None:
        """Keep where the watcher stopped (see `watched`)."""
        await aw(self._s.redis.hset(self._s.keys.audit_watched, mapping=dict(fields)))

    async def findings(self) -> dict[str, dict[str, Any]]:
        """The integrity findings standing, each by its identity (bot/audit/watch.py `Finding.key`): {kind, what,
        where, since, source} each."""
        found: dict[str, dict[str, Any]] = {}
        for key, raw in (await aw(self._s.redis.hgetall(self._s.keys.audit_findings))).items():
            try:
                kept = json.loads(raw)
            except (ValueError, RecursionError):
                continue
            if isinstance(kept, dict):
                found[str(key)] = {"kind": str(key), **kept}
        return found

    async def add_finding(self, key: str, fields: Mapping[str, Any]) -> bool:
        """Keep a standing finding under its identity `key`: True when it is new (then it is said, once)."""
        return bool(await aw(self._s.redis.hsetnx(self._s.keys.audit_findings, key, json.dumps(dict(fields)))))

    async def clear_finding(self, key: str) -> bool:
        """The finding `key` no longer stands: True when it did."""
        return bool(await aw(self._s.redis.hdel(self._s.keys.audit_findings, key)))

    async def census(self) -> Census:
        """The log counted in one step (the watcher's cheap look at all of it): its length, its first and last
        entries, its counter and the newest checkpoint."""
        k = self._s.keys
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.xlen(k.audit)
            pipe.xrange(k.audit, count=1)
            pipe.xrevrange(k.audit, count=1)
            pipe.get(k.audit_seq)
            pipe.xrevrange(k.audit_checkpoints, count=1)
            length, first, last, counter, newest = await pipe.execute()
        return Census(int(length), _one(first), _one(last), int(counter) if counter is not None else None,
                      _one(newest))

    async def archived_through(self) -> int | None:
        """The last seq the audit archive holds, as its writer confirmed it (None: nothing archived yet)."""
        value = await self._s.redis.get(self._s.keys.audit_archived_through)
        text = _text(value) if value is not None else ""
        return int(text) if text.isascii() and text.isdigit() else None

    async def archive_lag(self, *, now: float, scan: int = LAG_SCAN) -> tuple[int, float]:
        """How far the audit archive is behind: (entries numbered and not archived yet, age in seconds of the oldest
        of them; 0, 0.0 when none). The oldest is read back from the newest `scan` entries at most: beyond them, the
        age is of the `scan`-th newest (a floor: the archive is further behind than that)."""
        counter, archived = await self.counter(), await self.archived_through()
        behind = max(0, (counter or 0) - (archived or 0))
        if not behind:
            return 0, 0.0
        found = await self._s.redis.xrevrange(self._s.keys.audit, count=min(behind, scan))
        ms = str(found[-1][0]).partition("-")[0] if found else ""
        return behind, max(0.0, now - int(ms) / 1000) if ms.isascii() and ms.isdigit() else 0.0

    async def archived(self, seq: int) -> int:
        """Raise the archived seq to `seq` (never lowered: `lua/audit_archived.lua`); the value kept now."""
        return int(await self._s.script("audit_archived")(
            keys={"archived": self._s.keys.audit_archived_through}, args={"seq": str(seq)}))

    async def confirm_floor(self, seq: int, *, size: int, root: str) -> tuple[int, int]:
        """The archive holds up to `seq` (its tree of `size` leaves, `root` hex): the counter raised past it, and past
        the highest seq any worker held since Redis restarted says it gave (and this one), if it is below (Redis
        restored from an older backup: the seqs it lost kept as the floor's gap), and numbering confirmed for this
        Redis run (`lua/audit_floor.lua`). (The counter found, the counter now); (-1, counter) while the first hold
        is younger than HOLD_GRACE (the held workers' reports still coming: confirmed at the next round)."""
        found, now = await self._s.script("audit_floor")(
            keys={"floor": self._s.keys.audit_floor, "audit_seq": self._s.keys.audit_seq},
            args={"seq": str(seq), "size": str(size), "root": root, "known": str(self._s.audit_known),
                  "grace_ms": str(int(HOLD_GRACE * 1000))})
        self._s.audit_known = max(self._s.audit_known, int(now))
        return int(found), int(now)

    async def drop_floor(self) -> None:
        """No archive (AUDIT_ARCHIVE unset): no floor, so a Redis restart holds no numbering (lua/lib/audit.lua)
        waiting for an archive's writer that does not run."""
        await self._s.redis.delete(self._s.keys.audit_floor)

    async def floor(self) -> dict[str, str]:
        """The audit floor (`Keys.audit_floor`): {seq, run[, gap_from, gap_to, gap_size, gap_root]} ({}: none)."""
        stored = await aw(self._s.redis.hgetall(self._s.keys.audit_floor))
        return {_text(k): _text(v) for k, v in stored.items()}

    async def shards(self) -> dict[str, str]:
        """The log's shard index (`Keys.audit_shards`, written by lua/lib/audit.lua): {shard number: its JSON},
        as stored (bot/audit/shards.py reads it)."""
        stored = await aw(self._s.redis.hgetall(self._s.keys.audit_shards))
        return {str(n): str(record) for n, record in stored.items()}

    async def announce_key(
        self, kid: str, fields: Mapping[str, str | float], *, since: str = "", carry: bool = False
    ) -> Announced:
        """Announce the signing key `kid` in the log (`lua/audit_announce.lua`): a `signing_key` entry of `fields`
        (its public JWK, why), once per kid (`carry`: again, its entry about to be trimmed, with `since` the seq of
        its first announcement); `since` ("": the entry's own seq) for a key that signed before announcements.
        Returns the announcement that stands."""
        extra = {"since": since} if since else {}
        k = self._s.keys
        since_, seq, entry_id = await self._s.script("audit_announce")(
            keys={"kids": k.audit_kids, "audit": k.audit, "audit_seq": k.audit_seq, "audit_shards": k.audit_shards},
            args={"kid": kid, "entry": entry_fields("signing_key", {"kid": kid, **fields, **extra}), "since": since,
                  "carry": "1" if carry else ""},
        )
        return Announced(kid=kid, since=int(_text(since_)), seq=int(_text(seq)), entry_id=_text(entry_id))

    async def announced(self) -> list[Announced]:
        """The signing keys announced in the log, as `Keys.audit_kids` points to them (a pointer: verify
        reads the entries themselves, bot/audit/verify.py)."""
        found: list[Announced] = []
        for kid, raw in (await aw(self._s.redis.hgetall(self._s.keys.audit_kids))).items():
            try:
                kept = json.loads(raw)
                found.append(Announced(kid=str(kid), since=int(kept["since"]), seq=int(kept["seq"]),
                                       entry_id=str(kept["id"])))
            except (ValueError, KeyError, TypeError):
                continue  # not one of ours: verify finds the entries or names the key
        return found

    async def entries_at(self, entry_ids: Iterable[str]) -> list[Entry]:
        """The entries with these stream ids that are still in the log."""
        found: list[Entry] = []
        for entry_id in entry_ids:
            found += [(str(i), dict(f)) for i, f in await self._s.redis.xrange(self._s.keys.audit, min=entry_id,
                                                                                  max=entry_id)]
        return found

    async def trim(self, below: str) -> int:
        """Remove the entries whose stream id is below `below` (approximately: whole stream nodes). The writer
        without a signing key trims this way; with one, `write_checkpoint` trims what it signs."""
        return int(await self._s.redis.xtrim(self._s.keys.audit, minid=below, approximate=True))

    async def checkpoints(self, count: int | None = None, *, since: str = "-") -> list[Entry]:
        """Every signed checkpoint kept (or the oldest `count`), oldest first (one per AUDIT_CHECKPOINT_EVERY
        entries or interval); from the one of stream id `since` on, when given."""
        found: list[Entry] = []
        lower = since
        while batch := await self._s.redis.xrange(self._s.keys.audit_checkpoints, min=lower, count=count or 1000):
            found += [(str(entry_id), dict(values)) for entry_id, values in batch]
            if count is not None:
                return found
            lower = "(" + str(batch[-1][0])
        return found

    async def checkpoints_back_to(self, seq: int, *, version: str) -> list[Entry]:
        """The checkpoints of `version`, newest first, back to the first that covers `seq` (its `from` at or before
        it): those the newest entries need, without reading the older ones."""
        found: list[Entry] = []
        upper = "+"
        while batch := await self._s.redis.xrevrange(self._s.keys.audit_checkpoints, max=upper, count=20):
            for entry_id, values in batch:
                if values.get("v") != version:
                    continue
                found.append((str(entry_id), dict(values)))
                start = str(values.get("from", ""))
                if not (start.isascii() and start.isdigit()) or int(start) <= seq:
                    return found
            upper = "(" + str(batch[-1][0])
        return found

    async def last_checkpoint(self) -> Entry | None:
        """The newest checkpoint, or None."""
        newest = await self._s.redis.xrevrange(self._s.keys.audit_checkpoints, count=1)
        return (str(newest[0][0]), dict(newest[0][1])) if newest else None

    async def write_checkpoint(
        self, fields: Mapping[str, str], *, after: str, trim_id: str, start: int
    ) -> bool:
        """Keep a signed checkpoint (`fields`, in order) unless the newest one is no longer `after` (its stream id,
        "" for none): False. In the same step the log is trimmed below `trim_id` ("": no trim), and the checkpoints
        below seq `start` - 1 go (`lua/audit_checkpoint.lua`)."""
        result = await self._s.script("audit_checkpoint")(
            keys={"audit": self._s.keys.audit, "checkpoints": self._s.keys.audit_checkpoints},
            args={"after": after, "trim_id": trim_id, "start": start,
                  "fields": [part for pair in fields.items() for part in pair]},
        )
        return _text(result) == "ok"

    async def entries(self, *, count: int = 1000) -> list[dict[str, str]]:
        """The oldest `count` entries."""
        entries = await self._s.redis.xrange(self._s.keys.audit, count=count)
        return [{"id": str(entry_id), **dict(values)} for entry_id, values in entries]

    async def about_channel(self, channel: str, *, limit: int = 10, scan: int = 5000) -> list[dict[str, str]]:
        """The newest `limit` entries about `channel` (as origin or approvals channel), newest first."""
        found: list[dict[str, str]] = []
        upper = "+"
        scanned = 0
        while len(found) < limit and scanned < scan:
            batch = await self._s.redis.xrevrange(self._s.keys.audit, max=upper, count=500)
            if not batch:
                break
            for entry_id, values in batch:
                if channel in (values.get("origin_channel"), values.get("card_channel")):
                    found.append({"id": str(entry_id), **dict(values)})
                    if len(found) == limit:
                        break
            scanned += len(batch)
            upper = "(" + str(batch[-1][0])
        return found

    async def export(self, *, since: float, channels: Iterable[str] = ()) -> AsyncIterator[dict[str, str]]:
        """Entries since `since` (epoch seconds), oldest first, optionally only about `channels`."""
        wanted = set(channels)
        lower = str(int(since * 1000))
        while True:
            batch = await self._s.redis.xrange(self._s.keys.audit, min=lower, count=1000)
            for entry_id, values in batch:
                if not wanted or wanted & {values.get("origin_channel"), values.get("card_channel")}:
                    yield {"id": str(entry_id), **dict(values)}
            if len(batch) < 1000:
                return
            lower = "(" + str(batch[-1][0])


def _one(found: Sequence[tuple[Any, Any]]) -> Entry | None:
    """The one entry an XRANGE of COUNT 1 found, or None."""
    return (str(found[0][0]), dict(found[0][1])) if found else None

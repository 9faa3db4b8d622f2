"""The plane watches its own audit log: one worker at a time (a lease in Redis, as the checkpoint writer's) verifies
the checkpoints written since it last looked, every AUDIT_WATCH_INTERVAL, and the whole log every AUDIT_WATCH_FULL.

Each look is `audit verify`'s walk (bot/audit/verify.py `walk`) from the last checkpoint it verified (kept in
`Keys.audit_watched`, so a worker taking over goes on from there), reading and verifying only that checkpoint and
the later ones, with the deployment's signing keys; with AUDIT_ARCHIVE, the archive's sealed segments written since
(bot/audit/archive/verify.py `check_new_segments`, from the mark kept beside it). Each look also counts the whole
Redis log (bot/audit/census.py: its length, first and last entries against the signed checkpoints and the counter,
three reads), so an entry deleted anywhere, long verified, is seen within a look: the walk then goes over the whole
log to name it. A look costs what is new; the full look reads everything again (and lists the archive's object
versions: a put over an object is named `overwritten`). A look finds:

- `altered`, `deleted`, `inserted`: an entry changed, gone (a gap, or the unsigned tail cut) or added by hand;
- `forged`: a checkpoint whose signature or fields do not verify with the deployment's keys;
- `unannounced_key`: a checkpoint signed by a key the log never announced before it;
- `stalled`: entries waiting unsigned longer than AUDIT_STALLED_AFTER (the checkpoint writer stopped), or a
  checkpoint writer lost: its lease expired unreleased and another worker took it over (bot/store/writer_lease.py;
  said by whichever worker looks first, the watch lease's holder or not: the watcher may be the worker that
  stalled); or, with AUDIT_ARCHIVE, checkpoints waiting unarchived that long (the archive writer stopped).

A finding is kept in `Keys.audit_findings` under its identity (its kind and what it says, which names the entry or
the object) and said once (`Alerter`): a message in ALERTS_CHANNEL, a signed POST to ALERT_WEBHOOK_URL, a line at
ERROR and the metric `hitl_audit_integrity_findings`; a second finding, even of the same kind, is said too. It stands
(`hitl_audit_integrity_standing`) until a look that reads all of its source again (a full look of Redis or of the
archive; a stall is looked at whole each time) finds that source intact; then its clearing is said. An incremental
look that does not read it again never clears it. Every look that finds the Redis log intact, new entries or none,
moves `hitl_audit_last_verified_timestamp_seconds`: a quiet night is no silence of the watcher.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from bot.audit.archive.stores import ArchiveError, ArchiveStore
from bot.audit.archive.verify import Found, Mark, check_new_segments, overwritten_said, trust_of
from bot.audit.census import Miscount, gap_of, miscount
from bot.audit.chains import chain_stores, check_population
from bot.audit.checkpoints import CHECKPOINT_TYPE
from bot.audit.rounds import Rounds
from bot.audit.verify import NO_LOG, RESTORED, Trust, Verifier, walk
from bot.audit.walker import iso_utc
from bot.core.metrics import Metrics
from bot.core.signing import SigningKeys
from bot.store import Store

log = logging.getLogger(__name__)

CHECK_BY_HAND = "python -m bot audit verify"
KINDS = ("altered", "deleted", "inserted", "forged", "unannounced_key", "overwritten", "stalled", "stalled_archive",
         "integrity")
REDIS, ARCHIVE, WRITER, ARCHIVE_WRITER = "redis", "archive", "writer", "archive_writer"  # where a finding is from
STALLS = {"stalled": WRITER, "stalled_archive": ARCHIVE_WRITER}  # (said once per stall, whatever its age says)
Post = Callable[[str], Awaitable[None]]
# the archive check's words (bot/audit/archive/verify.py) as the watcher's kinds
ARCHIVE_KINDS = {"altered": "altered", "deleted": "deleted", "inserted": "inserted", "segment missing": "deleted",
                 "checkpoint forged": "forged", "key not pinned": "forged", "overwritten": "overwritten"}
_KIND = re.compile(r": (altered|deleted|inserted): ")


@dataclass(frozen=True)
class Finding:
    """What a look found: its kind (one of `KINDS`), what (the walk's words), where, since when (epoch s), its source
    (REDIS, ARCHIVE, WRITER, ARCHIVE_WRITER) and its identity (`key`: said once; "" for its kind and what)."""

    kind: str
    what: str
    where: str
    since: float
    source: str = REDIS
    ident: str = ""

    @property
    def key(self) -> str:
        if self.kind in STALLS:
            return self.kind
        return f"{self.kind}:" + hashlib.sha256(f"{self.source}\n{self.ident or self.what}".encode()).hexdigest()[:24]


def kind_of(said: str) -> str:
    """The kind of a walk's "NOT intact" report."""
    if "forged checkpoint" in said:
        return "forged"
    if "announced" in said and "signed by key" in said:
        return "unannounced_key"
    found = _KIND.search(said)
    return found.group(1) if found else "integrity"


class Alerter:
    """Says a finding and its clearing: ALERTS_CHANNEL, ALERT_WEBHOOK_URL (signed), the log at ERROR, the metrics."""

    def __init__(self, metrics: Metrics, *, post: Post | None, escape: Callable[[str], str], url: str,
                 signed: Callable[[bytes], dict[str, str]], worker: str) -> None:
        """`post`: says a text in ALERTS_CHANNEL (None: unset); `escape`: the project's one escaping path for Slack
        text; `signed`: the webhook signature's headers for a body (bot/api/webhooks.py's signing)."""
        self._metrics = metrics
        self._post_message = post
        self._escape = escape
        self._url = url
        self._signed = signed
        self._worker = worker

    async def found(self, finding: Finding) -> None:
        """Say `finding` everywhere it goes."""
        self._metrics.audit_findings.labels(finding.kind).inc()
        log.error("audit log integrity: %s: %s (where: %s; since %s); check by hand: %s", finding.kind, finding.what,
                  finding.where, iso_utc(finding.since), CHECK_BY_HAND)
        what, where = self._escape(finding.what[:1500]), self._escape(finding.where)
        text = (f"*Audit log integrity: {finding.kind}*\n{what}\nWhere: {where}"
                f"\nSince: {iso_utc(finding.since)}\nCheck it by hand: `{CHECK_BY_HAND}`")
        await self._say(text, {"event": "audit_finding", "kind": finding.kind, "what": finding.what[:1500],
                               "where": finding.where, "since": iso_utc(finding.since), "check": CHECK_BY_HAND})

    async def cleared(self, kind: str, since: float) -> None:
        """Say that the finding of `kind` (standing since `since`) is no longer found."""
        log.warning("audit log integrity: %s cleared (found since %s)", kind, iso_utc(since))
        text = f"*Audit log integrity: {kind} cleared*\nFound since {iso_utc(since)}; the last look found it no more."
        await self._say(text, {"event": "audit_cleared", "kind": kind, "since": iso_utc(since)})

    async def _say(self, text: str, body: dict[str, str]) -> None:
        body["worker"] = self._worker
        if self._post_message is not None:
            await self._post_message(text)
        if self._url:
            await self._post(json.dumps(body, separators=(",", ":")).encode())

    async def _post(self, body: bytes) -> None:
        headers = {"Content-Type": "application/json", **self._signed(body)}
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http, \
                    http.post(self._url, data=body, headers=headers) as answer:
                ok = 200 <= answer.status < 300
                self._metrics.alert_webhooks.labels("delivered" if ok else "failed").inc()
                if not ok:
                    log.error("the audit alert webhook answered %d", answer.status)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            self._metrics.alert_webhooks.labels("failed").inc()
            log.error("the audit alert webhook could not be sent (%s)", type(exc).__name__)


class AuditWatch(Rounds):
    """Verifies the log as it is written (`look`), from its own task, while this worker holds the lease."""

    def __init__(
        self, store: Store, keys: SigningKeys | None, alerter: Alerter, metrics: Metrics, *, worker: str,
        interval: float, full_every: float, stalled: float, retention: float, archive: bool = False,
        archive_store: ArchiveStore | None = None,
    ) -> None:
        """`archive`: AUDIT_ARCHIVE is set (its writer is watched for stalls); `archive_store`: the archive, whose
        new segments each look checks."""
        super().__init__("audit-watch", store=store, worker=worker, every=interval)
        self._keys = keys
        self._alerter = alerter
        self._metrics = metrics
        self._full_every = full_every
        self._stalled = stalled
        self._retention = retention
        self._archive = archive
        self._archive_store = archive_store

    async def round(self) -> None:
        await self.look()

    async def look(self, now: float | None = None) -> list[Finding] | None:
        """If this worker holds (or takes) the lease: verify what is new, say what is found and what cleared. The
        findings (None: another worker watches)."""
        now = time.time() if now is None else now
        if not await self._store.audit.watch_lease(self._worker, max(3 * self.every, 10.0)):
            await self._lost_said()  # (a lost checkpoint writer is said by any worker: the watcher may be it)
            return None
        watched = await self._store.audit.watched()
        whole = {WRITER, ARCHIVE_WRITER}  # the sources this look read whole (a stall is looked at whole each time)
        redis, full = await self._verified(self._store, watched, now)
        chains = [await self._verified(chain, await chain.audit.watched(), now)
                  for _, chain in (await chain_stores(self._store))[1:]]  # each tenant's chain (bot/audit/chains.py)
        if full and all(walked for _, walked in chains):
            whole.add(REDIS)
        archive = await self._archive_checked(watched, now)
        if archive is not None and self._full_due(watched, now):
            whole.add(ARCHIVE)
        lost, said = await self._writer_lost()
        found = [f for f in (redis, *(f for f, _ in chains), await self._population(now),
                             archive if archive else None, lost or await self._writer_stalled(now),
                             await self._archive_stalled(watched, now)) if isinstance(f, Finding)]
        await self._settle(found, whole)
        await self._store.writer_lease.said(said)
        await self._store.audit.set_watched({"looked": repr(now)})  # (a look ended: whatever it found)
        return found

    async def _population(self, now: float) -> Finding | None:
        """The global checkpoints against every chain (bot/audit/chains.py): a chain dropped, left out or gone back,
        a global checkpoint forged."""
        verify, _ = self._signing()
        if verify is None:
            return None
        problem, _ = await check_population(self._store, verify)
        if problem is None:
            return None
        kind = "forged" if problem.startswith("forged") else "deleted" if " gone" in problem or "leaves" in problem \
            else "integrity"
        return Finding(kind, problem, f"{self._store.keys.audit_global} (Redis)", now)

    async def _verified(self, store: Store, watched: dict[str, str], now: float) -> tuple[Finding | None, bool]:
        """Count the whole log of `store`'s chain, and walk from the last checkpoint verified (the whole log when a
        full look is due, or when the count is off anew: the walk names the entry); move on when intact. (The finding,
        whether the whole log was walked.)"""
        census = await store.audit.census()
        due = self._full_due(watched, now)
        since_id = "" if due else watched.get("id", "")  # (the seqs restores lost: read again whole at a full look)
        gaps = sorted(set(await self._gaps_of(store, since_id))
                      | (set() if due else set(_gaps(watched.get("gaps", "")))))
        off = miscount(census, gaps) if self._keys is not None else None
        counted = off.key if off is not None else ""
        full = due or (off is not None and counted != watched.get("census"))
        start_at = None if full or "at" not in watched else _number(watched.get("at"))
        verify, trust = self._signing()
        after = "" if start_at is None else watched.get("id", "")
        said, code = await walk(store, start_at, verify, retention=self._retention, now=now, trust=trust,
                                after=after)
        finding = self._finding(store, said, code, census.counter, off, watched, now, full=full)
        kept = {"census": counted, "found": _dumps(finding) if finding is not None else "", "gaps": json.dumps(gaps)}
        if due:
            kept["full"] = repr(now)  # (read whole, whatever it found: the next full look is due in `full_every`)
        if finding is None:  # intact: new entries verified, or none to verify (a quiet night is no silence)
            self._moved_on(kept, census.newest, now, home=store is self._store)
        await store.audit.set_watched(kept)
        return finding, full

    def _signing(self) -> tuple[Verifier | None, Trust | None]:
        """How the walk verifies checkpoints' signatures, and whom it trusts: the deployment's keys (none: none)."""
        keys = self._keys
        if keys is None:
            return None, None
        return (lambda jws: keys.verify(jws, typ=CHECKPOINT_TYPE)), Trust(
            source="the deployment's keys", pinned=False, created={k.kid: k.created_at for k in keys.keys},
            public={k.kid: k.x for k in keys.keys})

    def _finding(
        self, store: Store, said: str, code: int, counter: int | None, off: Miscount | None, watched: dict[str, str],
        now: float, *, full: bool,
    ) -> Finding | None:
        """What a walk that said `said` (exit `code`) and a census `off` (None: the count is right) find."""
        where = f"{store.keys.audit} (Redis)"
        counted = off.key if off is not None else ""
        if code == NO_LOG:
            if counter:  # (the log and its checkpoints are gone, the counter says entries were written)
                return Finding("deleted", f"the audit log is gone: its counter says {counter:,} entries were written",
                               where, now, ident="gone")
            return None
        if code not in (0, RESTORED) and not said.startswith("audit log NOT verified"):
            what = said.removeprefix("audit log NOT intact: ")
            if off is not None:
                return Finding(kind_of(said), f"{what}; and {off.what}", where, now, ident=what + "\n" + counted)
            return Finding(kind_of(said), what, where, now, ident=what + "\n" + counted)
        if off is not None:  # the walk from where it stopped finds nothing: the count stands (kept: not walked anew)
            return (Finding(off.kind, off.what, where, now, ident=off.key) if full or "found" not in watched
                    else _loads(watched["found"], now) or Finding(off.kind, off.what, where, now, ident=off.key))
        return None

    def _moved_on(
        self, kept: dict[str, str], newest: tuple[str, dict[str, str]] | None, now: float, *, home: bool
    ) -> None:
        """An intact look: where the next starts (the newest entry, when there is one) added to `kept`, and said in
        the metrics (the seq: the home chain's)."""
        if newest is not None:
            seq, at = newest[1].get("seq", "0"), newest[1].get("at", "0")
            kept.update({"seq": seq, "at": at, "id": newest[0]})
            if home:
                self._metrics.audit_verified_seq.set(_number(seq))
        kept["checked"] = repr(now)
        self._metrics.audit_verified_at.set(now)

    async def _gaps_of(self, store: Store, since: str) -> list[tuple[int, int]]:
        """The seqs restores lost, as the chain's checkpoints from stream id `since` on ("": all) sign them."""
        stored = await store.audit.checkpoints(since=since) if since else await store.audit.checkpoints()
        return [gap for _, fields in stored if (gap := gap_of(fields)) is not None]

    def _full_due(self, watched: dict[str, str], now: float) -> bool:
        """Whether this look walks everything again (every `full_every`), not only what is new."""
        return now - _number(watched.get("full")) >= self._full_every

    async def _archive_checked(self, watched: dict[str, str], now: float) -> Finding | bool | None:
        """The archive's sealed segments written since the last look (every one when a full look is due, and the
        objects written over), each against its signed tree head, chained from where the last look stopped
        (`archive` in `Keys.audit_watched`, moved on when intact). The finding; False when intact; None when not
        looked at (no archive, or it could not be read)."""
        if self._archive_store is None or self._keys is None:
            return None
        trust = trust_of({"keys": [k.public_jwk() for k in self._keys.keys]}, source="the deployment's keys",
                         pinned=False)
        full = self._full_due(watched, now)
        mark = None if full else Mark.loads(watched.get("archive", ""))
        try:  # (a full look lists every version first: each object is then read in its oldest, the one written)
            over = await overwritten_said(self._archive_store) if full else ""
            _, mark = await check_new_segments(self._archive_store, trust=trust, mark=mark)
            if over:
                await self._store.audit.set_watched({"archive": mark.dumps()})
                raise Found("overwritten", over)
        except Found as exc:
            return Finding(ARCHIVE_KINDS.get(exc.kind, "integrity"), str(exc), self._archive_store.url, now,
                           source=ARCHIVE)
        except ArchiveError as exc:
            log.warning("the audit watcher could not read the archive (%s): checked at the next look", exc)
            return None
        await self._store.audit.set_watched({"archive": mark.dumps()})
        return False

    async def _writer_lost(self) -> tuple[Finding | None, list[str]]:
        """A checkpoint writer lost: its lease expired unreleased (its worker stopped, hung or was killed) and another
        worker took it over (bot/store/writer_lease.py). A stall, even though the log is signed again by then: the
        finding (`stalled`), and the records it says."""
        lost = await self._store.writer_lease.lost() if self._keys is not None else []
        if not lost:
            return None, []
        first = lost[0]
        more = f"; {len(lost) - 1} more since" if len(lost) > 1 else ""
        what = (f"the checkpoint writer stalled: worker {first.worker} held its lease and stopped renewing it at"
                f" {iso_utc(first.last)} (stopped, hung or killed); worker {first.taken_by} took it over at"
                f" {iso_utc(first.at)}, {first.at - first.last:,.0f} s later, and signs from there{more}")
        return Finding("stalled", what, "the checkpoint writer", first.last, source=WRITER), [w.ident for w in lost]

    async def _lost_said(self) -> None:
        """Say a checkpoint writer lost (`_writer_lost`) from a worker that does not hold the watch lease: the
        watcher may be the worker that stalled."""
        lost, said = await self._writer_lost()
        if lost is not None:
            await self._settle([lost], set())
            await self._store.writer_lease.said(said)

    async def _writer_stalled(self, now: float) -> Finding | None:
        """Entries unsigned for longer than the limit: the checkpoint writer is stalled."""
        if self._keys is None:
            return None
        counter = await self._store.audit.counter() or 0
        newest = await self._store.audit.last_checkpoint()
        done = int(_number(newest[1].get("seq"))) if newest is not None else 0
        at = _number(newest[1].get("at")) if newest is not None else 0.0
        if newest is not None:
            self._metrics.audit_checkpoint_seq.set(done)
            self._metrics.audit_checkpoint_at.set(at)
        self._metrics.audit_seq.set(counter)
        if counter <= done or newest is None or now - at < self._stalled:
            return await self._chain_stalled(now)
        return Finding("stalled", f"the checkpoint writer is stalled: entries seq {done + 1:,} to {counter:,} are not"
                       f" signed, the last checkpoint is {now - at:,.0f} s old", "the checkpoint writer", at,
                       source=WRITER)

    async def _chain_stalled(self, now: float) -> Finding | None:
        """Another tenant's chain with entries unsigned longer than the limit (bot/audit/chains.py): its oldest
        unsigned entry's time, as its chain says it."""
        for name, chain in (await chain_stores(self._store))[1:]:
            counter = await chain.audit.counter() or 0
            newest = await chain.audit.last_checkpoint()
            done = int(_number(newest[1].get("seq"))) if newest is not None else 0
            if counter <= done:
                continue
            lower = "(" + newest[1].get("id", "") if newest is not None else "-"
            waiting = await chain.audit.chained(lower=lower, count=1)
            since = _number(waiting[0][1].get("at")) if waiting else 0.0
            if since and now - since >= self._stalled:
                return Finding("stalled", f"the checkpoint writer is stalled: chain {name}'s entries seq {done + 1:,}"
                               f" to {counter:,} are not signed, the oldest {now - since:,.0f} s old",
                               "the checkpoint writer", since, source=WRITER)
        return None

    async def _archive_stalled(self, watched: dict[str, str], now: float) -> Finding | None:
        """Checkpoints not archived for longer than the limit (AUDIT_ARCHIVE): the archive writer is stalled."""
        if not self._archive:
            return None
        archived = await self._store.audit.archived_through() or 0
        newest = await self._store.audit.last_checkpoint()
        signed = int(_number(newest[1].get("seq"))) if newest is not None else 0
        if signed <= archived:
            if "lag_since" in watched:
                await self._store.audit.set_watched({"lag_since": ""})
            return None
        since = _number(watched.get("lag_since")) or now
        if not watched.get("lag_since"):
            await self._store.audit.set_watched({"lag_since": repr(now)})
        if now - since < self._stalled:
            return None
        return Finding("stalled_archive", f"the audit archive is stalled: it holds up to seq {archived:,}, the log is"
                       f" signed to seq {signed:,}", "the archive writer (AUDIT_ARCHIVE)", since,
                       source=ARCHIVE_WRITER)

    async def _settle(self, found: list[Finding], whole: set[str]) -> None:
        """Keep and say each new finding (once: by its identity), and say the clearing of those whose source a look
        read whole (`whole`) and found intact."""
        standing = await self._store.audit.findings()
        for finding in found:
            if finding.key not in standing and await self._store.audit.add_finding(finding.key, {
                    "kind": finding.kind, "what": finding.what[:1500], "where": finding.where,
                    "since": finding.since, "source": finding.source}):
                await self._alerter.found(finding)
        failing = {f.source for f in found}
        kinds = {f.kind for f in found}
        for key, kept in standing.items():
            kind = str(kept.get("kind") or key)
            source = str(kept.get("source") or STALLS.get(kind, REDIS))
            if source in whole and source not in failing and await self._store.audit.clear_finding(key):
                await self._alerter.cleared(kind, _number(kept.get("since")))
            elif source not in whole or source in failing:
                kinds.add(kind)
        self._metrics.audit_standing.clear()
        for kind in kinds:
            self._metrics.audit_standing.labels(kind).set(1)


def _gaps(text: str) -> list[tuple[int, int]]:
    """The restored gaps kept in `Keys.audit_watched` (JSON pairs)."""
    try:
        return [(int(low), int(high)) for low, high in json.loads(text or "[]")]
    except (ValueError, TypeError, RecursionError):
        return []


def _dumps(finding: Finding) -> str:
    return json.dumps([finding.kind, finding.what, finding.where, finding.ident])


def _loads(text: str, now: float) -> Finding | None:
    try:
        kind, what, where, ident = json.loads(text)
        return Finding(str(kind), str(what), str(where), now, ident=str(ident))
    except (ValueError, TypeError, RecursionError):
        return None


def _number(text: object) -> float:
    try:
        return float(str(text)) if text not in (None, "") else 0.0
    except ValueError:
        return 0.0


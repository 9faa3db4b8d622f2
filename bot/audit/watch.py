"""The plane watches its own audit log: one worker at a time (a lease in Redis, as the checkpoint writer's) verifies
the checkpoints written since it last looked, every AUDIT_WATCH_INTERVAL, and the whole log every AUDIT_WATCH_FULL.

Each look is `audit verify`'s walk (bot/audit/verify.py `walk`) from the last checkpoint it verified (kept in
`Keys.audit_watched`, so a worker taking over goes on from there), reading and verifying only that checkpoint and
the later ones, with the deployment's signing keys; with AUDIT_ARCHIVE, the archive's sealed segments written since
(bot/audit/archive/verify.py `check_new_segments`, from the mark kept beside it). A look costs what is new; the full
look reads everything again. A look finds:

- `altered`, `deleted`, `inserted`: an entry changed, gone (a gap, or the unsigned tail cut) or added by hand;
- `forged`: a checkpoint whose signature or fields do not verify with the deployment's keys;
- `unannounced_key`: a checkpoint signed by a key the log never announced before it;
- `stalled`: entries waiting unsigned longer than AUDIT_STALLED_AFTER (the checkpoint writer stopped), or, with
  AUDIT_ARCHIVE, checkpoints waiting unarchived that long (the archive writer stopped).

A finding is kept in `Keys.audit_findings` (what, since when) and said (`Alerter`): a message in ALERTS_CHANNEL, a
signed POST to ALERT_WEBHOOK_URL, a line at ERROR and the metric `hitl_audit_integrity_findings`; the same kind is
not said again within the hour (`Keys.audit_alerted`), and once a look no longer finds it its clearing is said.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import aiohttp

from bot.audit.archive.stores import ArchiveError, ArchiveStore
from bot.audit.archive.verify import Found, Mark, check_new_segments, trust_of
from bot.audit.checkpoints import CHECKPOINT_TYPE
from bot.audit.rounds import Rounds
from bot.audit.verify import NO_LOG, RESTORED, Trust, walk
from bot.audit.walker import iso_utc
from bot.core.metrics import Metrics
from bot.core.signing import SigningKeys
from bot.store import Store

log = logging.getLogger(__name__)

REPEAT_AFTER = 3600.0  # the same finding is said at most once an hour
CHECK_BY_HAND = "python -m bot audit verify"
KINDS = ("altered", "deleted", "inserted", "forged", "unannounced_key", "stalled", "stalled_archive", "integrity")
Post = Callable[[str], Awaitable[None]]
# the archive check's words (bot/audit/archive/verify.py) as the watcher's kinds
ARCHIVE_KINDS = {"altered": "altered", "deleted": "deleted", "inserted": "inserted", "segment missing": "deleted",
                 "checkpoint forged": "forged", "key not pinned": "forged"}
_KIND = re.compile(r": (altered|deleted|inserted): ")


@dataclass(frozen=True)
class Finding:
    """What a look found: its kind (one of `KINDS`), what (the walk's words), where, and since when (epoch s)."""

    kind: str
    what: str
    where: str
    since: float


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


class AuditWatch:
    """Verifies the log as it is written (`look`), from its own task, while this worker holds the lease."""

    def __init__(
        self, store: Store, keys: SigningKeys | None, alerter: Alerter, metrics: Metrics, *, worker: str,
        interval: float, full_every: float, stalled: float, retention: float, archive: bool = False,
        archive_store: ArchiveStore | None = None,
    ) -> None:
        """`archive`: AUDIT_ARCHIVE is set (its writer is watched for stalls); `archive_store`: the archive, whose
        new segments each look checks."""
        self._store = store
        self._keys = keys
        self._alerter = alerter
        self._metrics = metrics
        self._worker = worker
        self._interval = interval
        self._full_every = full_every
        self._stalled = stalled
        self._retention = retention
        self._archive = archive
        self._archive_store = archive_store
        self._rounds = Rounds("audit-watch", self.look, store=store, every=interval)

    async def start(self) -> None:
        await self._rounds.start()

    async def stop(self) -> None:
        await self._rounds.stop()

    async def look(self, now: float | None = None) -> list[Finding] | None:
        """If this worker holds (or takes) the lease: verify what is new, say what is found and what cleared. The
        findings (None: another worker watches)."""
        now = time.time() if now is None else now
        if not await self._store.audit.watch_lease(self._worker, max(3 * self._interval, 10.0)):
            return None
        watched = await self._store.audit.watched()
        found = [f for f in (await self._verified(watched, now), await self._archive_checked(watched, now),
                             await self._writer_stalled(now), await self._archive_stalled(watched, now))
                 if f is not None]
        await self._settle(found, now)
        await self._store.audit.set_watched({"looked": repr(now)})  # (a look ended: whatever it found)
        return found

    async def _verified(self, watched: dict[str, str], now: float) -> Finding | None:
        """Walk from the last checkpoint verified (the whole log when a full look is due); move on when intact."""
        full = self._full_due(watched, now)
        start_at = None if full or "at" not in watched else _number(watched.get("at"))
        keys = self._keys
        verify = None if keys is None else (lambda jws: keys.verify(jws, typ=CHECKPOINT_TYPE))
        trust = None if keys is None else Trust(source="the deployment's keys", pinned=False,
                                                created={k.kid: k.created_at for k in keys.keys},
                                                public={k.kid: k.x for k in keys.keys})
        said, code = await walk(self._store, start_at, verify, retention=self._retention, now=now, trust=trust,
                                after="" if start_at is None else watched.get("id", ""))
        if code == NO_LOG or said.startswith("audit log NOT verified"):
            return None  # nothing new to check
        if code not in (0, RESTORED):  # (a known restore, signed as such, is no finding: the workers said it)
            what = said.removeprefix("audit log NOT intact: ")
            return Finding(kind_of(said), what, f"{self._store.keys.audit} (Redis)", now)
        newest = await self._store.audit.last_checkpoint()
        if newest is not None:
            seq, at = newest[1].get("seq", "0"), newest[1].get("at", "0")
            await self._store.audit.set_watched({"seq": seq, "at": at, "id": newest[0], "checked": repr(now),
                                                 **({"full": repr(now)} if full else {})})
            self._metrics.audit_verified_seq.set(_number(seq))
            self._metrics.audit_verified_at.set(now)
        return None

    def _full_due(self, watched: dict[str, str], now: float) -> bool:
        """Whether this look walks everything again (every `full_every`), not only what is new."""
        return now - _number(watched.get("full")) >= self._full_every

    async def _archive_checked(self, watched: dict[str, str], now: float) -> Finding | None:
        """The archive's sealed segments written since the last look (every one when a full look is due), each
        against its signed tree head, chained from where the last look stopped (`archive` in `Keys.audit_watched`,
        moved on when intact)."""
        if self._archive_store is None or self._keys is None:
            return None
        trust = trust_of({"keys": [k.public_jwk() for k in self._keys.keys]}, source="the deployment's keys",
                         pinned=False)
        mark = None if self._full_due(watched, now) else Mark.loads(watched.get("archive", ""))
        try:
            _, mark = await check_new_segments(self._archive_store, trust=trust, mark=mark)
        except Found as exc:
            return Finding(ARCHIVE_KINDS.get(exc.kind, "integrity"), str(exc), self._archive_store.url, now)
        except ArchiveError as exc:
            log.warning("the audit watcher could not read the archive (%s): checked at the next look", exc)
            return None
        await self._store.audit.set_watched({"archive": mark.dumps()})
        return None

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
            return None
        return Finding("stalled", f"the checkpoint writer is stalled: entries seq {done + 1:,} to {counter:,} are not"
                       f" signed, the last checkpoint is {now - at:,.0f} s old", "the checkpoint writer", at)

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
                       f" signed to seq {signed:,}", "the archive writer (AUDIT_ARCHIVE)", since)

    async def _settle(self, found: list[Finding], now: float) -> None:
        """Keep and say the findings (each kind at most once an hour), and say those that cleared."""
        standing = await self._store.audit.findings()
        for finding in found:
            since = float(standing.get(finding.kind, {}).get("since") or finding.since)
            if finding.kind not in standing:
                await self._store.audit.set_finding(finding.kind, {"what": finding.what[:1500], "since": since})
            if await self._store.audit.alert_due(finding.kind, every=REPEAT_AFTER):
                await self._alerter.found(Finding(finding.kind, finding.what, finding.where, since))
        kinds = {f.kind for f in found}
        for kind, kept in standing.items():
            if kind not in kinds and await self._store.audit.clear_finding(kind):
                await self._alerter.cleared(kind, _number(kept.get("since")))
        self._metrics.audit_standing.clear()
        for finding in found:
            self._metrics.audit_standing.labels(finding.kind).set(1)


def _number(text: object) -> float:
    try:
        return float(str(text)) if text not in (None, "") else 0.0
    except ValueError:
        return 0.0


"""The streamer: one worker at a time (a lease, as the archive writer's) delivers the audit log to the SIEM, in
order, from the cursor Redis keeps (bot/store/siem.py), a batch at a time.

Each round it takes (or keeps) the lease, reads the next batch after the cursor from Redis, turns each entry into its
OCSF event (bot/audit/siem/ocsf.py), sends the batch, and moves the cursor to the batch's last entry only once the
receiver accepted it. A worker killed between the two sends that batch again when it (or the next holder, once the
lease runs out) goes on: at least once, never a gap; the receiver drops repeats by `metadata.uid`. Memory stays
bounded whatever the receiver does: nothing is queued in this process, the log itself is the queue.

A receiver that refuses or is down is said once while it lasts (WARNING), counted in
`hitl_audit_siem_failures_total{reason}`, and tried again after a pause that doubles up to BACKOFF_MAX; the log's
lag (`hitl_audit_siem_lag_entries`, `_seconds`, from any worker) grows meanwhile and the alert says it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from bot.audit.chains import chain_stores
from bot.audit.digests import seq_of
from bot.audit.rounds import Rounds
from bot.audit.siem.ocsf import api_activity
from bot.audit.siem.sinks import Sink, SinkError, open_sink
from bot.core.metrics import Metrics
from bot.core.settings import Settings, reveal
from bot.core.version import __version__
from bot.store import Store

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0
LEASE_SECONDS = 10.0
BACKOFF_MAX = 60.0
STOP_GRACE = 10.0  # seconds a stopping worker lets the batch on its way finish (then it is sent again later)


class SiemStreamer(Rounds):
    """Delivers the audit log to `sink` while this worker holds the stream's lease, from its own task.
    `failed(reason)` counts each refused or failed batch, `delivered(n)` each entry accepted (the metrics)."""

    def __init__(
        self, store: Store, sink: Sink, *, worker: str, batch: int = 100, poll: float = POLL_SECONDS,
        lease: float = LEASE_SECONDS, failed: Callable[[str], None] = lambda reason: None,
        delivered: Callable[[int], None] = lambda n: None,
    ) -> None:
        super().__init__("audit-siem", store=store, worker=worker, every=poll)
        self._sink = sink
        self._batch = batch
        self._poll = poll
        self._lease = max(lease, 3 * poll)
        self._count_failed = failed
        self._count_delivered = delivered
        self.failing = ""  # what the receiver said last time it failed ("": it did not)
        self._sending = asyncio.Lock()  # held from a batch's send to its cursor's move
        self._stopping = False

    async def stop(self) -> None:
        """Stop after the batch on its way (its cursor moved: a restart sends nothing twice), within STOP_GRACE."""
        self._stopping = True
        try:
            await asyncio.wait_for(self._sending.acquire(), STOP_GRACE)
        except TimeoutError:
            log.warning("audit siem: stopping with a batch on its way; it is sent again after the restart")
        await super().stop()
        await self._sink.close()
        try:
            await self._store.siem.release(self._worker)  # the next worker goes on at once
        except Exception:  # (Redis down while stopping: the lease runs out)
            log.debug("audit siem: the lease was not given up", exc_info=True)

    async def round(self) -> None:
        while await self.deliver_due():
            pass
        if self.failing:
            log.info("audit siem: the receiver accepts again")
        self.failing = ""
        self.every = self._poll

    def failed(self, exc: Exception) -> bool:
        """A round failed: the receiver's refusal said once while it lasts and retried after a longer pause."""
        if not isinstance(exc, SinkError):
            return False
        self._count_failed(exc.reason)
        if str(exc) != self.failing:
            log.warning("audit siem: %s (%s); the batch is kept and sent again, nothing is lost", exc, exc.reason)
        self.failing = str(exc)
        self.every = min(BACKOFF_MAX, max(self._poll, self.every * 2))
        return True

    async def deliver_due(self) -> int:
        """If this worker holds (or takes) the lease: send the next batch after the cursor. The number of entries
        the receiver accepted (0: none waiting, or the lease is another's)."""
        if self._stopping:
            return 0
        async with self._sending:
            return await self._deliver()

    async def _deliver(self) -> int:
        """The next batch of the home chain, then of each other chain (bot/audit/chains.py: each with its cursor)."""
        done = await self._deliver_chain(self._store)
        for _, chain in (await chain_stores(self._store))[1:] if done >= 0 else []:
            done += max(0, await self._deliver_chain(chain))
        return max(0, done)

    async def _deliver_chain(self, store: Store) -> int:
        """The next batch of `store`'s chain after its cursor: the entries accepted; -1 when the lease is
        another's."""
        stream = store.siem
        if not await stream.lease(self._worker, self._lease):
            return -1
        cursor = await stream.cursor()
        entries = await stream.after(cursor[1] if cursor else "", count=self._batch)
        if not entries:
            return 0
        first = seq_of(entries[0][1])
        if cursor is not None and first is not None and first > cursor[0] + 1:
            log.error("audit siem: seqs %d to %d were trimmed from Redis before the SIEM had them (AUDIT_RETENTION"
                      " or AUDIT_REDIS_KEEP is shorter than the receiver was down)", cursor[0] + 1, first - 1)
        await self._sink.send([api_activity(entry_id, fields, product_version=__version__, chain=store.keys.tenant)
                               for entry_id, fields in entries])
        seqs = [seq for _, fields in entries if (seq := seq_of(fields)) is not None]
        last = max(seqs, default=cursor[0] if cursor else 0)
        if not await stream.advance(self._worker, seq=last, entry_id=entries[-1][0]):
            return 0  # (the lease ran out meanwhile: the next holder sends this batch again)
        self._count_delivered(len(entries))
        return len(entries)


def siem_of(settings: Settings, store: Store, metrics: Metrics, worker: str) -> SiemStreamer | None:
    """The streamer when AUDIT_SIEM_URL is set, its failures and deliveries counted (`metrics`)."""
    target = settings.siem
    if target is None:
        return None
    sink = open_sink(target, token=reveal(settings.audit_siem_token) or "", ca_file=settings.audit_siem_ca_file)
    return SiemStreamer(store, sink, worker=worker, batch=settings.audit_siem_batch,
                        failed=lambda reason: metrics.siem_failures.labels(reason).inc(),
                        delivered=metrics.siem_delivered.inc)

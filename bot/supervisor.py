"""What keeps a worker honest while nobody clicks: its heartbeat, runs orphaned by a dead worker,
and card updates that Slack refused (the outbox)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time

from redis.exceptions import RedisError

from bot.cards import CardService
from bot.runs import RunManager
from bot.store import ApprovalStore

log = logging.getLogger(__name__)


class Supervisor:
    """Beats every `ttl / 3` seconds; every `scan_every` seconds continues or ends runs whose worker
    is gone and retries the outbox."""

    def __init__(
        self,
        *,
        store: ApprovalStore,
        runs: RunManager,
        cards: CardService,
        worker_id: str,
        ttl: float = 6.0,
        scan_every: float = 2.0,
    ) -> None:
        self._store = store
        self._runs = runs
        self._cards = cards
        self._worker_id = worker_id
        self._ttl = ttl
        self._scan_every = scan_every
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        try:
            await self._store.beat(self._worker_id, ttl=self._ttl)
        except RedisError:
            log.warning("no heartbeat yet: Redis is unreachable")
        self._task = asyncio.create_task(self._loop(), name="supervisor")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        with contextlib.suppress(RedisError, OSError):
            await self._store.drop_heartbeat(self._worker_id)  # others may adopt our runs at once

    async def _loop(self) -> None:
        next_scan = time.monotonic()
        while True:
            try:
                await self._store.beat(self._worker_id, ttl=self._ttl)
                if time.monotonic() >= next_scan:
                    next_scan = time.monotonic() + self._scan_every
                    await self.scan_orphans()
                    await self.flush_outbox()
            except (RedisError, OSError) as exc:
                log.warning("supervisor: Redis unreachable (%s)", type(exc).__name__)
            await asyncio.sleep(self._ttl / 3)

    async def scan_orphans(self) -> int:
        """Runs whose worker is gone: continue those with a decision nobody took; restart those whose
        agent was working (from their last decision, or from the task); leave those waiting on a card
        (a click or the timeout will continue them). Returns how many runs were taken care of."""
        runs = [r for r in await self._store.live_runs() if r.owner and r.owner != self._worker_id]
        if not runs:
            return 0
        alive = await self._store.workers_alive(r.owner for r in runs)
        handled = 0
        for run in runs:
            if alive.get(run.owner, True):
                continue
            approvals = sorted(await self._store.run_approvals(run.id), key=lambda a: a.created_at)
            latest = approvals[-1] if approvals else None
            if latest is not None and latest.pending:
                continue
            if latest is not None and not latest.consumed and latest.status != "cancelled":
                handled += await self._runs.continue_if_orphaned(latest)
                continue
            handled += await self._runs.restart_orphan(run, latest if latest and latest.consumed else None)
        return handled

    async def flush_outbox(self) -> int:
        """Queue redraws of cards whose update is overdue (Slack refused it, or its worker died); a card
        never stays stale. Cards already queued here are first kept from the other workers."""
        now = time.time()
        await self._store.outbox_defer(self._cards.queued, due=now + self._store.card_grace)
        claimed = await self._store.outbox_claim(now, lease=self._store.card_grace)
        drawable = [a for a in await self._store.get_approvals(claimed) if a.card_ts]
        # nothing to draw: the approval expired, or its card was never posted (a click on a card that
        # was posted but never stored attaches it and puts it back in the outbox)
        await self._store.outbox_forget(set(claimed) - {a.id for a in drawable})
        for approval in drawable:
            self._cards.schedule(approval)
        return len(drawable)

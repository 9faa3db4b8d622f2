"""What keeps a worker honest while nobody clicks: its heartbeat, runs orphaned by a dead worker (or
lost track of by this one), and cards that were never posted (a worker died first), posted through the port `Cards`
(Slack's due work, bot/slack/due.py `SlackDue`, given by the root: no Slack here); that surface's due work (the
outbox: cards Slack refused to redraw, cards owed since Slack failed) drained by its own loop (`Drain`), apart from
the runs' and from every other surface's."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Protocol

from bot.core.records import API_OWNER, ApprovalRecord, RunRecord
from bot.core.tasks import stop_task
from bot.runs.manager import RunManager
from bot.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

UNSEEN_GRACE = 3.0  # seconds a stored approval may go without a card before another worker posts it


class Cards(Protocol):
    """Where a run's approvals are shown, as the supervisor needs it (Slack's, bot/slack/due.py `SlackDue`)."""

    async def post_unseen(self, approval: ApprovalRecord, /) -> bool:
        """Post the card of a pending approval whose worker died first, once across workers; whether it did."""
        ...

    async def drain(self) -> int:
        """The surface's due cards (the outbox) redrawn or posted; how many."""
        ...


@dataclass(kw_only=True, eq=False, repr=False)
class Supervisor:
    """Beats every `ttl / 3` seconds, in a task of its own that nothing stops; every `scan_every`
    seconds continues or ends runs that nobody works on and posts cards nobody posted (`sweep`: for every tenant
    with live runs, the worker's one loop of them, `bot.approvals.due_loops.DueTenants`), and with `scan` drains the
    cards' due work (`Cards.drain`; else the worker's loop of Slack's due work does, apart). A tenant's supervisor
    beats not: `heart`, the worker's, does."""

    store: Store
    runs: RunManager
    cards: Cards  # an unseen approval's card posted (Slack's due work, bot/slack/due.py)
    worker_id: str
    ttl: float = 6.0
    scan_every: float = 2.0
    heart: Supervisor | None = None
    _tasks: list[asyncio.Task[None]] = field(default_factory=list, init=False)
    # monotonic time of the first beat since Redis came back
    _connected_since: float | None = field(default=None, init=False)

    async def start(self, *, scan: bool = True) -> None:
        """Beat, and with `scan` look for work every `scan_every` seconds (without: the worker's loop of every
        tenant's due work calls `sweep`)."""
        try:
            await self._beat()
        except StoreUnavailable as exc:
            self.store.outage.failed(exc)  # "Redis at … is unreachable", once (bot.core.logs.Outage)
        self._tasks = [asyncio.create_task(self._beat_loop(), name="heartbeat")]
        if scan:
            self._tasks.append(asyncio.create_task(self._scan_loop(), name="supervisor"))

    async def stop(self) -> None:
        await stop_task(*self._tasks)
        with contextlib.suppress(StoreUnavailable):
            await self.store.workers.drop(self.worker_id)  # others may adopt our runs at once

    async def _beat(self) -> None:
        try:
            await self.store.workers.beat(self.worker_id, ttl=self.ttl)
        except BaseException:
            self._connected_since = None
            raise
        if self._connected_since is None:
            self._connected_since = time.monotonic()

    async def _beat_loop(self) -> None:
        while True:
            try:
                await self._beat()
                self.store.outage.ok()
            except StoreUnavailable as exc:
                self.store.outage.failed(exc)  # one line, then one a minute while it stays down
            except Exception:  # the heartbeat must outlive any bug: without it, others take our runs
                log.exception("heartbeat failed; going on")
            await asyncio.sleep(self.ttl / 3)

    async def sweep(self) -> int:
        """One look at the runs nobody works on; how many were taken care of (the outbox is Slack's due work, its
        own loop's: `Cards.drain`)."""
        return await self.scan_orphans()

    async def _scan_loop(self) -> None:
        while True:
            await asyncio.sleep(self.scan_every)
            for look in (self.sweep, self.cards.drain):  # each apart: one failing never holds the other
                try:
                    await look()
                except StoreUnavailable as exc:
                    self.store.outage.failed(exc)
                except Exception:
                    log.exception("supervisor scan failed; going on")

    @property
    def trusts_heartbeats(self) -> bool:
        """Whether a missing heartbeat means a dead worker: not until Redis has been reachable for a
        whole heartbeat (after an outage or a Redis restart, every worker needs one beat to show up)."""
        if self.heart is not None:
            return self.heart.trusts_heartbeats
        since = self._connected_since
        return since is not None and time.monotonic() - since >= self.ttl

    async def scan_orphans(self) -> int:
        """Runs nobody works on: those whose worker is gone, and this worker's own that it lost track
        of. Continue those with a decision nobody took; restart those whose agent was working (from
        their last decision, or from the task); leave those waiting on a card (a click or the timeout
        will continue them), posting the card if nobody did. Returns how many runs were taken care of."""
        if not self.trusts_heartbeats:
            return 0
        runs = [r for r in await self.store.runs.live() if r.owner and r.owner != API_OWNER]  # API: nobody runs it
        others = [r for r in runs if r.owner != self.worker_id]
        alive = await self.store.workers.alive(r.owner for r in others) if others else {}
        handled = 0
        for run in runs:
            if run.owner == self.worker_id:
                if self.runs.works_on(run.id) or time.time() - run.created_at < self.ttl:
                    continue
            elif alive.get(run.owner, True):
                continue
            handled += await self._take_care_of(run)
        return handled

    async def _take_care_of(self, run: RunRecord) -> int:
        approvals = sorted(await self.store.approvals.of_run(run.id), key=lambda a: a.created_at)
        latest = approvals[-1] if approvals else None
        if latest is not None and latest.pending:
            if not latest.card_ts and time.time() - latest.created_at > UNSEEN_GRACE:
                await self.cards.post_unseen(latest)
            return 0
        if latest is not None and not latest.consumed and latest.status != "cancelled":
            return int(await self.runs.continue_if_orphaned(latest))
        return int(await self.runs.restart_orphan(run, latest if latest and latest.consumed else None))


@dataclass(frozen=True, slots=True)
class Drain:
    """A surface's due set drained (bot/store/surface_due.py), the part of that surface's due work (bot/store/due.py
    kinds `slack`, `teams`, `email`) the worker's loop of it calls: each surface's loop its own, so a surface failing
    or slow never holds another's."""

    drain: Callable[[], Awaitable[int]]

    async def sweep(self) -> int:
        return await self.drain()

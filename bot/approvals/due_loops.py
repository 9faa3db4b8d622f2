"""The loops of due work, one of each per worker (`DueSweeper`: sweep what is due, sleep until the next, or a wake).

`DeadlineSweeper` fires overdue approvals through the same atomic decide step, so a click and
a timeout can never both win. Every worker sweeps; the decide step picks one winner. The loops run once per worker
(`DueTenants`): each visits the tenants the due index names (bot/store/due.py), and does their due work with that
tenant's sweeper.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Protocol

from bot.core.logs import Outage
from bot.core.tasks import stop_task
from bot.store import DecideResult, Store, StoreUnavailable
from bot.store.due import tenant_of

log = logging.getLogger(__name__)

DecidedHandler = Callable[[DecideResult], Awaitable[None]]  # an approval timed out (`result.approval`)


class DueSweeper:
    """A loop on every worker that does what is due (`sweep`), then sleeps until the next due time
    (`next_due`; at most `max_sleep`), or until `wake()`. A Redis outage or a bug is logged and the
    loop goes on: one failure must not stop every timeout or reminder of this worker for good."""

    name = "sweeper"

    def __init__(self, *, max_sleep: float) -> None:
        self._max_sleep = max_sleep
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.woken: Callable[[], None] | None = None  # told of each `wake` (a tenant's: the worker's loop of it)
        self.stopped = False  # stopped: the worker's loop of its kind does not call it either

    @property
    def outage(self) -> Outage | None:
        """The outage of the sweeper's store (for "Redis is unreachable" said once), None if it has none."""
        store = getattr(self, "_store", None)
        return store.outage if isinstance(store, Store) else None

    async def sweep(self) -> int:
        raise NotImplementedError

    async def next_due(self) -> float | None:
        raise NotImplementedError

    async def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        self.stopped = True
        await stop_task(self._task)

    def wake(self) -> None:
        """Something was added that may be due sooner than what the loop sleeps for: look again now."""
        self._wake.set()
        if self.woken is not None:
            self.woken()

    async def _run(self) -> None:
        while True:
            try:
                await self.sweep()
                nearest = await self.next_due()
                delay = self._max_sleep if nearest is None else min(self._max_sleep, max(0.0, nearest - time.time()))
                if self.outage is not None:
                    self.outage.ok()
            except StoreUnavailable as exc:
                if self.outage is not None:
                    self.outage.failed(exc)
                else:
                    log.warning("%s failed (%s); retrying", self.name, type(exc).__name__)
                delay = self._max_sleep
            except Exception:
                log.exception("%s failed; retrying", self.name)
                delay = self._max_sleep
            self._wake.clear()
            with contextlib.suppress(TimeoutError):  # (not wait_for: on 3.11 it loses a stop that comes with a wake)
                async with asyncio.timeout(delay):
                    await self._wake.wait()


class DeadlineSweeper(DueSweeper):
    """Times out overdue approvals (any worker's) through the atomic decide step."""

    name = "deadline-sweeper"

    def __init__(self, store: Store, *, on_decided: DecidedHandler, max_sleep: float = 1.0, batch: int = 200) -> None:
        super().__init__(max_sleep=max_sleep)
        self._store = store
        self._batch = batch
        self._on_decided = on_decided

    async def sweep(self) -> int:
        """Time out everything overdue now, a batch per round trip, and write the summaries of the refusal windows
        that have closed (`AuditLog.summarise_refusals`); the number this worker timed out."""
        now = time.time()
        fired = 0
        more = True
        while more:
            results, more = await self._store.approvals.time_out_due(now, limit=self._batch)
            for result in results:
                assert result.approval is not None
                fired += 1
                await self._on_decided(result)
        await self._store.audit.summarise_refusals(now)
        return fired

    async def next_due(self) -> float | None:
        return await self._store.approvals.next_deadline()


class Sweeps(Protocol):
    """A tenant's part that does its due work of one kind (a `DueSweeper`, the run supervisor, the Home queue)."""

    async def sweep(self) -> int: ...


# the part that does `tenant`'s due work of a kind, and its store ("" is home); None: not now (left due)
TenantSweeper = Callable[[str], Awaitable[tuple[Sweeps, Store] | None]]


class DueTenants(DueSweeper):
    """One loop per worker for one kind of due work (`bot.store.due.KINDS`) of every tenant: it visits only the
    tenants the due index says have work due now (never all of them), does it with that tenant's part (`of`:
    `Tenancy` builds its parts when needed; without one, home's alone), then settles the tenant's entry (its next
    due time, or none). `floor`: seconds it waits at least when work is left due (a tenant's sender full, a
    tenant not served now), so that it never spins."""

    def __init__(self, store: Store, kind: str, *, of: TenantSweeper, max_sleep: float = 1.0, floor: float = 0.05,
                 batch: int = 100) -> None:
        super().__init__(max_sleep=max_sleep)
        self.name = f"due-{kind}"
        self._store = store
        self.kind = kind
        self.of = of
        self._floor = floor
        self._batch = batch

    async def sweep(self) -> int:
        done = 0
        for member in await self._store.due.due(self.kind, time.time(), limit=self._batch):
            try:
                found = await self.of(tenant_of(member))
            except StoreUnavailable:
                raise
            except Exception:
                log.exception("%s: the parts of tenant %s could not be had; going on", self.name, member)
                continue
            if found is None or getattr(found[0], "stopped", False):
                continue
            part, store = found
            try:
                done += await part.sweep()
            except StoreUnavailable:
                raise
            except Exception:  # one tenant's failure never stops the others' work
                log.exception("%s of tenant %s failed; going on", self.name, member)
            await store.due.settle(self.kind)
        return done

    async def next_due(self) -> float | None:
        nearest = await self._store.due.next_at(self.kind)
        return None if nearest is None else max(nearest, time.time() + self._floor)


def worker_loops(store: Store, *, home: Mapping[str, Sweeps], pace: Mapping[str, float]) -> dict[str, DueTenants]:
    """The worker's one loop of each kind of due work (`home`'s parts for each kind: the home tenant's, until
    `Tenancy` sets every loop's `of`); `pace`: the seconds between two visits of a kind whose work stays due while
    any is left (runs, Homes), else at most a second."""

    def home_only(kind: str) -> TenantSweeper:
        async def of(tenant: str) -> tuple[Sweeps, Store] | None:
            return (home[kind], store) if not tenant else None
        return of

    return {kind: DueTenants(store, kind, of=home_only(kind), max_sleep=pace.get(kind, 1.0),
                             floor=pace.get(kind, 0.05)) for kind in home}


def tell_loops(parts: Mapping[str, Sweeps], loops: Mapping[str, DueTenants]) -> None:
    """Each sweeper's `wake` (new work of its tenant may be due sooner) told to the worker's loop of its kind."""
    for kind, part in parts.items():
        if isinstance(part, DueSweeper):
            part.woken = loops[kind].wake


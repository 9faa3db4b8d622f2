"""Background tasks that outlive a request: kept referenced, their failures logged; and who goes first on a
worker's event loop after a decision (`RunsFirst`)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar

log = logging.getLogger(__name__)
T = TypeVar("T")


async def stop_task(*tasks: asyncio.Task[Any] | None, grace: float = 5.0) -> None:
    """Cancel loops' tasks and wait for them to end, at most `grace` seconds (then say so and go on:
    nothing may hold a worker's shutdown, not even a task that swallows its cancellation)."""
    running = [task for task in tasks if task is not None]
    for task in running:
        task.cancel()
    if not running:
        return
    _, stuck = await asyncio.wait(running, timeout=grace)
    for task in stuck:
        log.warning("%s did not stop within %.0f s of being cancelled", task.get_name(), grace)


async def gather_few(works: Iterable[Awaitable[Any]], *, at_once: int = 16) -> None:
    """Await every one of `works`, at most `at_once` at a time: a step over every workspace (a thousand of them) never
    asks for more of the Redis pool's connections, or of Slack, than that at once."""
    pending = iter(works)

    async def drain() -> None:
        for work in pending:  # (one iterator shared: each work is taken by one drainer)
            await work

    drainers = [asyncio.ensure_future(drain()) for _ in range(at_once)]
    try:
        await asyncio.gather(*drainers)
    finally:  # one failed (or this was cancelled): the others stopped, what was not started closed, not left unawaited
        for drainer in drainers:
            drainer.cancel()
        await asyncio.gather(*drainers, return_exceptions=True)
        for work in pending:
            if isinstance(work, Coroutine):
                work.close()


async def _in_turn(items: Sequence[T], work: Callable[[T], Awaitable[object]]) -> None:
    for item in items:
        await work(item)


class Background:
    """Spawns tasks, keeps them referenced until done, logs what they raise."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

    def each(self, items: Sequence[T], work: Callable[[T], Awaitable[object]], *, name: str) -> None:
        """One task doing `work` on each of `items` in turn (a surface's due set drained: bot/store/surface_due.py);
        none for no items."""
        if items:
            self.spawn(_in_turn(items, work), name=name)

    def _done(self, task: asyncio.Task[Any]) -> None:
        self._tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("background task %s failed", task.get_name(), exc_info=task.exception())

    async def drain(self, grace: float = 5.0) -> None:
        """Wait for what is running (e.g. card updates) to finish, then cancel the rest."""
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=grace)
        left = list(self._tasks)
        for task in left:
            task.cancel()
        if left:  # a task that does not stop when cancelled cannot hold a worker's shutdown
            _, stuck = await asyncio.wait(left, timeout=grace)
            for task in stuck:
                log.warning("background task %s did not stop within %.0f s of being cancelled", task.get_name(), grace)


class RunsFirst:
    """After a decision, the run it woke goes first on this worker's event loop: the Slack work the decision set off
    for people (its card redrawn, the run's thread line and header) waits its `turn()` while the runs on their way
    when it asked (woken, not yet at their next step: their next card, or their end) go on, each at most `patience`
    seconds from when it set off. That work is put after, never dropped, and a turn never waits for runs woken after
    it asked: under a stream of decisions it still comes within `patience`. A model answering over the network
    leaves the loop free during a run's turn anyway; a turn that is all CPU (a scripted model, a tool run at once)
    no longer shares it with the redraws."""

    def __init__(self, patience: float = 0.05) -> None:
        self.patience = patience
        self._going: dict[str, float] = {}  # run id -> when its turn ends at the latest (monotonic)
        self._arrival: asyncio.Event | None = None  # set (and replaced) at each arrival, for who waits

    def going(self, run_id: str) -> None:
        """A decision woke `run_id` here: it goes first until `arrived`, or for `patience` seconds."""
        self._going[run_id] = time.monotonic() + self.patience

    def arrived(self, run_id: str) -> None:
        """`run_id` reached its next step (its card is posted, it was decided at once) or ended."""
        if self._going.pop(run_id, None) is not None and self._arrival is not None:
            self._arrival.set()
            self._arrival = None

    async def turn(self) -> None:
        """Return once the runs on their way now arrived, or their patience ran out."""
        now = time.monotonic()
        for run_id in [run_id for run_id, until in self._going.items() if until <= now]:
            del self._going[run_id]  # (never arrived: a run whose decision ended its waiting another way)
        if not self._going:
            return
        ahead, until = set(self._going), max(self._going.values())
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(until - now):
                while not ahead.isdisjoint(self._going):
                    if self._arrival is None:
                        self._arrival = asyncio.Event()
                    await self._arrival.wait()

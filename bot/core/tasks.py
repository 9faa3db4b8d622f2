"""Background tasks that outlive a request: kept referenced, their failures logged."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

log = logging.getLogger(__name__)


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


class Background:
    """Spawns tasks, keeps them referenced until done, logs what they raise."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Task[Any]] = set()

    def spawn(self, coro: Coroutine[Any, Any, Any], *, name: str | None = None) -> asyncio.Task[Any]:
        task = asyncio.create_task(coro, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._done)
        return task

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

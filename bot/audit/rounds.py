"""The audit log's background writers and watchers (checkpoints, the archive, the watcher) as one kind of loop: a round
in a task of its own every few seconds, each round taking the writer's lease itself; Redis down is said once a minute
(`store.outage`), any other failure logged and the loop goes on."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from bot.core.tasks import stop_task
from bot.store import Store, StoreUnavailable

log = logging.getLogger(__name__)


class Rounds:
    """`round()` every `every` seconds from `start` to `stop`. `failed(exc)` sees a failure first and returns True
    when it said it (else it is logged with its traceback)."""

    def __init__(self, name: str, round_: Callable[[], Awaitable[object]], *, store: Store, every: float,
                 failed: Callable[[Exception], bool] = lambda exc: False) -> None:
        self._name = name
        self._round = round_
        self._store = store
        self.every = every
        self._failed = failed
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self._name)

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self._round()
            except StoreUnavailable as exc:
                self._store.outage.failed(exc)  # one line, then one a minute (bot.core.logs.Outage)
            except Exception as exc:
                if not self._failed(exc):
                    log.exception("%s failed; going on", self._name)
            await asyncio.sleep(self.every)

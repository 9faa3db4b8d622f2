"""The audit log's background writers and watchers (checkpoints, the archive, the watcher, the SIEM stream) as one kind
of loop: a round in a task of its own every few seconds, each round taking its lease (held by `worker`) itself; Redis
down is said once a minute (`store.outage`), any other failure logged and the loop goes on."""

from __future__ import annotations

import asyncio
import logging
from abc import ABC, abstractmethod

from bot.core.tasks import stop_task
from bot.store import Store, StoreUnavailable

log = logging.getLogger(__name__)


class Rounds(ABC):
    """`round()` every `every` seconds from `start` to `stop`, in a task named `name`. `failed(exc)` sees a failure
    first and returns True when it said it (else it is logged with its traceback). Each of the audit log's loops is
    one (bot/services.py starts and stops them)."""

    def __init__(self, name: str, *, store: Store, worker: str, every: float) -> None:
        self._name = name
        self._store = store
        self._worker = worker  # who holds the lease while it does
        self.every = every
        self._task: asyncio.Task[None] | None = None

    @abstractmethod
    async def round(self) -> object:
        """One round: take (or keep) the lease, and do what is due."""

    def failed(self, exc: Exception) -> bool:
        """A round failed with `exc`: True when said here (by default it is not: logged with its traceback)."""
        return False

    async def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self._name)

    async def stop(self) -> None:
        await stop_task(self._task)
        self._task = None

    async def _loop(self) -> None:
        while True:
            try:
                await self.round()
            except StoreUnavailable as exc:
                self._store.outage.failed(exc)  # one line, then one a minute (bot.core.logs.Outage)
            except Exception as exc:
                if not self.failed(exc):
                    log.exception("%s failed; going on", self._name)
            await asyncio.sleep(self.every)

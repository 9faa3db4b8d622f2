"""Workers: heartbeats (who is alive), claims (one worker does something), and messages to a worker."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

from bot.core.version import __version__
from bot.store.connection import hold_of, unheld
from bot.store.shared import Repository
from bot.store.slots import is_tag

# the key layout a worker's heartbeat says it writes (bot/store/workspace_move.py)
TAGS_LAYOUT, ONE_TAG_LAYOUT = "tags", "one-tag"
log = logging.getLogger(__name__)


class Workers(Repository):
    async def beat(self, worker_id: str, *, ttl: float) -> None:
        """Renew the worker's heartbeat ("<time> <version> <layout>[ held]"), and measure Redis's clock against ours
        (see `Shared.click_window`). A worker writing one tag holds its commands (`Hold`) from the moment a move of
        the workspaces is under way, and for good once they moved: its names are not theirs any more."""
        hold = hold_of(self._s.redis)
        held = " held" if hold.quiet else ""
        sent = time.time()
        with unheld():
            seconds, micros, stored, moving = await self._s.script("beat")(
                keys={"heartbeat": self._k.heartbeat(worker_id), "format": self._k.format},
                args={"now": repr(sent), "says": f"{__version__} {self.layout}{held}", "ttl_ms": str(int(ttl * 1000))},
            )
        self._s.clock_offset = int(seconds) + int(micros) / 1e6 - (sent + time.time()) / 2
        if self.layout != ONE_TAG_LAYOUT:
            return
        hold_now = bool(moving) or (str(stored).isascii() and str(stored).isdigit() and int(stored) >= 3)
        if hold_now and not hold.held:
            log.warning("this Redis's workspaces are being moved to hash tags of their own (python -m bot store"
                        " move-workspaces): this worker's commands are held; restart it with"
                        " REDIS_WORKSPACE_TAGS=true once the move is done")
        elif hold.held and not hold_now:
            log.warning("the move of the workspaces was called off: this worker's commands go on")
        hold.held = hold_now
        if hold.quiet and not held:  # (said at once: the move waits for it)
            with unheld():
                await self._s.script("beat")(
                    keys={"heartbeat": self._k.heartbeat(worker_id), "format": self._k.format},
                    args={"now": repr(time.time()), "says": f"{__version__} {self.layout} held",
                          "ttl_ms": str(int(ttl * 1000))})

    @property
    def layout(self) -> str:
        """The key layout this worker writes: each workspace under a tag of its own, or the root's."""
        return TAGS_LAYOUT if self._k.sharded and is_tag(self._k.root) else ONE_TAG_LAYOUT

    async def beats(self) -> dict[str, str]:
        """Every live worker's heartbeat: {worker id: what it says ("<time> <version> <layout>"; a version before
        0.9: "<time>")}."""
        start = self._k.heartbeat("")
        found: dict[str, str] = {}
        async for key in self._s.redis.scan_iter(match=start + "*", count=1000):
            said = await self._s.redis.get(key)
            if said is not None:
                found[str(key)[len(start):]] = str(said)
        return found

    async def writable(self, worker_id: str) -> None:
        """Whether Redis takes a write now: one short-lived claim of this worker's (`{p}:claim:writable:<worker>`,
        2 s), as every write Redis refuses when full or unable to persist (`StoreWriteRefused`, after the log's
        line and the metric; `StoreUnavailable` when it cannot be reached). `/readyz` asks it."""
        await self._s.redis.set(self._k.claim(f"writable:{worker_id}"), "1", px=2000)

    async def drop(self, worker_id: str) -> None:
        """The worker stops: its heartbeat goes at once."""
        await self._s.redis.delete(self._k.heartbeat(worker_id))

    async def alive(self, worker_ids: Iterable[str]) -> dict[str, bool]:
        ids = list(dict.fromkeys(worker_ids))
        async with self._s.redis.pipeline(transaction=False) as pipe:
            for worker_id in ids:
                pipe.exists(self._k.heartbeat(worker_id))
            found = await pipe.execute()
        return {worker_id: bool(alive) for worker_id, alive in zip(ids, found, strict=True)}

    async def claim(self, what: str, worker_id: str, *, seconds: int) -> bool:
        """One worker (or person) does `what` (for `seconds`): True for the first to ask."""
        return await self.first(self._k.claim(what), worker_id, seconds=seconds) is None

    async def first(self, key: str, value: str, *, seconds: int) -> str | None:
        """The one do-once-by-key step: None for the first to claim `key` (it now holds `value` for `seconds`);
        for any later one, what the key holds (`value` of the first, or what it noted with `note`)."""
        if await self._s.redis.set(key, value, nx=True, ex=seconds):
            return None
        seen = await self._s.redis.get(key)
        return str(seen) if seen is not None else value

    async def note(self, key: str, value: str) -> None:
        """What the first to claim `key` did, for the later ones (its lifetime kept)."""
        await self._s.redis.set(key, value, xx=True, keepttl=True)

    async def publish(self, worker_id: str, message: Mapping[str, Any]) -> int:
        """A message to one worker's subscription (its channel in this store's tenant's slot, sharded); how many heard
        it."""
        channel, told = self._s.worker_channel(worker_id), json.dumps(message)
        # "SPUBLISH": sharded pub/sub (`Store.use_sharded`); a command, as redis-py's asyncio Cluster has neither method
        return int(await self._s.redis.execute_command(self._s.publish, channel, told))  # type: ignore[no-untyped-call]

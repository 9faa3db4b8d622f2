"""The Redis-wide stored format (`{p}:format`, docs/operators/upgrades.md): which format of records the Redis holds,
kept by each worker at its start (`StoredFormat.keep`, one Lua step, `lua/stored_format.lua`).

A worker knows the formats up to `FORMAT`. None stored is format 1 (every Redis from before the key: the same
records, read as they are). A Redis of an older format is upgraded in place: each step of `UPGRADES` from it to
`FORMAT`, then the key. One of a newer format is refused (`NewerFormat`): a worker must not write records a newer
version reads differently; the newer version writes the old format until the version before it is gone (the
compatibility rule), so a rolling upgrade never meets this.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from bot.store.connection import REDIS_DOWN, StoreUnavailable
from bot.store.shared import Repository, Shared

FORMAT = 2  # 1: before `{p}:format`; 2: the same records, the format kept in `{p}:format`


async def _nothing_to_rewrite(shared: Shared) -> None:
    """1 -> 2: the records are read as they are (every change of them added fields with defaults)."""


# the step that upgrades a Redis of format n to n + 1, in place, before the key says n + 1
UPGRADES: dict[int, Callable[[Shared], Awaitable[None]]] = {1: _nothing_to_rewrite}


class NewerFormat(Exception):
    """The Redis holds a stored format newer than this worker knows: it must not start on it."""

    def __init__(self, stored: str) -> None:
        number = stored.isascii() and stored.isdigit()
        said = (f"holds stored format {stored}, newer than this worker knows (up to {FORMAT})" if number
                else f"says its stored format is {stored!r}, none this worker knows (up to {FORMAT})")
        super().__init__(f"this Redis {said}: a newer version of the bot has upgraded it (docs/operators/upgrades.md);"
                         " start that version instead, or point REDIS_URL and REDIS_KEY_PREFIX at another Redis")
        self.stored = stored


class StoredFormat(Repository):
    """`{p}:format`: {format, by (the version that wrote it), at}."""

    async def stored(self) -> int:
        """The format this Redis holds (1 when no worker has said one); `NewerFormat` for one that is no number
        this worker knows; `StoreUnavailable` when Redis cannot be reached."""
        try:
            value = await self._s.redis.hget(self._s.keys.format, "format")  # type: ignore[misc]
        except REDIS_DOWN as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        if value is None:
            return 1
        text = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
        if not (text.isascii() and text.isdigit()):
            raise NewerFormat(text[:20])
        return int(text)

    async def keep(self, *, version: str) -> tuple[int, int]:
        """Check the stored format at a worker's start and upgrade an older one in place. Returns (the format
        before, the format now). Raises `NewerFormat` for a Redis of a format newer than `FORMAT`."""
        before = await self.stored()
        if before > FORMAT:
            raise NewerFormat(str(before))
        for step in range(before, FORMAT):
            await UPGRADES[step](self._s)
        try:
            status, was = await self._s.script("stored_format")(
                keys={"format": self._s.keys.format},
                args={"known": str(FORMAT), "version": version, "now": repr(time.time())},
            )
        except REDIS_DOWN as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        if status == "newer":  # (upgraded by a newer worker meanwhile)
            raise NewerFormat(str(was))
        return int(was), FORMAT

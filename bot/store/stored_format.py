"""The Redis-wide stored format (`{p}:format`, docs/operators/upgrades.md): which format of records the Redis holds,
kept by each worker at its start (`StoredFormat.keep`, one Lua step, `lua/stored_format.lua`).

A worker knows the formats up to `FORMAT`. None stored is format 1 (every Redis from before the key: the same
records, read as they are). A Redis of an older format is upgraded in place: each step of `UPGRADES` from it to
`FORMAT`, then the key. One of a newer format is refused (`NewerFormat`): a worker must not write records a newer
version reads differently; the newer version writes the old format until the version before it is gone (the
compatibility rule), so a rolling upgrade never meets this.

Format 3 is a layout, not a rewrite a start may do (issue 89): each workspace's keys under a hash tag of its own
(REDIS_WORKSPACE_TAGS, `Keys(sharded=True)`). Only `python -m bot store move-workspaces` (bot/store/workspace_move.py)
takes a store holding workspaces from 2 to 3; a worker starting with the setting on a store that holds none writes 3
itself (a new cluster: nothing to move). The setting and the store never disagree silently: a worker whose setting
says one layout and whose store holds the other refuses to start (`LayoutDisagrees`), as does one starting while a
move is under way (`{p}:format`'s `moving`). A worker of a release before (format 2 at most) refuses format 3 as a
newer one (`NewerFormat`): it would write a moved workspace's keys under the old names.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable

from bot.store.connection import REDIS_DOWN, StoreUnavailable
from bot.store.shared import Repository, Shared
from bot.store.slots import is_tag

# 1: before `{p}:format`; 2: the same records, the format kept in `{p}:format`; 3: each workspace's keys under a
# hash tag of its own (moved by `python -m bot store move-workspaces`)
FORMAT = 3
ONE_TAG = 2  # the newest format of a store whose workspaces share the root's tag: what a start upgrades to
WORKSPACE_TAGS = 3  # the format of a store whose workspaces have tags of their own


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


class LayoutDisagrees(Exception):
    """The worker's REDIS_WORKSPACE_TAGS and the store's layout disagree, or a move of the workspaces is under way: it
    must not start (it would write a workspace's keys under names its other workers do not read)."""


def _text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


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
        text = _text(value)
        if not (text.isascii() and text.isdigit()):
            raise NewerFormat(text[:20])
        return int(text)

    async def moving(self) -> str | None:
        """Who started the move of the workspaces under way and when ("<who> <at>"), None when none is."""
        value = await self._s.redis.hget(self._k.format, "moving")  # type: ignore[misc]
        return None if value is None else _text(value)

    async def keep(self, *, version: str) -> tuple[int, int]:
        """Check the stored format at a worker's start and upgrade an older one in place (to `ONE_TAG`, or with
        workspace tags on a store that holds no workspace's keys yet, to `WORKSPACE_TAGS`). Returns (the format
        before, the format now). Raises `NewerFormat` for a Redis of a format newer than `FORMAT`, `LayoutDisagrees`
        when this store's layout (REDIS_WORKSPACE_TAGS) is not the Redis's or a move is under way."""
        before = await self.stored()
        if before > FORMAT:
            raise NewerFormat(str(before))
        tags = self._k.sharded and is_tag(self._k.root)
        try:
            target = await self._target(before, tags=tags)
        except REDIS_DOWN as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        for step in range(before, min(target, ONE_TAG)):
            await UPGRADES[step](self._s)
        try:
            status, was = await self._s.script("stored_format")(
                keys={"format": self._s.keys.format},
                args={"known": str(target), "version": version, "now": repr(time.time())},
            )
        except REDIS_DOWN as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        if status == "newer":  # (upgraded by a newer worker meanwhile, or moved to workspace tags)
            if int(was) <= FORMAT:
                raise LayoutDisagrees(_said_tags_off())
            raise NewerFormat(str(was))
        return int(was), target

    async def _target(self, before: int, *, tags: bool) -> int:
        """The format a start may keep: `ONE_TAG`, or `WORKSPACE_TAGS` with the setting on a store that holds it or
        holds no workspace's keys under the root's tag; else `LayoutDisagrees`."""
        moving = await self.moving()
        if moving is not None:
            raise LayoutDisagrees(f"this Redis's workspaces are being moved to hash tags of their own (started by"
                                  f" {moving[:80]}): start the workers with REDIS_WORKSPACE_TAGS=true once"
                                  " `python -m bot store move-workspaces` says it is done (docs/operators/upgrades.md)")
        if not tags:
            if before >= WORKSPACE_TAGS:
                raise LayoutDisagrees(_said_tags_off())
            return ONE_TAG
        if before >= WORKSPACE_TAGS:
            return WORKSPACE_TAGS
        async for _ in self._s.redis.scan_iter(match=f"{self._k.root}:ws:*", count=1000):
            raise LayoutDisagrees(
                "REDIS_WORKSPACE_TAGS is on but this Redis holds its workspaces' keys under one hash tag"
                f" ({self._k.root}): stop the workers, run `python -m bot store move-workspaces`, then start them"
                " with the setting (docs/operators/upgrades.md); or start them without it")
        return WORKSPACE_TAGS


def _said_tags_off() -> str:
    return ("this Redis holds each workspace's keys under a hash tag of its own (moved by `python -m bot store"
            " move-workspaces`, stored format 3): start the worker with REDIS_WORKSPACE_TAGS=true"
            " (docs/operators/upgrades.md)")

"""What a person's App Home shows, read from Redis: the approvals waiting, their runs, what they decided.

Every approval opened, voted on or decided bumps one counter (`changes`, in the same Lua step); the
approval notes the value (`ApprovalRecord.version`). A Home notes the counter it was drawn at (`seen`),
so a redraw for an approval whose version the Home has seen is skipped: a batch of decisions redraws
each person's Home once, not once per decision.

An admin's Home also shows their channels' headline numbers, cached per channel (`headline:<channel>`,
60 s), computed by one worker at a time (a claim), for the Homes that wait for them (`bot/report/headline_cache.py`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.records import ApprovalRecord, RunRecord
from bot.store.approvals import Approvals
from bot.store.codec import readable_approval
from bot.store.connection import aw
from bot.store.keys import HEADLINE_SECONDS, HEADLINE_WAIT_SECONDS
from bot.store.runs import Runs
from bot.store.shared import Shared

VIEWERS_KEPT_SECONDS = 30 * 24 * 3600
RECENT_SHOWN = 10
RUNS_SHOWN = 10


@dataclass(frozen=True, slots=True)
class HomeState:
    """What one person's Home is drawn from (`pending` without their long texts: see `Homes.full`)."""

    changes: int  # the change counter, read before everything else here
    seen: int  # the counter the Home shown now was drawn at (0: never drawn)
    hash: str  # Slack's hash of the Home shown now ("" when unknown)
    page: int  # which page of the waiting approvals the person chose (0: the oldest)
    pending: list[ApprovalRecord]  # without their long texts (`Approvals.get_many` reads them)
    runs: list[RunRecord]
    recent: list[ApprovalRecord]


class Homes:
    def __init__(self, shared: Shared, approvals: Approvals, runs: Runs) -> None:
        self._s = shared
        self._k = shared.keys
        self._approvals = approvals
        self._runs = runs

    async def changes(self) -> int:
        return int(await self._s.redis.get(self._k.changes) or 0)

    async def seen(self, user: str) -> int:
        return int(await aw(self._s.redis.hget(self._k.home(user), "seen")) or 0)

    async def state(self, user: str) -> HomeState:
        """Everything `user`'s Home shows. The counter is read first, in one transaction with the ids,
        so what is read after it is at least that new."""
        k = self._k
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.get(k.changes)
            pipe.hgetall(k.home(user))
            pipe.zrange(k.deadlines, 0, -1)
            pipe.zrange(k.waiting, 0, -1)
            pipe.lrange(k.decided_by(user), 0, RECENT_SHOWN - 1)
            pipe.zrevrange(k.user_index(user), 0, RUNS_SHOWN - 1)
            changes, home, timed, waiting, recent_ids, run_ids = await pipe.execute()
        # pending approvals: those that time out, and every one opened since the waiting index exists
        pending_ids = list(dict.fromkeys([*timed, *(str(member).partition("/")[2] for member in waiting)]))
        async with self._s.redis.pipeline(transaction=False) as pipe:
            for approval_id in pending_ids:
                pipe.hgetall(k.approval(approval_id))
            replies = await pipe.execute()
        pending = [readable_approval(raw, None) for raw in replies if raw]  # without their long texts
        return HomeState(
            changes=int(changes or 0),
            seen=int(home.get("seen") or 0),
            hash=str(home.get("hash") or ""),
            page=int(home.get("page") or 0),
            pending=[a for a in pending if a is not None and a.pending],
            runs=await self._runs.get_many(run_ids),
            recent=await self._approvals.get_many(recent_ids),
        )

    async def drawn(self, user: str, *, seen: int, view_hash: str) -> None:
        """`user`'s Home now shows the state at counter `seen`, and Slack gave it `view_hash`."""
        await aw(self._s.redis.hset(self._k.home(user), mapping={"seen": seen, "hash": view_hash}))

    async def set_page(self, user: str, page: int) -> None:
        await aw(self._s.redis.hset(self._k.home(user), "page", str(page)))

    async def opened(self, user: str, *, now: float) -> None:
        """`user` opened their Home: they are shown approvals open to anyone from now on."""
        async with self._s.redis.pipeline(transaction=False) as pipe:
            pipe.zadd(self._k.home_viewers, {user: now})
            pipe.zremrangebyscore(self._k.home_viewers, "-inf", now - VIEWERS_KEPT_SECONDS)
            await pipe.execute()

    async def viewers(self) -> list[str]:
        """People who opened their Home in the last 30 days."""
        return [str(u) for u in await self._s.redis.zrange(self._k.home_viewers, 0, -1)]

    async def save_batch(self, token: str, batch: dict[str, Any], *, seconds: int) -> None:
        """A batch decision a person is asked to confirm (`token` is in the confirmation's metadata)."""
        await self._s.redis.set(self._k.batch(token), json.dumps(batch), ex=seconds)

    async def take_batch(self, token: str) -> dict[str, Any] | None:
        """The batch to decide, once: a second submission of the same confirmation finds nothing."""
        raw = await self._s.redis.getdel(self._k.batch(token))
        found = json.loads(raw) if raw else None
        return found if isinstance(found, dict) else None

    async def lock(self, user: str, holder: str, *, seconds: float) -> bool:
        """Only one worker draws a person's Home at a time (for at most `seconds`)."""
        key = self._k.claim(f"home:{user}")
        return bool(await self._s.redis.set(key, holder, nx=True, px=int(seconds * 1000)))

    async def unlock(self, user: str, holder: str) -> None:
        await self._s.script("release")(keys={"claim": self._k.claim(f"home:{user}")}, args={"holder": holder})

    async def holds(self, user: str, holder: str) -> bool:
        return bool(await self._s.redis.get(self._k.claim(f"home:{user}")) == holder)

    # the admins' channels: cached headline numbers --------------------------------------------
    async def headlines(self, channels: Sequence[str]) -> dict[str, str]:
        """The cached headline numbers (JSON) of those of `channels` that have them: one command."""
        if not channels:
            return {}
        found = await self._s.redis.mget([self._k.headline(c) for c in channels])
        return {channel: str(raw) for channel, raw in zip(channels, found, strict=True) if raw}

    async def save_headline(self, channel: str, raw: str, *, seconds: int = HEADLINE_SECONDS) -> None:
        await self._s.redis.set(self._k.headline(channel), raw, ex=seconds)

    async def wait_for_headline(self, channel: str, user: str) -> None:
        """`user`'s Home shows `channel` without its numbers: redraw it once they are computed."""
        key = self._k.headline_waiting(channel)
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.sadd(key, user)
            pipe.expire(key, HEADLINE_WAIT_SECONDS)
            await pipe.execute()

    async def take_headline_waiting(self, channel: str) -> list[str]:
        """Who waits for `channel`'s numbers (once: the set is emptied in the same step)."""
        key = self._k.headline_waiting(channel)
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.smembers(key)
            pipe.delete(key)
            members, _ = await pipe.execute()
        return sorted(str(m) for m in members)

    async def claim_headline(self, channel: str, holder: str, *, seconds: float) -> bool:
        """Only one worker computes a channel's numbers at a time (for at most `seconds`)."""
        key = self._k.claim(f"headline:{channel}")
        return bool(await self._s.redis.set(key, holder, nx=True, px=int(seconds * 1000)))

    async def release_headline(self, channel: str, holder: str) -> None:
        await self._s.script("release")(keys={"claim": self._k.claim(f"headline:{channel}")}, args={"holder": holder})

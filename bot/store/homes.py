"""What a person's App Home shows, read from Redis: the approvals waiting, their runs, what they decided.

Every approval opened, voted on or decided bumps one counter (`changes`, in the same Lua step); the
approval notes the value (`ApprovalRecord.version`). A Home notes the counter it was drawn at (`seen`),
so a redraw for an approval whose version the Home has seen is skipped: a batch of decisions redraws
each person's Home once, not once per decision.

What waits for a person is read from the Home indexes (`waits:*`, kept by the Lua steps that open,
vote on, decide and escalate approvals: `lua/lib/homes.lua`), a page at a time (`waiting_page`,
`lua/home_page.lua`): a draw reads its page and the counts, never the backlog. Approvals opened before
the indexes existed are indexed once (`ensure_index`). Each draw notes the ids its page shows, and
each of them whose Homes show it (`home_shown:<id>`, `shown_by`).

An admin's Home also shows their channels' headline numbers, cached per channel (`headline:<channel>`,
60 s), computed by one worker at a time (a claim), for the Homes that wait for them (`bot/report/headline_cache.py`).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from bot.core.records import ApprovalRecord, RunRecord
from bot.store.approvals import Approvals
from bot.store.connection import aw
from bot.store.keys import HEADLINE_SECONDS, HEADLINE_WAIT_SECONDS
from bot.store.runs import Runs
from bot.store.shared import Shared

VIEWERS_KEPT_SECONDS = 30 * 24 * 3600
RECENT_SHOWN = 10
RUNS_SHOWN = 10
SHOWN_KEPT_SECONDS = VIEWERS_KEPT_SECONDS  # `home_shown:<id>`: as long as a Home is kept current
URGENT_READ = 100  # the approvals breached or at risk every Home lists first, at most (the oldest of them)
INDEX_BATCH = 500  # approvals indexed per step by the one-off rebuild
INDEX_CLAIM_SECONDS = 60.0
INDEX_WAIT_SECONDS = 30.0  # a draw waits this long at most for another worker's rebuild
INDEX_POLL = 0.05
PAGE_SIZE = 10  # approvals a Home's page shows (bot/slack/blocks/home.py's HOME_PAGE_SIZE)


@dataclass(frozen=True, slots=True)
class HomeState:
    """What one person's Home is drawn from, but the approvals waiting (read a page at a time:
    `Homes.waiting_page`)."""

    changes: int  # the change counter, read before everything else here
    seen: int  # the counter the Home shown now was drawn at (0: never drawn)
    hash: str  # Slack's hash of the Home shown now ("" when unknown)
    page: int  # which page of the waiting approvals the person chose (0: the oldest)
    groups: frozenset[str]  # the user groups some pending approval names (whose members to check)
    runs: list[RunRecord]
    recent: list[ApprovalRecord]


@dataclass(frozen=True, slots=True)
class WaitingPage:
    """One page of the approvals waiting for a person (ids, oldest first) and how many in all."""

    total: int
    ids: list[str]
    read: tuple[str, ...] = ()  # the index keys read for it (but the anyone index)


class Homes:
    def __init__(self, shared: Shared, approvals: Approvals, runs: Runs) -> None:
        self._s = shared
        self._k = shared.keys
        self._approvals = approvals
        self._runs = runs
        self._indexed = False  # the Home indexes are known built (`ensure_index`)

    async def changes(self) -> int:
        return int(await self._s.redis.get(self._k.changes) or 0)

    async def seen(self, user: str) -> int:
        return int(await aw(self._s.redis.hget(self._k.home(user), "seen")) or 0)

    async def state(self, user: str) -> HomeState:
        """What `user`'s Home shows but its waiting approvals. The counter is read first, in one
        transaction with the rest, so what is read after it (the page) is at least that new."""
        k = self._k
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.get(k.changes)
            pipe.hgetall(k.home(user))
            pipe.smembers(k.waits_groups)
            pipe.lrange(k.decided_by(user), 0, RECENT_SHOWN - 1)
            pipe.zrevrange(k.user_index(user), 0, RUNS_SHOWN - 1)
            changes, home, groups, recent_ids, run_ids = await pipe.execute()
        return HomeState(
            changes=int(changes or 0),
            seen=int(home.get("seen") or 0),
            hash=str(home.get("hash") or ""),
            page=int(home.get("page") or 0),
            groups=frozenset(str(g) for g in groups),
            runs=await self._runs.get_many(run_ids),
            recent=await self._approvals.get_many(recent_ids),
        )

    async def waiting_page(
        self,
        user: str,
        *,
        groups: Sequence[str],
        principals: Mapping[str, Sequence[str]],
        offset: int,
        count: int,
    ) -> WaitingPage:
        """The ids of the approvals waiting for `user` at `offset` (at most `count`: those breached, then at
        risk, first, `sla:urgent`; then oldest first: by request time, then id) and how many in all, from the
        Home indexes in one step: those naming them or one of `groups` (the user groups they are in), or anyone;
        and, decided for them, those waiting for each of `principals` (people away who delegated to `user`: {who:
        their groups}). Never their own requests (without self-approval) nor a quorum that counts them already; as
        `ApprovalRecord.may_decide` and `may_decide_for`, which the caller still applies to the page."""
        await self.ensure_index()
        k = self._k
        indexes: list[str] = []

        def at(key: str) -> int:
            indexes.append(key)
            return len(indexes)  # (Lua counts from 1)

        own_except = at(k.waits_except(user))
        proxied = at(k.waits_proxied(user))
        paths = [
            {
                "sources": [at(k.waits_user(user)), *(at(k.waits_group(g)) for g in sorted(groups))],
                "except": [own_except],
            }
        ]
        for principal, their_groups in sorted(principals.items()):
            sources = [at(k.waits_user(principal)), *(at(k.waits_group(g)) for g in sorted(their_groups))]
            paths.append({"sources": sources, "except": [at(k.waits_except(principal)), own_except, proxied]})
        scratch = k.scratch(f"home-page:{user}:{secrets.token_hex(4)}")
        total, ids = await self._s.script("home_page")(
            keys={"anyone": k.waits_anyone, "scratch": scratch, "scratch2": scratch + ":2", "indexes": indexes},
            args={"paths": paths, "offset": max(0, offset), "count": max(0, count), "first": await self._urgent()},
        )
        return WaitingPage(total=int(total), ids=[str(i) for i in ids or []], read=tuple(indexes))

    async def _urgent(self) -> list[str]:
        """The pending approvals breached (first) or at risk, oldest first (`sla:urgent`, at most `URGENT_READ`),
        which every Home lists before the rest; the decided ones read leave it."""
        ids = [str(i) for i in await self._s.redis.zrange(self._k.sla_urgent, 0, URGENT_READ - 1)]
        if not ids:
            return []
        async with self._s.redis.pipeline(transaction=False) as pipe:
            for approval_id in ids:
                pipe.hget(self._k.approval(approval_id), "status")
            statuses = await pipe.execute()
        gone = [i for i, status in zip(ids, statuses, strict=True) if status != "pending"]
        if gone:
            await self._s.redis.zrem(self._k.sla_urgent, *gone)
        return [i for i in ids if i not in gone]

    async def forget(self, page: WaitingPage, ids: Sequence[str]) -> int:
        """Take out of the Home indexes those of `ids` (read on `page`) that are decided or gone, yet
        listed: decided by a worker older than the indexes, during an upgrade (a pending one stays).
        Returns how many."""
        if not ids:
            return 0
        k = self._k
        return int(
            await self._s.script("index_forget")(
                keys={"changes": k.changes, "keys": [*(k.approval(i) for i in ids), k.waits_anyone, *page.read]},
                args={"ids": list(ids)},
            )
        )

    async def pending_groups(self) -> list[str]:
        """The user groups some pending approval names (sorted)."""
        return sorted(str(g) for g in await aw(self._s.redis.smembers(self._k.waits_groups)))

    # the indexes of approvals opened before they existed ------------------------------------------
    async def ensure_index(self) -> None:
        """Build the Home indexes of approvals opened before they existed, once per Redis (noted in
        `migrated:home-index`; one worker at a time, under a claim; a draw meanwhile waits for it, at
        most `INDEX_WAIT_SECONDS`). Costs nothing once this process has seen it done."""
        if self._indexed:
            return
        k = self._k
        done = k.migrated("home-index")
        deadline = time.monotonic() + INDEX_WAIT_SECONDS
        holder = secrets.token_hex(8)
        claim = k.claim("home-index")
        while not await self._s.redis.exists(done):
            if await self._s.redis.set(claim, holder, nx=True, px=int(INDEX_CLAIM_SECONDS * 1000)):
                try:
                    await self.rebuild_index()
                    await self._s.redis.set(done, repr(time.time()))
                finally:
                    await self._s.script("release")(keys={"claim": claim}, args={"holder": holder})
                break
            if time.monotonic() > deadline:
                return  # (drawn with what is indexed; the next draw looks again)
            await asyncio.sleep(INDEX_POLL)  # another worker is building them
        self._indexed = True

    async def rebuild_index(self) -> int:
        """List every pending approval (the `deadlines` and `waiting` indexes) in the Home indexes,
        `INDEX_BATCH` per step; safe beside any other step and to run again. Returns how many."""
        k = self._k
        async with self._s.redis.pipeline(transaction=False) as pipe:
            pipe.zrange(k.deadlines, 0, -1)
            pipe.zrange(k.waiting, 0, -1)
            timed, waiting = await pipe.execute()
        ids = list(dict.fromkeys([*map(str, timed), *(str(member).partition("/")[2] for member in waiting)]))
        count = 0
        for start in range(0, len(ids), INDEX_BATCH):
            batch = ids[start : start + INDEX_BATCH]
            count += int(
                await self._s.script("index_rebuild")(
                    keys={"changes": k.changes, "approvals": [k.approval(i) for i in batch]}, args={"ids": batch}
                )
            )
        return count

    # what each Home shows -------------------------------------------------------------------
    async def drawn(
        self,
        user: str,
        *,
        seen: int,
        view_hash: str,
        shown: Sequence[str] = (),
        page: int = 0,
        page_size: int = PAGE_SIZE,
    ) -> bool:
        """`user`'s Home now shows the state at counter `seen`, and Slack gave it `view_hash`; its
        page `page` shows the approvals `shown` (noted for `shown_by`, in the same step). A page that
        shows fewer than `page_size` has room (`with_room`). A change made since the draw read Redis
        may have marked the Homes it shows in before this note (so not this one): when one of `shown`
        changed since `seen`, or the page gains room and anything changed since, the Home is due again
        (`homes:due`, gathered as any change). Returns True when it is."""
        k = self._k
        again = await self._s.script("home_drawn")(
            keys={
                "home": k.home(user),
                "room": k.home_room,
                "changes": k.changes,
                "due": k.home_due,
                "since": k.home_due_since,
                "viewers": k.home_viewers,
                "approvals": [k.approval(i) for i in shown],
            },
            args={
                "user": user,
                "seen": str(seen),
                "hash": view_hash,
                "page": str(page),
                "shown": list(shown),
                "shown_prefix": self._k.home_shown(""),
                "seconds": str(SHOWN_KEPT_SECONDS),
                "page_size": str(page_size),
            },
        )
        return str(again) == "again"

    async def shown(self, user: str) -> tuple[int, list[str]]:
        """The page `user`'s Home was last drawn with, and the approvals it shows."""
        page, ids = await aw(self._s.redis.hmget(self._k.home(user), ["shown_page", "shown"]))
        return int(page or 0), [i for i in str(ids or "").split(",") if i]

    async def shown_by(self, approval_id: str) -> set[str]:
        """Whose Homes show `approval_id` on the page they were last drawn with."""
        return {str(u) for u in await aw(self._s.redis.smembers(self._k.home_shown(approval_id)))}

    async def with_room(self, users: Sequence[str] | None = None) -> set[str]:
        """Those of `users` (None: everyone) whose Home's page, as last drawn, showed fewer approvals than
        a page holds: one opened for them now would show on it (a full page's would not: only its count)."""
        if users is None:
            return {str(u) for u in await aw(self._s.redis.smembers(self._k.home_room))}
        ordered = sorted(set(users))
        if not ordered:
            return set()
        found = await aw(self._s.redis.smismember(self._k.home_room, ordered))
        return {user for user, member in zip(ordered, found, strict=True) if member}

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

"""People away (`/agent away`): until when, and who decides for them meanwhile.

`away:<user>` holds a person's state and expires at its end; `delegates:<delegate>` lists who
delegated to a person, with until when, so that a click reads in one command for whom its person
may also decide (read entries are checked against the time: an ended one counts for nothing).
"""

from __future__ import annotations

from collections.abc import Iterable

from bot.core.records import AwayState
from bot.store.audit import AuditLog
from bot.store.connection import aw
from bot.store.shared import Shared

MAX_AWAY_SECONDS = 90 * 86400


class Away:
    def __init__(self, shared: Shared, audit: AuditLog) -> None:
        self._s = shared
        self._k = shared.keys
        self._audit = audit

    async def get(self, user: str, *, now: float) -> AwayState | None:
        return (await self.many([user], now=now)).get(user)

    async def many(self, users: Iterable[str], *, now: float) -> dict[str, AwayState]:
        """The people of `users` away at `now`."""
        people = list(dict.fromkeys(users))
        async with self._s.redis.pipeline(transaction=False) as pipe:
            for user in people:
                pipe.hgetall(self._k.away(user))
            replies = await pipe.execute()
        found: dict[str, AwayState] = {}
        for user, raw in zip(people, replies, strict=True):
            try:
                state = AwayState(user, float(raw["until"]), str(raw.get("delegate") or ""), float(raw["since"]))
            except (KeyError, ValueError):
                continue
            if state.until > now:
                found[user] = state
        return found

    async def principals(self, delegate: str, *, now: float) -> list[str]:
        """Who is away now and delegated to `delegate` (sorted)."""
        raw = await aw(self._s.redis.hgetall(self._k.delegates(delegate)))
        live = []
        for user, until in raw.items():
            try:
                if float(until) > now:
                    live.append(str(user))
            except ValueError:
                continue
        if not live:
            return []
        # the person's own state says whether this delegation still stands (it may have changed)
        states = await self.many(live, now=now)
        return sorted(u for u, state in states.items() if state.delegate == delegate)

    async def set(self, user: str, *, until: float, delegate: str, now: float) -> AwayState | None:
        """`user` is away until `until`, `delegate` ("" for nobody) deciding for them. Audited.
        Returns the state it replaces."""
        before = await self.get(user, now=now)
        k = self._k
        async with self._s.redis.pipeline(transaction=True) as pipe:
            if before is not None and before.delegate:
                pipe.hdel(k.delegates(before.delegate), user)
            pipe.delete(k.away(user))
            pipe.hset(k.away(user), mapping={"until": repr(until), "delegate": delegate, "since": repr(now)})
            pipe.expireat(k.away(user), int(until) + 1)
            if delegate:
                pipe.hset(k.delegates(delegate), user, repr(until))
                pipe.expire(k.delegates(delegate), MAX_AWAY_SECONDS + 86400)
            await pipe.execute()
        await self._audit.append("away", by=user, until=repr(until), delegate=delegate)
        return before

    async def clear(self, user: str, *, now: float) -> AwayState | None:
        """`user` is back. Audited when they were away. Returns the state it ends."""
        before = await self.get(user, now=now)
        async with self._s.redis.pipeline(transaction=True) as pipe:
            if before is not None and before.delegate:
                pipe.hdel(self._k.delegates(before.delegate), user)
            pipe.delete(self._k.away(user))
            await pipe.execute()
        if before is not None:
            await self._audit.append("away_ended", by=user, delegate=before.delegate)
        return before

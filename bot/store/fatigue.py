"""Fatigue (issue 80): the cards each person got this hour, per workspace (`Keys.asks`), read before an approval is
routed (a person over the channel's `max_asks_per_hour` gets no new one: bot/approvals/fatigue.py) and counted once it
is delivered; read at each scrape for `hitl_cards_per_hour{person}`. And the approvals held for the next hour's budget
(`Keys.fatigue_held`, every approver being over it: "<person> <approval>" by that hour), due work of the nudger (the
due index's kind `nudges`), taken for a lease as reminders are (lua/claim_due.lua) and let go once sent. And the
triage model's calls this hour (`Keys.triage_calls`, TRIAGE_BUDGET: bot/approvals/triage.py), per workspace too."""

from __future__ import annotations

import time
from collections.abc import Sequence

from bot.store.connection import aw
from bot.store.due import DueWork
from bot.store.shared import Shared

HOUR = 3600
KEPT_SECONDS = 2 * HOUR  # an hour's counts outlive it a little (a scrape at the turn of the hour)
HELD_LEASE_SECONDS = 30.0  # a worker that took held approvals and died: they are due again this much later


def hour_of(now: float) -> int:
    """The hour `now` is in (epoch seconds // 3600)."""
    return int(now // HOUR)


class Fatigue:
    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self._k = shared.keys
        self._due = DueWork(shared)

    async def counts(self, people: Sequence[str], *, now: float | None = None) -> dict[str, int]:
        """How many cards each of `people` got in the hour of `now` (default: now)."""
        if not people:
            return {}
        found = await aw(self._s.redis.hmget(self._k.asks(hour_of(time.time() if now is None else now)), list(people)))
        return {person: int(count or 0) for person, count in zip(people, found, strict=True)}

    async def delivered(self, people: Sequence[str], *, now: float | None = None, cards: int = 1) -> None:
        """`cards` more cards (default one) for each of `people` in the hour of `now` (default: now)."""
        if not people:
            return
        key = self._k.asks(hour_of(time.time() if now is None else now))
        async with self._s.redis.pipeline(transaction=False) as pipe:
            for person in people:
                pipe.hincrby(key, person, cards)
            pipe.expire(key, KEPT_SECONDS)
            await pipe.execute()

    async def model_call(self, *, budget: int, now: float | None = None) -> bool:
        """One more call of the triage model in the hour of `now` (default: now): whether it is within `budget` calls
        an hour (counted even when not: a call refused is one asked for)."""
        key = self._k.triage_calls(hour_of(time.time() if now is None else now))
        async with self._s.redis.pipeline(transaction=False) as pipe:
            pipe.incr(key)
            pipe.expire(key, KEPT_SECONDS)
            count, _ = await pipe.execute()
        return int(count) <= budget

    async def this_hour(self, *, now: float | None = None) -> dict[str, int]:
        """Every person's cards in the hour of `now` (default: now)."""
        found = await aw(self._s.redis.hgetall(self._k.asks(hour_of(time.time() if now is None else now))))
        return {str(person): int(count) for person, count in found.items()}

    async def hold(self, approval_id: str, people: Sequence[str], *, until: float) -> None:
        """Approval `approval_id` held for each of `people` until `until` (the next hour), noted as due work."""
        if not people:
            return
        await self._s.redis.zadd(self._k.fatigue_held, {f"{person} {approval_id}": until for person in people})
        await self._due.note()

    async def take_held(self, now: float, *, limit: int = 500,
                        lease: float = HELD_LEASE_SECONDS) -> list[tuple[str, str]]:
        """The (person, approval) held until `now` or before, taken by this worker for `lease` seconds from the
        moment of the claim (another takes none of them meanwhile; one that dies leaves them due again)."""
        claimed = await self._s.script("claim_due")(
            keys={"deadlines": self._k.fatigue_held},
            args={"now": repr(now), "lease_end": repr(max(now, time.time()) + lease), "limit": str(limit)},
        )
        taken = [str(member).partition(" ") for member in claimed]
        return [(person, approval) for person, _, approval in taken if person and approval]

    async def let_go(self, held: Sequence[tuple[str, str]]) -> None:
        """Held approvals sent (or decided meanwhile): no longer held."""
        if held:
            await self._s.redis.zrem(self._k.fatigue_held, *(f"{person} {approval}" for person, approval in held))

    async def next_held(self) -> float | None:
        """When the next held approvals are due to be sent (None: none are held)."""
        first = await self._s.redis.zrange(self._k.fatigue_held, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

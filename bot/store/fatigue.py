"""Fatigue (issue 80): the cards each person got this hour, per workspace (`Keys.asks`), read before an approval is
routed (a person over the channel's `max_asks_per_hour` gets no new one: bot/approvals/fatigue.py) and counted once it
is delivered; read at each scrape for `hitl_cards_per_hour{person}`."""

from __future__ import annotations

import time
from collections.abc import Sequence

from bot.store.connection import aw
from bot.store.shared import Shared

HOUR = 3600
KEPT_SECONDS = 2 * HOUR  # an hour's counts outlive it a little (a scrape at the turn of the hour)


def hour_of(now: float) -> int:
    """The hour `now` is in (epoch seconds // 3600)."""
    return int(now // HOUR)


class Fatigue:
    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self._k = shared.keys

    async def counts(self, people: Sequence[str], *, now: float | None = None) -> dict[str, int]:
        """How many cards each of `people` got in the hour of `now` (default: now)."""
        if not people:
            return {}
        found = await aw(self._s.redis.hmget(self._k.asks(hour_of(time.time() if now is None else now)), list(people)))
        return {person: int(count or 0) for person, count in zip(people, found, strict=True)}

    async def delivered(self, people: Sequence[str], *, now: float | None = None) -> None:
        """One more card for each of `people` in the hour of `now` (default: now)."""
        if not people:
            return
        key = self._k.asks(hour_of(time.time() if now is None else now))
        async with self._s.redis.pipeline(transaction=False) as pipe:
            for person in people:
                pipe.hincrby(key, person, 1)
            pipe.expire(key, KEPT_SECONDS)
            await pipe.execute()

    async def this_hour(self, *, now: float | None = None) -> dict[str, int]:
        """Every person's cards in the hour of `now` (default: now)."""
        found = await aw(self._s.redis.hgetall(self._k.asks(hour_of(time.time() if now is None else now))))
        return {str(person): int(count) for person, count in found.items()}

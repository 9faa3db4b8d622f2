"""How people decide (issue 80), as the decide step keeps it (lua/lib/oversight.lua): a person's first look at an
approval's details noted, the signals and times read for the metrics, and a tenant's week taken for its digest."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from bot.core.metrics import Oversight
from bot.core.oversight import DIGEST_SECONDS, parse_times, people_signals
from bot.store.connection import aw
from bot.store.due import DueWork
from bot.store.shared import Repository

DIGEST_KEEP_SECONDS = 5 * 7 * 86400  # a digest shown in its admins' Homes until the next replaces it
OVERSIGHT_TIMES = 5000  # the times to decide a scrape reads (lua/lib/oversight.lua keeps as many per list)


def _number(value: object) -> float:
    try:
        return float(str(value))
    except ValueError:
        return 0.0


class OversightStore(Repository):
    """One tenant's view of the oversight keys (the two global ones are every tenant's)."""

    async def opened(self, approval_id: str, user: str, *, now: float | None = None) -> str:
        """Note that `user` opened the details of pending approval `approval_id` (its page, the full diff, a modal):
        the first time counts (`lua/note_opened.lua`). Returns "ok", "seen" (before), "decided" or "missing"."""
        done = await self._s.script("note_opened")(keys={"approval": self._k.approval(approval_id)},
                                                   args={"by": user, "now": repr(time.time() if now is None else now)})
        return str(done)

    async def read(self) -> Oversight:
        """Every person's signals and the last times to decide (all tenants), for a scrape: the global keys, and
        sharded (each workspace counting its own, `Keys.oversight_people`) every known workspace's too, summed (a
        person's `streak`: the longest of theirs, each workspace's streak its own), the times at most
        OVERSIGHT_TIMES in all, an equal share of each workspace's newest."""
        places = [self._k.for_tenant(str(t), home="") for t in await aw(self._s.redis.hkeys(self._k.workspaces_known))]
        places = [self._k, *(k for k in places if k.oversight_people != self._k.oversight_people)]
        share = max(1, OVERSIGHT_TIMES // len(places))
        signals: dict[str, float] = {}
        lines: list[str] = []
        for start in range(0, len(places), 32):
            batch = places[start:start + 32]
            read = await asyncio.gather(*(aw(self._s.redis.hgetall(k.oversight_people)) for k in batch),
                                        *(aw(self._s.redis.lrange(k.oversight_times, 0, share - 1)) for k in batch))
            for raw in read[:len(batch)]:
                for field, value in raw.items():
                    name, count = str(field), _number(value)
                    signals[name] = (max(signals.get(name, 0.0), count) if name.startswith("streak|")
                                     else signals.get(name, 0.0) + count)
            lines += [str(line) for found in read[len(batch):] for line in found]
        return Oversight(signals=people_signals({k: f"{v:g}" for k, v in signals.items()}),
                         times=tuple(parse_times(lines)))

    async def digest_due(self, now: float) -> bool:
        """Whether this tenant's weekly digest is due by `now`."""
        at = await self._s.redis.zscore(self._k.digest_due, "week")
        return at is not None and float(at) <= now

    async def take_week(self, now: float) -> dict[str, str]:
        """This tenant's week (`oversight:week`), taken whole and emptied in one step, and its next digest due in a
        week (if a decision comes before; `lua/lib/oversight.lua` sets it with the first)."""
        k = self._k
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.hgetall(k.oversight_week)
            pipe.delete(k.oversight_week)
            pipe.zrem(k.digest_due, "week")
            raw, *_ = await pipe.execute()
        if raw:  # a week with decisions: the next digest in a week, whatever comes
            await self._s.redis.zadd(k.digest_due, {"week": now + DIGEST_SECONDS})
        return {str(key): str(value) for key, value in raw.items()}

    async def keep_digest(self, digests: dict[str, Any]) -> None:
        """The week's digest of each channel ({channel: JSON-able}), shown in its admins' Homes until the next."""
        if not digests:
            return
        mapping = {channel: json.dumps(digest) for channel, digest in digests.items()}
        await aw(self._s.redis.hset(self._k.oversight_digest, mapping=mapping))
        await self._s.redis.expire(self._k.oversight_digest, DIGEST_KEEP_SECONDS)

    async def digest_of(self, channel: str) -> dict[str, Any] | None:
        """The last weekly digest of `channel`, or None."""
        raw = await aw(self._s.redis.hget(self._k.oversight_digest, channel))
        if raw is None:
            return None
        found = json.loads(raw)
        return found if isinstance(found, dict) else None

    async def parked_due(self, *, at: float) -> None:
        """A parked approval opened (timeout `never`, issue 90): the weekly digest of parked approvals due at `at`,
        unless due already (member `parked` of `oversight:digest_due`)."""
        await self._s.redis.zadd(self._k.digest_due, {"parked": at}, nx=True)
        await DueWork(self._s).note()

    async def take_parked(self, now: float) -> bool:
        """Whether this worker sends the digest of parked approvals now (due by `now`: taken, and due again in a week,
        in one step: lua/parked_take.lua)."""
        taken = await self._s.script("parked_take")(keys={"due": self._k.digest_due},
                                                    args={"now": repr(now), "next": repr(now + DIGEST_SECONDS)})
        return bool(int(taken))

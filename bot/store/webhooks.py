"""Webhooks due: decided approvals whose decision is POSTed to the program that asked (`bot/api/webhooks.py`).

The decide step puts an approval asked with a `callback_url` in `webhooks` (by when it is due) in the
same atomic step as its decision, so a worker that dies right after deciding leaves it due for any
other. A sender claims due ones with a lease (`lua/claim_due.lua`: their score moves to the lease's
end) and removes each once delivered or given up, audited in the same step (`lua/webhook_done.lua`), or
puts it back for a later try; `webhooks:tries` counts the tries of each one not delivered yet, and when
the first was. A sender that may not start one now (its key already has as many deliveries in flight as
a key may) puts it back for a moment (`defer`), not counting a try.
"""

from __future__ import annotations

from bot.store.audit import entry_fields
from bot.store.connection import aw
from bot.store.shared import Repository


class Webhooks(Repository):
    async def claim(self, *, now: float, lease: float, limit: int = 50) -> list[str]:
        """Up to `limit` approval ids whose webhook is due, each leased to the caller for `lease` seconds."""
        due = await self._s.script("claim_due")(
            keys={"deadlines": self._k.webhooks},
            args={"now": repr(now), "lease_end": repr(now + lease), "limit": str(limit)},
        )
        return [str(i) for i in due]

    async def tries(self, approval_id: str) -> tuple[int, float]:
        """(tries so far, when the first was; 0 for none)."""
        raw = await aw(self._s.redis.hget(self._k.webhook_tries, approval_id))
        if not raw:
            return 0, 0.0
        count, _, first = str(raw).partition(",")
        return int(count), float(first)

    async def retry(self, approval_id: str, *, at: float, tries: int, first: float) -> None:
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._k.webhook_tries, approval_id, f"{tries},{first!r}")
            pipe.zadd(self._k.webhooks, {approval_id: at})
            await pipe.execute()

    async def defer(self, until: dict[str, float]) -> None:
        """Put leased ones back, each due again at its time, not counting a try (only those still queued:
        one another sender delivered meanwhile stays delivered)."""
        if until:
            await aw(self._s.redis.zadd(self._k.webhooks, until, xx=True))

    async def drop(self, approval_id: str) -> None:
        """Nothing to send (the approval expired, or has no callback): off the queue, not audited."""
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.zrem(self._k.webhooks, approval_id)
            pipe.hdel(self._k.webhook_tries, approval_id)
            await pipe.execute()

    async def done(self, approval_id: str, event: str, **fields: str | float) -> None:
        """Delivered or given up: off the queue and audited (`event`, `fields`) in one step (`lua/webhook_done.lua`)."""
        k = self._k
        await self._s.script("webhook_done")(
            keys={"webhooks": k.webhooks, "webhook_tries": k.webhook_tries, "audit": k.audit,
                  "audit_seq": k.audit_seq, "audit_shards": k.audit_shards},
            args={"id": approval_id, "entry": entry_fields(event, fields)},
        )

    async def next_due(self) -> float | None:
        first = await aw(self._s.redis.zrange(self._k.webhooks, 0, 0, withscores=True))
        return float(first[0][1]) if first else None

"""The audit stream: every request, decision, refusal, run and settings change, trimmed to AUDIT_RETENTION."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterable, Mapping

from bot.store.shared import Shared


def _entry(event: str, fields: Mapping[str, str | float]) -> dict[str, str]:
    return {"event": event, "at": repr(time.time()), **{k: str(v) for k, v in fields.items()}}


class AuditLog:
    def __init__(self, shared: Shared) -> None:
        self._s = shared

    async def append(self, event: str, **fields: str | float) -> None:
        entry = _entry(event, fields)
        await self._s.redis.xadd(self._s.keys.audit, entry, minid=self._s.audit_minid(), approximate=True)  # type: ignore[arg-type]

    async def append_once(
        self, idempotency: str, event: str, fields: Mapping[str, str | float], *, body_digest: str, answer: str,
        ttl: int,
    ) -> tuple[str, str]:
        """`append(event, **fields)`, once per `idempotency` Redis key (one Lua step): ("new", answer) the first time,
        ("again", the first answer) for a retry with the same `body_digest`, ("conflict", "") when that key came with
        another body."""
        entry = _entry(event, fields)
        flat = [part for pair in entry.items() for part in pair]
        result = await self._s.script("audit_once")(
            keys={"idempotency": idempotency, "audit": self._s.keys.audit},
            args={"digest": body_digest, "answer": answer, "entry": flat, "minid": self._s.audit_minid(), "ttl": ttl},
        )
        status = result[0].decode() if isinstance(result[0], bytes) else str(result[0])
        said = result[1] if len(result) > 1 else ""
        return status, said.decode() if isinstance(said, bytes) else str(said)

    async def entries(self, *, count: int = 1000) -> list[dict[str, str]]:
        """The oldest `count` entries."""
        entries = await self._s.redis.xrange(self._s.keys.audit, count=count)
        return [{"id": str(entry_id), **dict(values)} for entry_id, values in entries]

    async def about_channel(self, channel: str, *, limit: int = 10, scan: int = 5000) -> list[dict[str, str]]:
        """The newest `limit` entries about `channel` (as origin or approvals channel), newest first."""
        found: list[dict[str, str]] = []
        upper = "+"
        scanned = 0
        while len(found) < limit and scanned < scan:
            batch = await self._s.redis.xrevrange(self._s.keys.audit, max=upper, count=500)
            if not batch:
                break
            for entry_id, values in batch:
                if channel in (values.get("origin_channel"), values.get("card_channel")):
                    found.append({"id": str(entry_id), **dict(values)})
                    if len(found) == limit:
                        break
            scanned += len(batch)
            upper = "(" + str(batch[-1][0])
        return found

    async def export(self, *, since: float, channels: Iterable[str] = ()) -> AsyncIterator[dict[str, str]]:
        """Entries since `since` (epoch seconds), oldest first, optionally only about `channels`."""
        wanted = set(channels)
        lower = str(int(since * 1000))
        while True:
            batch = await self._s.redis.xrange(self._s.keys.audit, min=lower, count=1000)
            for entry_id, values in batch:
                if not wanted or wanted & {values.get("origin_channel"), values.get("card_channel")}:
                    yield {"id": str(entry_id), **dict(values)}
            if len(batch) < 1000:
                return
            lower = "(" + str(batch[-1][0])

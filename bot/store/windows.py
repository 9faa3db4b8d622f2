"""Policy windows' calls (bot/policy/windows.py): per window and principal/action/resource (`Keys.window`), a sorted
set of '<approval id> <amount>' scored by when each was counted, and for a sum window its amounts per minute, hour
and day beside it (`<window>:sums`), so a total costs the buckets it reads, not the calls in the window
(lua/lib/windows.lua). Calls are counted by the step that opens their approval and taken out by the one that
rejects, expires or withdraws it (`Approvals.open`, the decide step); this reads the totals the policies see, and
records a call a program's allow-list let through counted in them (`record_allowed`)."""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from typing import Any

from bot.store.audit import entry_fields
from bot.store.shared import Shared


class Windows:
    def __init__(self, shared: Shared) -> None:
        self._s = shared

    async def totals(self, keys: Sequence[str], since: Sequence[float], count: Sequence[bool]) -> list[int]:
        """The totals of policy windows (`Keys.window`) counted after each `since`: how many calls where `count`,
        else the sum of their amounts (lua/window_totals.lua)."""
        if not keys:
            return []
        totals = await self._s.script("window_totals")(keys={"windows": list(keys)},
                                                       args={"since": [repr(s) for s in since], "count": list(count)})
        return [int(total) for total in totals]

    async def record_allowed(
        self, entry: Mapping[str, str | float], *, windows: Sequence[Mapping[str, Any]], answer: str,
        idempotency: tuple[str, str, int] | None = None,
    ) -> tuple[str, str]:
        """The `allowed` audit `entry` of a call a program's allow-list let through, counted in its policy `windows`
        (each as `Approvals.open` takes them) in one step (lua/record_allowed.lua), once per `idempotency` (its Redis
        key, the body's digest, how long it is kept; None: not idempotent). Returns ("new", answer), ("again", the
        first answer), ("conflict", "") or ("stale", window): a window's total changed since the policies read it."""
        key, digest, ttl = idempotency or (self._s.keys.api_idempotency("-", "-"), "", 0)
        keys = self._s.keys
        result = await self._s.script("record_allowed")(
            keys={"idempotency": key, "audit": keys.audit, "audit_seq": keys.audit_seq,
                  "audit_shards": keys.audit_shards, "windows": [str(window["key"]) for window in windows]},
            args={"digest": digest, "answer": answer, "entry": entry_fields("allowed", entry), "ttl": ttl,
                  "now": repr(time.time()),
                  "windows": [{name: w[name] for name in ("since", "expect", "count", "member", "ttl")}
                              for w in windows]},
        )
        said = [part.decode() if isinstance(part, bytes) else str(part) for part in result]
        return said[0], said[1] if len(said) > 1 else ""

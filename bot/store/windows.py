"""Policy windows' calls (bot/policy/windows.py): per window and principal/action/resource (`Keys.window`), a sorted
set of '<approval id> <amount>' scored by when each was counted, and for a sum window its amounts per minute, hour
and day beside it (`<window>:sums`), so a total costs the buckets it reads, not the calls in the window
(lua/lib/windows.lua). Calls are counted by the step that opens their approval and taken out by the one that
rejects, expires or withdraws it (`Approvals.open`, the decide step); this reads the totals the policies see."""

from __future__ import annotations

from collections.abc import Sequence

from bot.store.shared import Repository


class Windows(Repository):
    async def totals(self, keys: Sequence[str], since: Sequence[float], count: Sequence[bool]) -> list[int]:
        """The totals of policy windows (`Keys.window`) counted after each `since`: how many calls where `count`,
        else the sum of their amounts (lua/window_totals.lua)."""
        if not keys:
            return []
        totals = await self._s.script("window_totals")(keys={"windows": list(keys)},
                                                       args={"since": [repr(s) for s in since], "count": list(count)})
        return [int(total) for total in totals]

"""The Homes due a redraw, and the workspace's `views.publish` budget, shared by every worker.

Slack allows `views.publish` about 100 calls a minute per workspace (Tier 4), whichever worker makes
them. So a change does not publish Homes itself: it marks them due (`mark`: `homes:due`, one entry per
person however many changes, scored by when they last opened their Home), and each worker's drawer
takes the due Homes (`claim`) as the budget allows: at most `budget` calls in any `window` seconds,
counted in Redis (`homes:publishes`, a log of the window's calls, each kept `MARGIN_SECONDS` longer: Slack
counts them as they arrive, a little later) for every worker at once; the people
who looked most recently first; each once its changes have been gathered for `gather` seconds (a burst
of changes redraws a Home once). A Home not drawn within the budget stays due; a person who opens
their Home is served at once (`take`: ahead of the budget, its call counted in it). When Slack answers
`ratelimited`, `pause` stops every worker's Home publishing for its `Retry-After`.

    mark(users)         -> due (lua/home_due.lua)
    claim(count)        -> [(user, token)], and how long to wait before looking again (lua/home_claim.lua)
    done(user, token)   -> drawn, or due again; a token given back when nothing was sent (lua/home_done.lua)
    take(user)          -> drawn now, ahead of the budget, unless paused (lua/home_take.lua)
    sending(token)      -> the call goes now: counted in the budget from now (lua/home_send.lua)

Times are Redis's clock (`TIME` in the scripts), the same for every worker.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

from bot.store.connection import aw
from bot.store.due import DueWork
from bot.store.shared import Shared

LEASE_SECONDS = 30.0  # a drawer holds a Home it took this long at most (then it is due again)
SCAN = 200  # due Homes looked at per claim (the most recent lookers first)
MARGIN_SECONDS = 1.0  # each call counted this much longer than the window: Slack counts them as they arrive


@dataclass(frozen=True, slots=True)
class Claimed:
    """What one claim took: (person, budget token) pairs, and how long to wait before claiming again
    (seconds; 0: nothing more is due, wait to be woken)."""

    homes: list[tuple[str, str]]
    wait: float


class HomeQueue:
    def __init__(
        self, shared: Shared, *, budget: int = 100, window: float = 60.0, gather: float = 0.2, holder: str = ""
    ) -> None:
        self._s = shared
        self._k = shared.keys
        self.budget = max(1, budget)  # views.publish calls in any `window` seconds, every worker together
        self.window = window
        self.gather = gather
        self._holder = holder or secrets.token_hex(4)

    def _keys(self, *names: str) -> dict[str, str]:
        k = self._k
        every = {
            "due": k.home_due,
            "since": k.home_due_since,
            "drawing": k.home_drawing,
            "publishes": k.home_publishes,
            "paused": k.home_paused,
            "viewers": k.home_viewers,
        }
        return {name: every[name] for name in names}

    async def mark(self, users: Iterable[str], *, ready: bool = False) -> int:
        """Make the Homes of `users` due (those who opened theirs lately; each once). `ready`: drawn
        without gathering. Returns how many are due."""
        users = sorted(set(users))
        if not users:
            return 0
        due = int(
            await self._s.script("home_due")(
                keys=self._keys("due", "since", "viewers"), args={"users": users, "now_ready": ready}
            )
        )
        if due:  # the worker-wide Home queue visits this workspace's (bot/store/due.py)
            await DueWork(self._s).note()
        return due

    async def claim(self, count: int) -> Claimed:
        """Take up to `count` due Homes to draw now, within the budget (none while paused)."""
        taken, wait_ms = await self._s.script("home_claim")(
            keys=self._keys("due", "since", "drawing", "publishes", "paused", "viewers"),
            args={
                "count": max(1, count),
                "budget": self.budget,
                "window_ms": int(self.window * 1000),
                "margin_ms": int(MARGIN_SECONDS * 1000),
                "gather_ms": int(self.gather * 1000),
                "lease_ms": int(LEASE_SECONDS * 1000),
                "scan": SCAN,
                "holder": self._holder,
            },
        )
        flat = [str(x) for x in taken or []]
        return Claimed(homes=list(zip(flat[::2], flat[1::2], strict=True)), wait=int(wait_ms) / 1000)

    async def take(self, user: str) -> tuple[str, float]:
        """`user` opened their Home: draw it now, ahead of the budget (its call counted in it). Returns
        (the budget token, 0.0), or ("", seconds) while Slack has paused publishing (then it is due first,
        drawn when the pause ends)."""
        token, paused_ms = await self._s.script("home_take")(
            keys=self._keys("due", "since", "drawing", "publishes", "paused", "viewers"),
            args={
                "user": user,
                "holder": self._holder,
                "window_ms": int(self.window * 1000),
                "margin_ms": int(MARGIN_SECONDS * 1000),
                "lease_ms": int(LEASE_SECONDS * 1000),
            },
        )
        return str(token or ""), int(paused_ms) / 1000

    async def sending(self, token: str) -> None:
        """A call is sent now under `token`: the budget counts it from now (not from when it was claimed:
        the budget's window then holds the times Slack gets the calls, however long a draw took)."""
        await self._s.script("home_send")(keys=self._keys("publishes"), args={"token": token})

    async def done(self, user: str, *, refund: str = "", again: bool = False) -> None:
        """Done drawing `user`'s Home. `refund`: the token of a call not made; `again`: due again at once."""
        await self._s.script("home_done")(
            keys=self._keys("due", "since", "drawing", "publishes", "viewers"),
            args={"user": user, "refund": refund, "again": again},
        )

    async def pause(self, seconds: float) -> None:
        """Slack answered `ratelimited`: no worker publishes a Home for `seconds` (its `Retry-After`)."""
        await self._s.redis.set(self._k.home_paused, "1", px=max(1, int(seconds * 1000)))

    async def paused(self) -> float:
        """Seconds left of a pause (0: publishing)."""
        return max(0, int(await self._s.redis.pttl(self._k.home_paused))) / 1000

    async def due(self) -> list[str]:
        """The Homes due, the most recent lookers first."""
        return [str(u) for u in await self._s.redis.zrevrange(self._k.home_due, 0, -1)]

    async def publishes(self) -> list[float]:
        """When each call of the budget's window was counted (epoch seconds, Redis's clock), oldest first."""
        found = await self._s.redis.zrange(self._k.home_publishes, 0, -1, withscores=True)
        return [float(score) / 1000 for _, score in found]

    async def drawing(self) -> list[str]:
        return [str(u) for u in await aw(self._s.redis.zrange(self._k.home_drawing, 0, -1))]

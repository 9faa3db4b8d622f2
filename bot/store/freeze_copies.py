"""Each workspace's copy of the frozen scopes (issue 89, sharded: `Keys.frozen_here`, in the workspace's slot), so
that its Lua steps (decide, sweep, use) read the freeze in their own slot and never a global key.

A copy never lets a decision through that the freeze refuses once it is set: a freeze (an unfreeze, a drill's end)
returns only after `spread` has copied the hash into every known workspace's (the global hash written first, the
tenants read after it, in one step with the hash: lua/freeze_read.lua), and a workspace newly known is copied into
when it is recorded, before its store writes anything (`Tenants.remember`: the tenant added first, the hash read
after; so of a freeze and a workspace's arrival at the same time, one sees the other). Each read is numbered and a
copy is replaced only by a later read's (lua/freeze_copy.lua), so copies written in any order end as the newest. A
spread that fails half-way is said (StoreUnavailable: the admin is told) and done again by each worker's start
(`Tenancy.start`). On Redis Cluster the copies are written whatever this store's layout (REDIS_WORKSPACE_TAGS): a
freeze from a command run without the setting still reaches every sharded workspace. On one node nothing is copied
(the one global hash is every step's)."""

from __future__ import annotations

import asyncio
import json

from bot.store.keys import Keys
from bot.store.shared import Repository
from bot.store.slots import is_tag

AT_ONCE = 32  # copies written at once


class FreezeCopies(Repository):
    """The freeze's copies (the module docstring)."""

    async def spread(self, *, only: str = "") -> int:
        """Copy the frozen scopes into every known workspace's copy (`only`: that tenant's alone); how many were
        replaced. Nothing on one node (the root no hash tag)."""
        k = self._k
        if not is_tag(k.root):  # (on Cluster whatever this store's layout: a command run without the setting too)
            return 0
        seq, flat, known, home = await self._s.script("freeze_read")(
            keys={"frozen": k.frozen, "spread": k.frozen_spread, "known": k.workspaces_known,
                  "home": k.workspaces_home}, args={})
        scopes = [str(part) for part in flat]
        tenants = [str(t) for t in known if (not only or str(t) == only) and str(t) != _tenant(home)]
        copies = [Keys(k.root, sharded=True).for_tenant(t, home="") for t in tenants]
        done = 0
        for start in range(0, len(copies), AT_ONCE):
            found = await asyncio.gather(*(self._s.script("freeze_copy")(
                keys={"copy": c.frozen_here, "seq": c.frozen_here_seq},
                args={"seq": str(seq), "scopes": scopes}) for c in copies[start:start + AT_ONCE]))
            done += sum(int(n) for n in found)
        return done

    async def copy_of(self) -> dict[str, str]:
        """This workspace's copy ({scope: record}), as its steps read it."""
        raw = await self._s.redis.hgetall(self._k.frozen_here)  # type: ignore[misc]
        return {str(scope): str(value) for scope, value in raw.items()}


def _tenant(home: object) -> str:
    """The home tenant in `workspaces:home`'s record ("" when none or unreadable): its data is on the root's names,
    whose frozen hash is the global one."""
    try:
        return str(json.loads(str(home or "{}")).get("tenant") or "")
    except (ValueError, AttributeError, RecursionError):
        return ""

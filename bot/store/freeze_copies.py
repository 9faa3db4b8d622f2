"""Each workspace's copy of the frozen scopes (issue 89, sharded: `Keys.frozen_here`, in the workspace's slot), so that
its Lua steps (decide, sweep, use) read the freeze in their own slot and never a global key.

A copy never lets a decision through that the freeze refuses once it is set: a freeze (an unfreeze, a drill's end)
returns only after `spread` has copied the hash into every known workspace's (the global hash written first, the
tenants read after it, in one step with the hash: lua/freeze_read.lua), and a workspace newly known is copied into
when it is recorded, before its store writes anything (`Tenants.remember`: the tenant added first, the hash read
after; so of a freeze and a workspace's arrival at the same time, one sees the other). Each read is numbered and a
copy is replaced only by a later read's (lua/freeze_copy.lua), so copies written in any order end as the newest. A
spread that fails half-way is said (StoreUnavailable: the admin is told) and done again by each worker's start
(`Tenancy.start`) and by each worker's loop (`respread`, bot/approvals/freeze_spread.py) once it sees a change not
spread (`frozen:changed` above `frozen:spread:done`). Meanwhile a workspace not copied into fails closed: each freeze
is numbered (`frozen:at`, of the reads' counter), the worker reads that number beside an Approve (`frozen_at`, one
GET) and the decide step refuses the Approve while its copy holds an older read (lua/lib/decide.lua: "unspread"); an
unfreeze not copied yet leaves the scope frozen there, until the loop's spread. A worker whose waiter hears the
freeze's channel (`watch`: sharded pub/sub, Redis 7) knows that number without the GET: the freeze step says it on
`frozen:told`, a shard channel of the number's own slot, in the same step that sets it (lua/freeze.lua), so the
primary that ran it tells every subscriber before any later command there (no cluster bus between); the number is
read once when the channel is confirmed heard, and not trusted (each Approve reads it again) from the moment the
subscription's connection ends, its node fails or its slot moves (`ShardedPubSub.live`, asked at each Approve), or
when it was not read again or told for `HEARD_FOR` seconds (each worker's loop reads it every 5: a cut network). A
freeze of a release before (no told number) is learnt by each worker's loop (`respread` reads the number too),
within `FREEZE_SPREAD_SECONDS`. Either way a freeze that returned is in every copy: the number only closes a spread
that failed half-way. On Redis Cluster the copies are written whatever this store's layout (REDIS_WORKSPACE_TAGS):
a freeze from a command run without the setting still reaches every sharded workspace. On one node nothing is
copied (the one global hash is every step's)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

from bot.store.keys import Keys
from bot.store.shard_pubsub import ShardedPubSub, Subscription
from bot.store.shared import Repository
from bot.store.slots import is_tag

AT_ONCE = 32  # copies written at once


class FreezeCopies(Repository):
    """The freeze's copies (the module docstring)."""

    async def spread(self, *, only: str = "") -> int:
        """Copy the frozen scopes into every known workspace's copy (`only`: that tenant's alone); how many were
        replaced. Nothing on one node (the root no hash tag). A copy that cannot be written (its node unreachable)
        leaves the others written and is raised after them; every one written, the read is noted as spread
        (`frozen:spread:done`)."""
        k = self._k
        if not is_tag(k.root):  # (on Cluster whatever this store's layout: a command run without the setting too)
            return 0
        seq, flat, known, home = await self._s.script("freeze_read")(
            keys={"frozen": k.frozen, "spread": k.frozen_spread, "known": k.workspaces_known,
                  "home": k.workspaces_home}, args={})
        scopes = [str(part) for part in flat]
        tenants = [str(t) for t in known if (not only or str(t) == only) and str(t) != _tenant(home)]
        copies = [Keys(k.root, sharded=True).for_tenant(t, home="") for t in tenants]
        done, failed = 0, list[BaseException]()
        for start in range(0, len(copies), AT_ONCE):
            found = await asyncio.gather(*(self._s.script("freeze_copy")(
                keys={"copy": c.frozen_here, "seq": c.frozen_here_seq},
                args={"seq": str(seq), "scopes": scopes}) for c in copies[start:start + AT_ONCE]),
                return_exceptions=True)
            failed += [n for n in found if isinstance(n, BaseException)]
            done += sum(int(n) for n in found if not isinstance(n, BaseException))
        if failed:
            raise failed[0]
        if not only:  # every known workspace holds this read or a later one
            await self._s.script("freeze_spread_done")(keys={"done": k.frozen_spread_done}, args={"seq": str(seq)})
        return done

    async def respread(self) -> int:
        """Spread again when a change of the scopes (a freeze, an unfreeze) was not copied into every workspace yet
        (its spread failed half-way, or its process died): `frozen:changed` above `frozen:spread:done`, read in one
        command; how many copies were replaced (each worker's loop: bot/approvals/freeze_spread.py)."""
        k = self._k
        if not is_tag(k.root):
            return 0
        changed, done, at = await self._s.redis.mget([k.frozen_changed, k.frozen_spread_done, k.frozen_at])
        self._s.freeze_heard.told(int(at or 0))  # (a freeze by a release that told no number: learnt here)
        return await self.spread() if int(changed or 0) > int(done or 0) else 0

    async def frozen_at(self) -> str:
        """The number of the last freeze ("" when none, or no copy is read here: one node, the home workspace),
        which this workspace's copy must hold at least for its decide step to approve (lua/lib/decide.lua): one
        GET on the root's slot."""
        k = self._k
        if k.frozen_here == k.frozen:
            return ""
        known = self._s.freeze_heard.number  # (heard by the waiter's subscription: `watch`)
        if known is not None:
            return str(known) if known else ""
        return str(await self._s.redis.get(k.frozen_at) or "")

    async def watch(self, subscription: Subscription) -> bool:
        """Hear the freezes' numbers on `subscription` (the waiter's, made afresh) from now: sharded pub/sub alone
        (else False: each Approve reads it); the number read once the channel is confirmed heard, so no freeze falls
        between. Raises StoreUnavailable as the subscription does."""
        k = self._k
        if not isinstance(subscription, ShardedPubSub) or not is_tag(k.root):
            return False
        await subscription.ssubscribe(k.frozen_told)
        await subscription.confirmed(k.frozen_told)
        self._s.freeze_heard.heard_from(int(await self._s.redis.get(k.frozen_at) or 0), on=subscription)
        return True

    def heard(self, message: Mapping[str, Any]) -> bool:
        """Whether `message` (one the subscription read) is a freeze's number: then known from now."""
        if message.get("channel") != self._k.frozen_told:
            return False
        data = str(message.get("data") or "")
        if data.isascii() and data.isdigit():
            self._s.freeze_heard.told(int(data))
        return True

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

"""Moving a store from one hash tag to a tag per workspace (issue 89: stored format 2 -> 3, `python -m bot store
move-workspaces`, bot/cli/move.py; docs/operators/upgrades.md).

A workspace's keys are `{root}:ws:<tenant>:…` under one tag and `hitl:{ws:<tenant>}:…` under its own
(bot/store/slots.py); the home workspace's and the global keys keep their names. The move, with no worker of
a release before 0.9 alive (`blockers`: their heartbeats say no version; they write the old names and never hold):

1. marks the store (`mark`: `{p}:format` says 3 and `moving`, in one step), so that no worker starts meanwhile: a
   version before refuses format 3, this one refuses a move under way (`StoredFormat.keep`); and waits until every
   live worker of this release writing one tag says its commands are held (`unheld`: its heartbeat sees the mark
   and holds every new command, `connection.Hold`, then says `held` once those in flight are done), so that none
   writes an old name from then on: a held command waits, then fails closed (StoreUnavailable: retried);
2. moves each workspace (`move_one`): every key DUMPed and RESTOREd under its new name with its time to live (PTTL),
   never over a key (no REPLACE: a new name that exists is one a run killed before had written), the old deleted only
   once the new is written; then its extras: its API keys' pending sets and Idempotency-Keys into its slot, its
   copy of the frozen scopes, its due indexes (`DueWork.repair`); then `{p}:format`'s `moved:<tenant>` notes it;
3. audits it (`workspaces_moved`, who ran it) and drops `moving` (`finish`): the store says format 3, workers start
   with REDIS_WORKSPACE_TAGS=true.

Killed at any point, the next run finds the mark and goes on from where the keys are: what was moved is not moved
again (its old names are gone), what was half moved is finished. One run at a time (`{p}:claim:move-workspaces`)."""

from __future__ import annotations

import re
import time
from collections.abc import Iterable
from dataclasses import dataclass, field

from redis.exceptions import ResponseError

from bot.store.audit import AuditLog
from bot.store.connection import aw
from bot.store.due import DueWork
from bot.store.freeze_copies import FreezeCopies
from bot.store.keys import TENANT, Keys
from bot.store.shared import Shared
from bot.store.stored_format import WORKSPACE_TAGS
from bot.store.tenants import Tenants
from bot.store.workers import TAGS_LAYOUT, Workers

CLAIM = "move-workspaces"  # `{p}:claim:move-workspaces`: the run under way
CLAIM_SECONDS = 15  # renewed as it moves (every `RENEW_EVERY` keys); a run killed lets the next start after this
RENEW_EVERY = 100
_KEY_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


@dataclass
class Plan:
    """What a move finds: each workspace's keys under the root's tag, by tenant."""

    keys: dict[str, list[str]] = field(default_factory=dict)

    @property
    def count(self) -> int:
        return sum(len(found) for found in self.keys.values())


class WorkspaceMove:
    """The move over the root's store (`shared`: any layout; the target names are `Keys(root, sharded=True)`'s)."""

    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self.root = shared.keys.root
        self._k = Keys(self.root)
        self._tags = Keys(self.root, sharded=True)
        self._shared_of: dict[str, Shared] = {}
        self._by = ""  # who holds the claim (`claim`), renewed as keys move
        self._since_renewed = 0

    async def stored(self) -> int:
        value = await aw(self._s.redis.hget(self._k.format, "format"))
        return int(value) if value is not None and str(value).isascii() and str(value).isdigit() else 1

    async def moving(self) -> str | None:
        value = await aw(self._s.redis.hget(self._k.format, "moving"))
        return None if value is None else str(value)

    async def home(self) -> str:
        found = await Tenants(self._s).home()
        return "" if found is None else found.tenant

    async def plan(self) -> Plan:
        """Every workspace's keys still under the root's tag (one SCAN; the home workspace's are on the root's
        names: they stay)."""
        start = f"{self.root}:ws:"
        found = Plan()
        async for raw in self._s.redis.scan_iter(match=start + "*", count=1000):
            key = str(raw)
            tenant = key[len(start):].split(":", 1)[0]
            if TENANT.fullmatch(tenant):
                found.keys.setdefault(tenant, []).append(key)
        for tenant in await self.known():
            found.keys.setdefault(tenant, [])  # (nothing left of it: its extras and its note still to do)
        return found

    async def known(self) -> list[str]:
        home = await self.home()
        known = await aw(self._s.redis.hkeys(self._k.workspaces_known))
        return sorted(str(t) for t in known if str(t) != home and TENANT.fullmatch(str(t)))

    async def blockers(self) -> dict[str, str]:
        """The live workers of a release before 0.9 (their heartbeats say no version): they write the old names and
        never hold. {worker id: what its heartbeat says}."""
        beats = await Workers(self._s).beats()
        return {worker: said for worker, said in beats.items() if len(said.split(" ")) < 3}

    async def unheld(self) -> dict[str, str]:
        """The live workers of this release writing one tag that do not say yet that their commands are held."""
        beats = await Workers(self._s).beats()
        return {worker: said for worker, said in beats.items()
                if said.split(" ")[2:3] not in ([], [TAGS_LAYOUT]) and said.split(" ")[3:4] != ["held"]}

    async def claim(self, by: str) -> str | None:
        """This run the one under way: None, else who holds it."""
        key = self._k.claim(CLAIM)
        if await self._s.redis.set(key, by, nx=True, ex=CLAIM_SECONDS):
            self._by = by
            return None
        return str(await self._s.redis.get(key) or "another run")

    async def renew(self, by: str) -> None:
        await self._s.redis.set(self._k.claim(CLAIM), by, ex=CLAIM_SECONDS)

    async def release(self) -> None:
        await self._s.redis.delete(self._k.claim(CLAIM))

    async def mark(self, by: str) -> tuple[str | None, str | None]:
        """The store marked as moving (format 3, `moving`); what `format` and `by` said before (to `unmark`)."""
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.hmget(self._k.format, ["format", "by"])
            pipe.hset(self._k.format, mapping={"format": str(WORKSPACE_TAGS), "moving": f"{by} {time.time():.0f}"})
            (was, was_by), _ = await pipe.execute()
        return was, was_by

    async def unmark(self, was: str | None, was_by: str | None) -> None:
        """The mark taken back (nothing moved yet): the format as it was."""
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.hdel(self._k.format, "moving")
            if was is None:
                pipe.hdel(self._k.format, "format")
            else:
                pipe.hset(self._k.format, "format", was)
            if was_by is not None:
                pipe.hset(self._k.format, "by", was_by)
            await pipe.execute()

    async def finish(self, version: str, *, by: str, workspaces: int, keys: int) -> None:
        """The move done: audited in home's chain (`workspaces_moved`, naming who), then the store says format 3."""
        await AuditLog(Shared(self._s.redis, self._k)).append("workspaces_moved", by=by, workspaces=workspaces,
                                                             keys=keys, version=version)
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._k.format, mapping={"format": str(WORKSPACE_TAGS), "by": version, "at": repr(time.time())})
            pipe.hdel(self._k.format, "moving")
            await pipe.execute()

    def target(self, tenant: str) -> Keys:
        return self._tags.for_tenant(tenant, home="")

    def _tenant_shared(self, tenant: str) -> Shared:
        found = self._shared_of.get(tenant)
        if found is None:
            found = self._shared_of[tenant] = Shared(self._s.redis, self.target(tenant))
        return found

    async def move_one(self, tenant: str, old: Iterable[str], key_ids: Iterable[str]) -> int:
        """One workspace moved (its keys `old`, its API keys `key_ids`' extras) and noted; how many keys moved."""
        old_prefix, new_prefix = f"{self.root}:ws:{tenant}", self.target(tenant).prefix
        moved = 0
        for key in old:
            moved += await self._move_key(key, new_prefix + key[len(old_prefix):])
        mine = self.target(tenant)
        for key_id in key_ids:
            moved += await self._move_key(self._k.api_pending(key_id), mine.api_pending(key_id))
            start = f"{self._k.api_idempotency(key_id, '')}"
            async for raw in self._s.redis.scan_iter(match=start + "*", count=1000):
                key = str(raw)
                moved += await self._move_key(key, mine.api_idempotency(key_id, key[len(start):]))
        shared = self._tenant_shared(tenant)
        await FreezeCopies(shared).spread(only=tenant)
        await DueWork.repair([DueWork(shared)])
        await aw(self._s.redis.hset(self._k.format, f"moved:{tenant}", repr(time.time())))
        return moved

    async def moved(self) -> list[str]:
        """The workspaces a move noted moved (`{p}:format`'s `moved:<tenant>`)."""
        fields = await aw(self._s.redis.hkeys(self._k.format))
        return sorted(str(f)[len("moved:"):] for f in fields if str(f).startswith("moved:"))

    async def _move_key(self, old: str, new: str) -> int:
        """`old` under the name `new`, its time to live kept; 1 when moved, 0 when it was gone or moved before."""
        ttl = int(await aw(self._s.redis.pttl(old)))
        if ttl == -2:
            return 0
        payload = await self._s.redis.dump(old)
        if payload is None:
            return 0
        try:
            await self._s.redis.restore(new, max(ttl, 0), payload)
        except ResponseError as exc:
            if "BUSYKEY" not in str(exc):
                raise
            # written by a run killed after its RESTORE, before its DEL: the new one is the key
        await self._s.redis.delete(old)
        self._since_renewed += 1
        if self._by and self._since_renewed >= RENEW_EVERY:
            await self.renew(self._by)
            self._since_renewed = 0
        return 1

    async def key_workspaces(self) -> dict[str, list[str]]:
        """The API keys bound to a workspace other than home: {tenant: [key id]} (a key's pending set and
        Idempotency-Keys go into its workspace's slot), its workspace as a revoke finds it (`Revocation`)."""
        found: dict[str, list[str]] = {}
        tenants = Tenants(self._s)
        home = await tenants.home()
        start = self._k.api_key("")
        async for raw in self._s.redis.scan_iter(match=start + "*", count=1000, _type="HASH"):
            key = str(raw)
            key_id, team, enterprise = await aw(self._s.redis.hmget(key, ["id", "team", "enterprise"]))
            if home is None or not team or not key_id or not _KEY_ID.fullmatch(str(key_id)):
                continue
            if team == home.team or (enterprise and home.org_wide and enterprise == home.enterprise):
                continue
            tenant = await tenants.organisation_of(str(team)) or str(team)
            if tenant != home.tenant and TENANT.fullmatch(tenant):
                found.setdefault(tenant, []).append(str(key_id))
        return found


def said(beat: str) -> str:
    """A heartbeat told as an operator reads it."""
    parts = beat.split(" ")
    if len(parts) < 3:
        return "a version before 0.9 (its heartbeat says no version)"
    held = ", its commands held" if parts[3:4] == ["held"] else ""
    return f"version {parts[1]}, {'one hash tag' if parts[2] != TAGS_LAYOUT else 'workspace tags'}{held}"

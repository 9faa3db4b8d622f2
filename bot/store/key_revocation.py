"""Revoking an API key in two steps (issue 89), so that it stays on one slot each when workspaces have hash tags of
their own (REDIS_WORKSPACE_TAGS), and the same in every layout.

First the global part, on the root's slot (`lua/revoke_api_key.lua`): the key's name leaves the index and its record
becomes a tombstone, so from that step on a request with it is refused, whatever happens next; the step notes the
withdrawal it owes in `{root}:apikeys:revoking` ({key id: JSON {name, tenant}}). Then the workspace part, on the slot
of the key's workspace (`lua/withdraw_key_approvals.lua`, through that workspace's store: its keys, its chain's
floor, its way of publishing): each approval the key asked that is still pending is withdrawn by the decide step.
Then the note is dropped. Interrupted between the two, the next `revoke` of that name finishes the withdrawal (the
second step run again withdraws nothing twice: the pending set it empties is its record of what is owed).

A key's workspace is read from its record (`team`, `enterprise`) as the workers met it (`Tenants`: home, or an
organisation installed org-wide); its approvals are in that workspace's data (`Store.for_tenant`), never home's
unless it is home's (`python -m bot keys revoke` runs on the home store)."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from bot.core.key_records import key_id_of
from bot.core.records import ApprovalRecord
from bot.store.codec import approval_from, pairs
from bot.store.connection import aw
from bot.store.due import DueWork
from bot.store.keys import DECIDED_RETENTION_SECONDS
from bot.store.shared import Shared
from bot.store.tenants import Tenants

REVOKE_TRIES = 5

# the Shared of a tenant's store (tenant, home tenant; None for either: home's), `Store.for_tenant`'s
SharedOf = Callable[[str | None, str | None], Shared]


@dataclass(frozen=True, slots=True)
class Revoked:
    """A key revoked: its name and id, and the approvals it had pending, withdrawn."""

    name: str
    key_id: str
    withdrawn: list[ApprovalRecord]


class Revocation:
    """Revokes keys from any tenant's store (`shared`), each key's part on the slot where it lives."""

    def __init__(self, shared: Shared, shared_of: SharedOf) -> None:
        self._s = shared
        self._k = shared.keys
        self._shared_of = shared_of

    async def revoke(
        self, name: str, *, by: str, card_grace: float | None, operator: Mapping[str, str]
    ) -> Revoked | None:
        """See `ApiKeys.revoke`. None when there is no such key (nor a revoke of that name left unfinished)."""
        digest = await aw(self._s.redis.hget(self._k.api_key_names, name))
        if digest is None:
            return await self._finish_owed(name, card_grace=card_grace)
        raw = await aw(self._s.redis.hmget(self._k.api_key(str(digest)), ["id", "previous", "team", "enterprise"]))
        key_id = str(raw[0] or key_id_of(str(digest)))
        previous = str(raw[1] or digest)  # the key it replaced (`rotate`), in its grace: revoked with it
        tenant, home = await self._tenant_of(str(raw[2] or ""), str(raw[3] or ""))
        now = time.time()
        root = self._shared_of(None, home)
        k = root.keys
        owed = json.dumps({"name": name, "tenant": tenant or ""}, separators=(",", ":"))
        result = await root.script("revoke_api_key")(
            keys={"names": k.api_key_names, "record": k.api_key(str(digest)), "previous": k.api_key(previous),
                  "revoking": k.api_key_revoking, "audit": k.audit, "audit_seq": k.audit_seq,
                  "audit_shards": k.audit_shards},
            args={"name": name, "digest": str(digest), "by": by, "now": repr(now), "key_id": key_id, "owed": owed,
                  "retention": str(DECIDED_RETENTION_SECONDS),
                  "audit": {"event": "api_key_revoked", "at": repr(now), "key": name, "key_id": key_id, "by": by,
                            **operator}},
        )
        if str(result[0]) == "missing":  # revoked (or rotated) meanwhile: as the index says now
            return await self._finish_owed(name, card_grace=card_grace)
        return await self._withdraw(name, key_id, tenant, home, card_grace=card_grace)

    async def _finish_owed(self, name: str, *, card_grace: float | None) -> Revoked | None:
        """A revoke of `name` whose withdrawal was interrupted: finished now; None when none is owed."""
        owed = await aw(self._s.redis.hgetall(self._k.api_key_revoking))
        for key_id, said in sorted(owed.items()):
            noted = json.loads(said)
            if noted.get("name") == name:
                home = (await Tenants(self._s).home())
                tenant = str(noted.get("tenant") or "") or None
                return await self._withdraw(name, str(key_id), tenant, None if home is None else home.tenant,
                                            card_grace=card_grace)
        return None

    async def _tenant_of(self, team: str, enterprise: str) -> tuple[str | None, str | None]:
        """The tenant whose data holds a key's approvals (None: home's) and the home tenant (None: not learnt)."""
        home = await Tenants(self._s).home()
        if home is None or not team:
            return None, None if home is None else home.tenant
        if team == home.team or (enterprise and home.org_wide and enterprise == home.enterprise):
            return None, home.tenant
        tenant = await Tenants(self._s).organisation_of(team) or team
        return (None if tenant == home.tenant else tenant), home.tenant

    async def _withdraw(
        self, name: str, key_id: str, tenant: str | None, home: str | None, *, card_grace: float | None
    ) -> Revoked:
        """The workspace part: the key's pending approvals withdrawn, on its workspace's slot; then the note
        dropped (on the root's)."""
        there = self._shared_of(tenant, home)
        k = there.keys
        grace = there.card_grace if card_grace is None else card_grace
        for _ in range(REVOKE_TRIES):  # an approval asked between the read and the step: read again
            ids = sorted(str(i) for i in await aw(there.redis.smembers(k.api_pending(key_id))))
            result = await self._withdraw_step(there, name, key_id, ids, card_grace=grace)
            if result[0] == "ok":
                withdrawn = [approval_from(pairs(flat)) for flat, _ in result[1]]
                if withdrawn:  # decisions: their webhooks and card redraws are due work
                    await DueWork(there).note()
                await aw(self._s.redis.hdel(self._k.api_key_revoking, key_id))
                return Revoked(name=name, key_id=key_id, withdrawn=withdrawn)
        raise RuntimeError(f"the key {name} could not be revoked: it kept asking for approvals meanwhile")

    @staticmethod
    async def _withdraw_step(
        there: Shared, name: str, key_id: str, ids: list[str], *, card_grace: float
    ) -> list[Any]:
        """One try of `lua/withdraw_key_approvals.lua`, with the key's approvals `ids` that may be pending."""
        k, now = there.keys, time.time()
        return list(await there.script("withdraw_key_approvals")(
            keys={"pending": k.api_pending(key_id), "audit": k.audit,
                  "audit_seq": k.audit_seq, "audit_shards": k.audit_shards, "deadlines": k.deadlines,
                  "nudges": k.nudges, "waiting": k.waiting, "outbox": k.outbox, "changes": k.changes,
                  "webhooks": k.webhooks,
                  "approvals": [key for i in ids for key in (k.approval(i), k.texts(i), k.votes(i))]},
            args={"now": repr(now), "ids": ids, "reason": f"withdrawn: key {name} revoked",
                  "worker_channels": there.worker_channels, "publish": there.publish,
                  "retention": str(DECIDED_RETENTION_SECONDS), "card_grace": repr(card_grace)},
        ))

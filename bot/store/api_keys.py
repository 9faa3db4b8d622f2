"""The Approvals API's keys: which program may ask, in which channels, how much.

A key is shown once (`aak_…`) and kept only as its sha256 (it is 256 random bits, so a plain hash is
enough): `apikey:<sha256>` holds its name, channels, creator, limits and webhook secret (kept in the
clear: it signs the webhooks); `apikeys` maps names to hashes, for listing and revoking by name.
Creating and revoking are one Lua step each, audited; a revoked key is refused by the next request, and its
approvals still pending are withdrawn in the revoking step itself (`lua/revoke_api_key.lua`: the decide step, so
their cards say so and nobody can approve them any more). Its record stays a while as a tombstone (`revoked_at`,
`revoked_by`, no webhook secret), so that a later request with it is refused naming it, and audited.

A key's `id` comes from its hash, so it never changes and is never another key's: per key id,
`apirate:<id>:<minute>` counts requests in the current minute and `apipending:<id>` holds the ids of the
approvals it asked for that may still be pending (kept by the open step, `lua/open_approval.lua`, which
refuses a new one at the key's `max_pending` in the same atomic step).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from bot.core.records import DEFAULT_MAX_PENDING, DEFAULT_PER_MINUTE, ApiKey, ApprovalRecord, NewKey, key_id_of
from bot.core.workspaces import WorkspaceRef
from bot.store.codec import approval_from, pairs
from bot.store.connection import aw
from bot.store.keys import DECIDED_RETENTION_SECONDS
from bot.store.shared import Shared

KEY_PREFIX = "aak_"
SECRET_PREFIX = "whsec_"
KEY_TEXT = re.compile(r"^aak_[A-Za-z0-9_-]{43}$")
MAX_CHANNELS = 50
REVOKE_TRIES = 5


@dataclass(frozen=True, slots=True)
class Revoked:
    """A key revoked: its name and id, and the approvals it had pending, withdrawn in the same step."""

    name: str
    key_id: str
    withdrawn: list[ApprovalRecord]


def digest_of_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def id_of_key(key: str) -> str:
    """The id of the key `key` (`k-…`, its receipts' `aud`): what its holder can work out, and nobody else."""
    return key_id_of(digest_of_key(key))


class ApiKeys:
    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self._k = shared.keys

    async def create(
        self,
        name: str,
        channels: Sequence[str],
        *,
        by: str,
        max_pending: int = DEFAULT_MAX_PENDING,
        per_minute: int = DEFAULT_PER_MINUTE,
        workspace: WorkspaceRef | None = None,
    ) -> NewKey | None:
        """A new key named `name` for `channels` (the first is its default) of `workspace` (None: the home one);
        None when the name is taken. The caller has checked the name (`KEY_NAME`), the channels and workspace."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(
            name=name,
            channels=tuple(dict.fromkeys(channels)),
            created_by=by,
            created_at=time.time(),
            webhook_secret=SECRET_PREFIX + secrets.token_urlsafe(32),
            max_pending=max_pending,
            per_minute=per_minute,
            team=workspace.team if workspace is not None else "",
            enterprise=(workspace.enterprise or "") if workspace is not None else "",
        )
        digest = digest_of_key(key)
        record = replace(record, id=key_id_of(digest))
        created = await self._s.script("create_api_key")(
            keys={"names": self._k.api_key_names, "record": self._k.api_key(digest), "audit": self._k.audit,
                  "audit_seq": self._k.audit_seq, "audit_shards": self._k.audit_shards},
            args={
                "name": name,
                "digest": digest,
                "fields": record.to_fields(),
                "audit": {"event": "api_key_created", "at": repr(record.created_at), "key": name, "by": by,
                          "channels": ",".join(record.channels), **workspace_fields(record)},
            },
        )
        return NewKey(key, record) if created == "ok" else None

    async def verify(self, key: str) -> ApiKey | None:
        """The key's record, if `key` is a key that stands (one Redis command); None otherwise."""
        if not KEY_TEXT.fullmatch(key):
            return None
        digest = digest_of_key(key)
        raw = await aw(self._s.redis.hgetall(self._k.api_key(digest)))
        return ApiKey.from_fields(raw, digest=digest) if raw and "revoked_at" not in raw else None

    async def all(self) -> list[ApiKey]:
        """Every key that stands, by name."""
        names = await aw(self._s.redis.hgetall(self._k.api_key_names))
        if not names:
            return []
        digests = [names[name] for name in sorted(names)]
        async with self._s.redis.pipeline(transaction=False) as pipe:
            for digest in digests:
                pipe.hgetall(self._k.api_key(digest))
            replies = await pipe.execute()
        found = (ApiKey.from_fields(raw, digest=digest) for raw, digest in zip(replies, digests, strict=True) if raw)
        return [key for key in found if key is not None]

    async def get(self, name: str) -> ApiKey | None:
        digest = await aw(self._s.redis.hget(self._k.api_key_names, name))
        if digest is None:
            return None
        raw = await aw(self._s.redis.hgetall(self._k.api_key(digest)))
        return ApiKey.from_fields(raw, digest=digest) if raw else None

    async def stands(self, key: ApiKey) -> bool:
        """Whether `key` (read earlier) still stands: not revoked, its name not given to another key since."""
        digest = await aw(self._s.redis.hget(self._k.api_key_names, key.name))
        return digest is not None and key_id_of(str(digest)) == key.id

    async def revoke(self, name: str, *, by: str, card_grace: float | None = None) -> Revoked | None:
        """Revoke the key named `name` (`by`: who, audited): from this step on it is refused, and each approval it
        asked that is still pending is withdrawn in the same step (the decide step: its card is due a redraw saying
        "withdrawn: key NAME revoked", its long-polls wake). None when there is no such key. `card_grace`: seconds
        before any worker redraws the withdrawn cards (the store's own by default; 0 from a command that runs no
        worker, so the next worker's outbox round draws them)."""
        digest = await aw(self._s.redis.hget(self._k.api_key_names, name))
        if digest is None:
            return None
        key_id = key_id_of(str(digest))
        grace = self._s.card_grace if card_grace is None else card_grace
        for _ in range(REVOKE_TRIES):  # an approval asked between the read and the step: read again
            ids = sorted(str(i) for i in await aw(self._s.redis.smembers(self._k.api_pending(key_id))))
            result = await self._revoke_step(name, str(digest), key_id, ids, by=by, card_grace=grace)
            if result[0] == "missing":
                return None
            if result[0] == "ok":
                withdrawn = [approval_from(pairs(flat)) for flat, _ in result[1]]
                return Revoked(name=name, key_id=key_id, withdrawn=withdrawn)
        raise RuntimeError(f"the key {name} could not be revoked: it kept asking for approvals meanwhile")

    async def _revoke_step(
        self, name: str, digest: str, key_id: str, ids: list[str], *, by: str, card_grace: float
    ) -> list[Any]:
        """One try of `lua/revoke_api_key.lua`, with the key's approvals `ids` that may be pending."""
        k, now = self._k, time.time()
        return list(await self._s.script("revoke_api_key")(
            keys={"names": k.api_key_names, "record": k.api_key(digest), "pending": k.api_pending(key_id),
                  "audit": k.audit, "audit_seq": k.audit_seq, "audit_shards": k.audit_shards,
                  "deadlines": k.deadlines, "nudges": k.nudges, "waiting": k.waiting, "outbox": k.outbox,
                  "changes": k.changes, "webhooks": k.webhooks,
                  "approvals": [key for i in ids for key in (k.approval(i), k.texts(i), k.votes(i))]},
            args={"name": name, "digest": digest, "by": by, "now": repr(now), "ids": ids,
                  "reason": f"withdrawn: key {name} revoked",
                  "audit": {"event": "api_key_revoked", "at": repr(now), "key": name, "key_id": key_id, "by": by},
                  "worker_channels": k.worker_channels, "retention": str(DECIDED_RETENTION_SECONDS),
                  "card_grace": repr(card_grace)},
        ))

    async def revoked(self, key: str) -> str | None:
        """The name of the revoked key `key`, while its tombstone lasts (`DECIDED_RETENTION_SECONDS`); None for a
        key that stands or that was never one."""
        if not KEY_TEXT.fullmatch(key):
            return None
        raw = await aw(self._s.redis.hmget(self._k.api_key(digest_of_key(key)), ["name", "revoked_at"]))
        return str(raw[0]) if raw[0] and raw[1] else None

    async def count_request(self, key: ApiKey, *, now: float) -> float:
        """Count one request of `key` in the current minute: 0 when within its limit, else the seconds
        until the next minute (for `Retry-After`)."""
        minute = int(now // 60)
        counter = self._k.api_rate(key.id, minute)
        async with self._s.redis.pipeline(transaction=False) as pipe:
            pipe.incr(counter)
            pipe.expire(counter, 120)
            count, _ = await pipe.execute()
        return 0.0 if int(count) <= key.per_minute else (minute + 1) * 60 - now


def workspace_fields(key: ApiKey) -> dict[str, str]:
    """The workspace a key is bound to, as its audit entries name it (nothing for the home one's, unnamed)."""
    return {name: value for name, value in (("team", key.team), ("enterprise", key.enterprise)) if value}


def describe(key: ApiKey) -> str:
    """One line about a key, for `keys list` (never the key or its secret)."""
    when = time.strftime("%Y-%m-%d", time.gmtime(key.created_at))
    return json.dumps(
        {"name": key.name, "id": key.id, "channels": list(key.channels), "created_by": key.created_by, "created": when,
         "max_pending": key.max_pending, "per_minute": key.per_minute, "team": key.team or "home",
         **({"enterprise": key.enterprise} if key.enterprise else {})}
    )

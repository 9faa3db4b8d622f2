"""The Approvals API's keys: which program may ask, in which channels, how much.

A key is shown once (`aak_…`) and kept only as its sha256 (it is 256 random bits, so a plain hash is
enough): `apikey:<sha256>` holds its name, channels, creator, limits and webhook secret (kept in the
clear: it signs the webhooks); `apikeys` maps names to hashes, for listing and revoking by name.
Creating and revoking are one Lua step each, audited; a revoked key is refused by the next request.

Per key, `apirate:<name>:<minute>` counts requests in the current minute and `apipending:<name>` holds
the ids of the approvals it asked for that may still be pending (cleaned as they are read).
"""

from __future__ import annotations

import hashlib
import json
import re
import secrets
import time
from collections.abc import Sequence

from bot.core.records import DEFAULT_MAX_PENDING, DEFAULT_PER_MINUTE, ApiKey, NewKey
from bot.store.connection import aw
from bot.store.shared import Shared

KEY_PREFIX = "aak_"
SECRET_PREFIX = "whsec_"
KEY_TEXT = re.compile(r"^aak_[A-Za-z0-9_-]{43}$")
MAX_CHANNELS = 50


def digest_of_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


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
    ) -> NewKey | None:
        """A new key named `name` for `channels` (the first is its default); None when the name is taken.
        The caller has checked the name (`KEY_NAME`) and the channels."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        record = ApiKey(
            name=name,
            channels=tuple(dict.fromkeys(channels)),
            created_by=by,
            created_at=time.time(),
            webhook_secret=SECRET_PREFIX + secrets.token_urlsafe(32),
            max_pending=max_pending,
            per_minute=per_minute,
        )
        digest = digest_of_key(key)
        created = await self._s.script("create_api_key")(
            keys={"names": self._k.api_key_names, "record": self._k.api_key(digest), "audit": self._k.audit},
            args={
                "name": name,
                "digest": digest,
                "fields": record.to_fields(),
                "audit": {"event": "api_key_created", "at": repr(record.created_at), "key": name, "by": by,
                          "channels": ",".join(record.channels)},
                "audit_minid": self._s.audit_minid(),
            },
        )
        return NewKey(key, record) if created == "ok" else None

    async def verify(self, key: str) -> ApiKey | None:
        """The key's record, if `key` is a key that stands (one Redis command); None otherwise."""
        if not KEY_TEXT.fullmatch(key):
            return None
        raw = await aw(self._s.redis.hgetall(self._k.api_key(digest_of_key(key))))
        return ApiKey.from_fields(raw) if raw else None

    async def all(self) -> list[ApiKey]:
        """Every key that stands, by name."""
        names = await aw(self._s.redis.hgetall(self._k.api_key_names))
        if not names:
            return []
        async with self._s.redis.pipeline(transaction=False) as pipe:
            for name in sorted(names):
                pipe.hgetall(self._k.api_key(names[name]))
            replies = await pipe.execute()
        return [key for raw in replies if raw and (key := ApiKey.from_fields(raw)) is not None]

    async def get(self, name: str) -> ApiKey | None:
        digest = await aw(self._s.redis.hget(self._k.api_key_names, name))
        if digest is None:
            return None
        raw = await aw(self._s.redis.hgetall(self._k.api_key(digest)))
        return ApiKey.from_fields(raw) if raw else None

    async def revoke(self, name: str, *, by: str) -> bool:
        """Revoke the key named `name`: from this step on it is refused. False when there is none."""
        digest = await aw(self._s.redis.hget(self._k.api_key_names, name))
        if digest is None:
            return False
        revoked = await self._s.script("revoke_api_key")(
            keys={"names": self._k.api_key_names, "record": self._k.api_key(digest), "audit": self._k.audit},
            args={
                "name": name,
                "digest": digest,
                "audit": {"event": "api_key_revoked", "at": repr(time.time()), "key": name, "by": by},
                "audit_minid": self._s.audit_minid(),
            },
        )
        return bool(revoked == "ok")

    async def count_request(self, key: ApiKey, *, now: float) -> float:
        """Count one request of `key` in the current minute: 0 when within its limit, else the seconds
        until the next minute (for `Retry-After`)."""
        minute = int(now // 60)
        counter = self._k.api_rate(key.name, minute)
        async with self._s.redis.pipeline(transaction=False) as pipe:
            pipe.incr(counter)
            pipe.expire(counter, 120)
            count, _ = await pipe.execute()
        return 0.0 if int(count) <= key.per_minute else (minute + 1) * 60 - now

    async def full(self, key: ApiKey) -> bool:
        """Whether the key has `max_pending` approvals pending. One SCARD while under the limit; at it, the
        approvals decided since are forgotten first (their statuses read once, then taken out of the set)."""
        name = self._k.api_pending(key.name)
        if await aw(self._s.redis.scard(name)) < key.max_pending:
            return False
        ids = sorted(await aw(self._s.redis.smembers(name)))
        async with self._s.redis.pipeline(transaction=False) as pipe:
            for approval_id in ids:
                pipe.hget(self._k.approval(approval_id), "status")
            statuses = await pipe.execute()
        done = [i for i, status in zip(ids, statuses, strict=True) if status != "pending"]
        if done:
            await aw(self._s.redis.srem(name, *done))
        return len(ids) - len(done) >= key.max_pending

    async def note_pending(self, key: ApiKey, approval_id: str) -> None:
        await aw(self._s.redis.sadd(self._k.api_pending(key.name), approval_id))


def describe(key: ApiKey) -> str:
    """One line about a key, for `keys list` (never the key or its secret)."""
    when = time.strftime("%Y-%m-%d", time.gmtime(key.created_at))
    return json.dumps(
        {"name": key.name, "channels": list(key.channels), "created_by": key.created_by, "created": when,
         "max_pending": key.max_pending, "per_minute": key.per_minute}
    )

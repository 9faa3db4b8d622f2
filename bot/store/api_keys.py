"""The Approvals API's keys: which program may ask, in which channels, how much.

A key is shown once (`aak_…`) and kept only as its sha256 (it is 256 random bits, so a plain hash is
enough): `apikey:<sha256>` holds its name, channels, creator, limits, expiry (`expires_at`, none by default) and
its webhook secret sealed under SECRETS_KEY (`webhook_sealed`: `kid.v1.…`, bound to the key's id, so a copy of
Redis signs nothing); `apikeys` maps names to hashes, for listing and revoking by name; `apikeys:used` the last
time each key (by id) was used. `webhook_secret`, the field the version before reads, holds no secret (`SEALED`, or
"" for none). A key made where SECRETS_KEY is not set has no webhook secret (its asks with a `callback_url` are
refused saying why). A record of the version before holds its secret in the clear (`webhook_secret`): it is read as
it is and sealed at a worker's start (`seal_clear`).
Creating and rotating are one Lua step each, revoking two (one per slot), audited; a revoked key is refused by the
next request, and its approvals still pending are withdrawn right after, in its workspace's data
(bot/store/key_revocation.py: the decide step, so their cards say so and nobody can approve them any more). Its record
stays a while as a tombstone (`revoked_at`, `revoked_by`, no webhook secret), so that a later request with it is
refused naming it, and audited.

`keys rotate` (`lua/rotate_api_key.lua`) makes a new key and webhook secret under the same name and id: the old key
works until the grace the operator gives ends (its record's `expires_at`, `rotated_at`), and deliveries are signed
with both secrets meanwhile (`previous_sealed`, `previous_until` on the new record), so a delivery in flight or a
receiver not yet told the new secret loses nothing.

A key's `id` comes from its hash (a rotated key keeps the id of the key it replaced, in its record's `id`), so it never
changes and is never another key's: per key id, `apirate:<id>:<minute>` counts requests in the current minute and
`apipending:<id>` holds the ids of the approvals it asked for that may still be pending (kept by the open step,
`lua/open_approval.lua`, which refuses a new one at the key's `max_pending` in the same atomic step).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TypedDict, Unpack

from bot.core.key_records import DEFAULT_MAX_PENDING, DEFAULT_PER_MINUTE, ApiKey, NewKey, key_id_of
from bot.core.sealing import SealError
from bot.core.workspaces import WorkspaceRef
from bot.store.connection import aw
from bot.store.due import DueWork
from bot.store.hidden import HiddenValues
from bot.store.key_revocation import Revocation, Revoked, SharedOf
from bot.store.keys import DECIDED_RETENTION_SECONDS
from bot.store.shared import Shared

log = logging.getLogger(__name__)

KEY_PREFIX = "aak_"
SECRET_PREFIX = "whsec_"
# what `webhook_secret` holds once the secret is sealed apart: a record of this version stays readable by the version
# before (a rolling upgrade), which signs with this, no secret (a relay refuses it; a worker of this version resends)
SEALED = "sealed: see webhook_sealed"
KEY_TEXT = re.compile(r"^aak_[A-Za-z0-9_-]{43}$")
MAX_CHANNELS = 50


class KeyTerms(TypedDict, total=False):
    """A new key's terms, each optional: its limits (`max_pending`, `per_minute`: the defaults), its `workspace`
    (None: the home one), how long it works (`expires_in` seconds; 0: until revoked), and more of who made it for
    the audit entry (`operator`: `bot.core.operators.Operator.fields`)."""

    max_pending: int
    per_minute: int
    workspace: WorkspaceRef | None
    expires_in: float
    operator: Mapping[str, str] | None
    sponsor: str


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a key that was one is refused: its name, the audit's reason (`key_revoked`, `key_expired`, `key_rotated`)
    and the message said to its holder."""

    name: str
    reason: str
    message: str


def digest_of_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def id_of_key(key: str) -> str:
    """The id of the key `key` (`k-…`, its receipts' `aud`): what its holder can work out, and nobody else."""
    return key_id_of(digest_of_key(key))


class ApiKeys:
    def __init__(self, shared: Shared, hidden: HiddenValues, *, shared_of: SharedOf) -> None:
        self._s = shared
        self._revocation = Revocation(shared, shared_of)  # each part of a revoke on its slot
        self._k = shared.keys
        self._due = DueWork(shared)  # the worker-wide index of due work (bot/store/due.py)
        self._hidden = hidden  # its keyring (SECRETS_KEY) seals the webhook secrets
        self._said: set[str] = set()  # keys whose sealed secret did not open, said once

    async def create(self, name: str, channels: Sequence[str], *, by: str, **terms: Unpack[KeyTerms]) -> NewKey | None:
        """A new key named `name` for `channels` (the first is its default), on `terms`; None when the name is taken.
        The caller has checked the name (`KEY_NAME`), the channels and workspace. Without SECRETS_KEY it has no
        webhook secret."""
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        digest, now = digest_of_key(key), time.time()
        workspace, expires_in = terms.get("workspace"), terms.get("expires_in", 0.0)
        record = ApiKey(
            name=name,
            channels=tuple(dict.fromkeys(channels)),
            created_by=by,
            created_at=now,
            webhook_secret=self._new_secret(),
            max_pending=terms.get("max_pending", DEFAULT_MAX_PENDING),
            per_minute=terms.get("per_minute", DEFAULT_PER_MINUTE),
            team=workspace.team if workspace is not None else "",
            enterprise=(workspace.enterprise or "") if workspace is not None else "",
            id=key_id_of(digest),
            expires_at=now + expires_in if expires_in else 0.0,
        )
        created = await self._s.script("create_api_key")(
            keys={"names": self._k.api_key_names, "record": self._k.api_key(digest), "audit": self._k.audit,
                  "audit_seq": self._k.audit_seq, "audit_shards": self._k.audit_shards},
            args={
                "name": name,
                "digest": digest,
                "fields": {**record.to_fields(), **self._sealed(record)},
                "audit": {"event": "api_key_created", "at": repr(now), "key": name, "by": by,
                          "channels": ",".join(record.channels), **workspace_fields(record),
                          **({"expires_at": repr(record.expires_at)} if record.expires_at else {}),
                          **(terms.get("operator") or {})},
            },
        )
        if created != "ok":
            return None
        sponsor = terms.get("sponsor", "")
        if sponsor and await self.set_sponsor(name, sponsor, by=by, operator=terms.get("operator")) == "ok":
            record = replace(record, sponsor=sponsor)
        return NewKey(key, record)

    async def set_sponsor(
        self, name: str, sponsor: str, *, by: str, operator: Mapping[str, str] | None = None
    ) -> str:
        """Name `sponsor` (a Slack user id; "" for none) the person accountable for the key named `name`: "ok"
        (audited `key_sponsor`: key id, sponsor, by), "same" (it was so: nothing written) or "missing" (no such key).
        A sponsor named anew is one who has not left (`sponsor_left` is said again if they leave)."""
        digest = await aw(self._s.redis.hget(self._k.api_key_names, name))
        if digest is None:
            return "missing"
        key_id = await aw(self._s.redis.hget(self._k.api_key(str(digest)), "id")) or key_id_of(str(digest))
        return str(await self._s.script("set_key_sponsor")(
            keys={"names": self._k.api_key_names, "record": self._k.api_key(str(digest)), "audit": self._k.audit,
                  "audit_seq": self._k.audit_seq, "audit_shards": self._k.audit_shards},
            args={"name": name, "digest": str(digest), "sponsor": sponsor,
                  "audit": {"event": "key_sponsor", "at": repr(time.time()), "key": name, "key_id": str(key_id),
                            "sponsor": sponsor, "by": by, **(operator or {})}},
        ))

    async def sponsored_by(self, person: str) -> list[ApiKey]:
        """The keys that stand whose sponsor is `person`."""
        return [key for key in await self.all() if key.sponsor == person]

    async def sponsor_left(self, key: ApiKey) -> bool:
        """Note that `key`'s sponsor has left (deactivated in Slack), once whoever notes it and however often
        (Slack retries events; every worker may hear it): True for the one call that noted it (audited
        `sponsor_left`: key id, sponsor), which then says it to the admins."""
        digest = await aw(self._s.redis.hget(self._k.api_key_names, key.name))
        if digest is None:
            return False
        now = time.time()
        done = await self._s.script("sponsor_left")(
            keys={"record": self._k.api_key(str(digest)), "audit": self._k.audit, "audit_seq": self._k.audit_seq,
                  "audit_shards": self._k.audit_shards},
            args={"sponsor": key.sponsor, "now": repr(now),
                  "audit": {"event": "sponsor_left", "at": repr(now), "key": key.name, "key_id": key.id,
                            "sponsor": key.sponsor}},
        )
        return str(done) == "ok"

    async def rotate(
        self, name: str, *, by: str, grace: float, expires_in: float | None = None,
        operator: Mapping[str, str] | None = None,
    ) -> NewKey | None:
        """A new key and webhook secret for the key named `name`, same name, id, channels, limits and workspace; the
        old key works `grace` seconds more (then 401) and deliveries are signed with both secrets meanwhile.
        `expires_in`: the new key's lifetime (None: as long as the old one's was; 0: none). None when there is no
        such key. Audited (`api_key_rotated`)."""
        digest = await aw(self._s.redis.hget(self._k.api_key_names, name))
        old = None if digest is None else await self._read(str(digest))
        if old is None or digest is None:
            return None
        key = KEY_PREFIX + secrets.token_urlsafe(32)
        new_digest, now = digest_of_key(key), time.time()
        if expires_in is None:
            expires_in = old.expires_at - old.created_at if old.expires_at else 0.0
        until = now + grace
        record = replace(old, created_by=by, created_at=now, webhook_secret=self._new_secret(),
                         expires_at=now + expires_in if expires_in else 0.0, previous=str(digest),
                         webhook_previous=old.webhook_secret, previous_until=until, rotated_at=0.0)
        done = await self._s.script("rotate_api_key")(
            keys={"names": self._k.api_key_names, "record": self._k.api_key(str(digest)),
                  "new_record": self._k.api_key(new_digest), "audit": self._k.audit, "audit_seq": self._k.audit_seq,
                  "audit_shards": self._k.audit_shards},
            args={
                "name": name, "digest": str(digest), "new_digest": new_digest, "now": repr(now),
                "until": repr(until), "keep": str(int(grace) + DECIDED_RETENTION_SECONDS),
                "fields": {**record.to_fields(), **self._sealed(record)},
                "audit": {"event": "api_key_rotated", "at": repr(now), "key": name, "key_id": old.id, "by": by,
                          "grace_until": repr(until), **workspace_fields(record),
                          **({"expires_at": repr(record.expires_at)} if record.expires_at else {}),
                          **(operator or {})},
            },
        )
        return NewKey(key, record) if done == "ok" else None

    def _new_secret(self) -> str:
        """A new webhook secret: "" (none) without SECRETS_KEY, which would keep it sealed."""
        return SECRET_PREFIX + secrets.token_urlsafe(32) if self._hidden.keyring is not None else ""

    def _sealed(self, key: ApiKey) -> dict[str, str]:
        """`key`'s webhook secrets sealed under SECRETS_KEY, bound to its id (a sealed secret moved onto another key
        does not open), and `webhook_secret`, the field the version before reads, holding no secret (`SEALED`)."""
        ring = self._hidden.keyring
        if ring is None or not key.webhook_secret:
            return {"webhook_secret": ""}  # (the version before reads the field: a key with none signs nothing)
        found = {"webhook_secret": SEALED, "webhook_sealed": ring.seal(key.webhook_secret, bound=bound_of(key.id))}
        if key.webhook_previous:
            found["previous_sealed"] = ring.seal(key.webhook_previous, bound=bound_of(key.id))
        return found

    def _from(self, raw: dict[str, str], digest: str) -> ApiKey | None:
        """The key stored as `raw`, its webhook secrets opened ("" where they do not open: logged, nothing signed)."""
        key_id = raw.get("id") or key_id_of(digest)
        opened = {}
        for field, sealed_field in (("webhook_secret", "webhook_sealed"), ("webhook_previous", "previous_sealed")):
            sealed, clear = raw.get(sealed_field), raw.get("webhook_secret") if field == "webhook_secret" else None
            if clear is not None and sealed is None:  # the version before's, in the clear (sealed at start), or ""
                opened[field] = clear
            elif sealed is not None and self._hidden.keyring is not None:
                try:
                    opened[field] = self._hidden.keyring.open(sealed, bound=bound_of(key_id),
                                                              what=f"the webhook secret of key {raw.get('name')}")
                except SealError as exc:
                    if key_id not in self._said:  # (said once per key: every request of it reads it)
                        self._said.add(key_id)
                        log.error("%s: its deliveries are not signed here", exc)
            # (sealed, no SECRETS_KEY here: none; the webhook sender says so, and a worker that has it sends them)
        return ApiKey.from_fields(raw, digest=digest, **opened)

    async def _read(self, digest: str) -> ApiKey | None:
        raw = await aw(self._s.redis.hgetall(self._k.api_key(digest)))
        return self._from(raw, digest) if raw and "revoked_at" not in raw else None

    async def seal_clear(self) -> int:
        """Seal the webhook secrets a version before this one kept in the clear (at a worker's start, with
        SECRETS_KEY; said at INFO), else warn that they stay so (docs/operators/upgrades.md); how many were sealed.
        Each in one Lua step (`lua/seal_webhook_secret.lua`), which changes a record only while it still holds that
        clear secret (a key revoked or rotated meanwhile is left alone)."""
        ring = self._hidden.keyring
        if ring is None:
            if any(key.webhook_secret for key in await self.all()):
                log.warning("SECRETS_KEY is not set: API keys' webhook secrets made by the version before stay in the"
                            " clear in Redis (a copy of it could sign their webhooks); set SECRETS_KEY and they are"
                            " sealed at the next start")
            return 0
        sealed = 0
        for digest in {str(d) for d in (await aw(self._s.redis.hgetall(self._k.api_key_names))).values()}:
            raw = await aw(self._s.redis.hmget(self._k.api_key(digest), ["webhook_secret", "id", "webhook_sealed"]))
            if not raw[0] or raw[2]:
                continue
            key_id = str(raw[1] or key_id_of(digest))
            done = await self._s.script("seal_webhook_secret")(
                keys={"record": self._k.api_key(digest)},
                args={"clear": str(raw[0]), "sealed": ring.seal(str(raw[0]), bound=bound_of(key_id)), "mark": SEALED},
            )
            sealed += int(done)
        if sealed:
            log.info("sealed %d API key webhook secret(s) kept in the clear by the version before", sealed)
        return sealed

    async def verify(self, key: str, *, now: float | None = None) -> ApiKey | None:
        """The key's record, if `key` is a key that stands and has not expired (one Redis command); None otherwise
        (`refusal` says why)."""
        if not KEY_TEXT.fullmatch(key):
            return None
        found = await self._read(digest_of_key(key))
        return None if found is None or found.expired(time.time() if now is None else now) else found

    async def all(self) -> list[ApiKey]:
        """Every key that stands, by name."""
        found = (self._from(raw, digest) for raw, digest in await self._records())
        return [key for key in found if key is not None]

    async def sponsors_to_ask(self, now: float) -> list[ApiKey]:
        """The keys that work at `now` whose sponsor's leaving is not noted (`sponsor_left`): those whose sponsors
        the workers ask Slack about again (deactivated without the `user_change` event reaching the bot)."""
        found = (self._from(raw, digest) for raw, digest in await self._records()
                 if raw.get("sponsor") and "sponsor_left_at" not in raw and "revoked_at" not in raw)
        return [key for key in found if key is not None and not key.expired(now)]

    async def _records(self) -> list[tuple[dict[str, str], str]]:
        """The record and sha256 of every key that stands, by name."""
        names = await aw(self._s.redis.hgetall(self._k.api_key_names))
        if not names:
            return []
        digests = [names[name] for name in sorted(names)]
        async with self._s.redis.pipeline(transaction=False) as pipe:
            for digest in digests:
                pipe.hgetall(self._k.api_key(digest))
            replies = await pipe.execute()
        return [(raw, digest) for raw, digest in zip(replies, digests, strict=True) if raw]

    async def last_used(self, keys: Sequence[ApiKey]) -> dict[str, float]:
        """When each of `keys` was last used (by id; absent: never, or not since this was kept)."""
        if not keys:
            return {}
        found = await aw(self._s.redis.hmget(self._k.api_key_used, [key.id for key in keys]))
        return {key.id: float(when) for key, when in zip(keys, found, strict=True) if when}

    async def get(self, name: str) -> ApiKey | None:
        digest = await aw(self._s.redis.hget(self._k.api_key_names, name))
        if digest is None:
            return None
        raw = await aw(self._s.redis.hgetall(self._k.api_key(digest)))
        return self._from(raw, str(digest)) if raw else None

    async def stands(self, key: ApiKey) -> bool:
        """Whether `key` (read earlier) still stands: not revoked, its name not given to another key since (a key
        rotated stands as long as its name names its id)."""
        digest = await aw(self._s.redis.hget(self._k.api_key_names, key.name))
        if digest is None:
            return False
        named = await aw(self._s.redis.hget(self._k.api_key(str(digest)), "id"))
        return str(named or key_id_of(str(digest))) == key.id
    async def revoke(
        self, name: str, *, by: str, card_grace: float | None = None, operator: Mapping[str, str] | None = None
    ) -> Revoked | None:
        """Revoke the key named `name` (`by`: who, audited): from the first step on it is refused, then each approval
        it asked that is still pending is withdrawn (the decide step, in its workspace's data: its card is due a
        redraw saying "withdrawn: key NAME revoked", its long-polls wake): bot/store/key_revocation.py. None when
        there is no such key. `card_grace`: seconds before any worker redraws the withdrawn cards (the store's own
        by default; 0 from a command that runs no worker, so the next worker's outbox round draws them)."""
        return await self._revocation.revoke(name, by=by, card_grace=card_grace, operator=operator or {})

    async def refusal(self, key: str, *, now: float | None = None) -> Refusal | None:
        """Why `key` is refused, when it was a key (its name, the reason and a message in words): revoked (while
        its tombstone lasts, `DECIDED_RETENTION_SECONDS`), replaced by `keys rotate` and its grace over, or expired;
        None for a key that stands or that was never one."""
        if not KEY_TEXT.fullmatch(key):
            return None
        raw = await aw(self._s.redis.hmget(self._k.api_key(digest_of_key(key)),
                                           ["name", "revoked_at", "expires_at", "rotated_at"]))
        name, revoked_at, expires_at, rotated_at = (str(v) if v else "" for v in raw)
        if not name:
            return None
        if revoked_at:
            return Refusal(name, "key_revoked", f"the API key {name} was revoked: nothing it asked may run")
        if expires_at and (time.time() if now is None else now) >= float(expires_at):
            when = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(float(expires_at)))
            if rotated_at:
                return Refusal(name, "key_rotated", f"the API key {name} was replaced (keys rotate) and its grace"
                               f" ended at {when}: use the new key")
            return Refusal(name, "key_expired", f"the API key {name} expired at {when}: ask its operator for a"
                           " new one (python -m bot keys rotate)")
        return None

    async def count_request(self, key: ApiKey, *, now: float) -> float:
        """Count one request of `key` in the current minute: 0 when within its limit, else the seconds
        until the next minute (for `Retry-After`)."""
        minute = int(now // 60)
        counter = self._k.api_rate(key.id, minute)
        async with self._s.redis.pipeline(transaction=False) as pipe:
            pipe.incr(counter)
            pipe.expire(counter, 120)
            pipe.hset(self._k.api_key_used, key.id, repr(now))  # `keys list`'s last used
            count, _, _ = await pipe.execute()
        return 0.0 if int(count) <= key.per_minute else (minute + 1) * 60 - now


def workspace_fields(key: ApiKey) -> dict[str, str]:
    """The workspace a key is bound to, as its audit entries name it (nothing for the home one's, unnamed)."""
    return {name: value for name, value in (("team", key.team), ("enterprise", key.enterprise)) if value}


def describe(key: ApiKey, *, last_used: float | None = None) -> str:
    """One line about a key, for `keys list` (never the key or its secret): `last_used` (UTC, to the minute;
    "never" when unknown), `expires` when it does, `webhook_secret` "none" when it has none, `sponsor` the person
    accountable for it ("none" until one is named: `keys sponsor`)."""
    def day(when: float) -> str:
        return time.strftime("%Y-%m-%d", time.gmtime(when))

    used = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(last_used)) if last_used else "never"
    return json.dumps(
        {"name": key.name, "id": key.id, "channels": list(key.channels), "created_by": key.created_by,
         "created": day(key.created_at), "last_used": used,
         **({"expires": day(key.expires_at)} if key.expires_at else {}),
         "max_pending": key.max_pending, "per_minute": key.per_minute, "team": key.team or "home",
         **({"enterprise": key.enterprise} if key.enterprise else {}),
         **({} if key.webhook_secret else {"webhook_secret": "none"}),
         "sponsor": key.sponsor or "none"}
    )


def bound_of(key_id: str) -> str:
    """What a key's sealed webhook secret is bound to: its id (a copy onto another key's record does not open)."""
    return f"webhook:{key_id}"

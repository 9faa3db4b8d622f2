"""Fit to decide (issue 80.5): the briefs people attest to, each person's attestations and their reminders.

    attest:brief:<scope>   hash   {text, valid, by, at}: the brief its owner wrote, how long an attestation lasts
    attest:<user>          hash   {scope: until}: the person's attestations (one past `until` no longer counts)
    attest:due             zset   "<user> <scope>" by when its reminder is due (the nudger's due work:
                                  bot/store/due.py indexes it with the reminders of approvals)

An attestation, a grant and a revoke are one Lua step each, audited in it (`lua/attest.lua`): `attested` (by, scope,
until), `attestation_granted` / `attestation_revoked` (by: the admin, person, scope, until). Brief writes are audited
`attestation_brief` (by, scope, valid). A reminder is taken once by whichever worker removes it (`ZREM`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

from bot.core.attestations import REMIND_BEFORE, SCOPE
from bot.store.audit import AuditLog
from bot.store.connection import aw
from bot.store.due import DueWork
from bot.store.shared import Shared


@dataclass(frozen=True, slots=True)
class Brief:
    """A brief as its owner wrote it: its text, how long an attestation to it is valid (seconds), who, when."""

    scope: str
    text: str
    valid: int
    by: str
    at: float


@dataclass(frozen=True, slots=True)
class Reminder:
    """An attestation about to end: whose, to what, until when."""

    user: str
    scope: str
    until: float


class Attestations:
    def __init__(self, shared: Shared, audit: AuditLog) -> None:
        self._s = shared
        self._k = shared.keys
        self._audit = audit
        self._due = DueWork(shared)

    async def brief(self, scope: str) -> Brief | None:
        """The brief of `scope`, None when none was written."""
        if not SCOPE.fullmatch(scope):
            return None
        raw = await aw(self._s.redis.hgetall(self._k.attest_brief(scope)))
        if not raw:
            return None
        return Brief(scope, str(raw.get("text", "")), int(raw.get("valid") or 0), str(raw.get("by", "")),
                     float(raw.get("at") or 0))

    async def write_brief(self, scope: str, *, text: str, valid: int, by: str) -> Brief:
        """Keep `text` as the brief of `scope`, attestations to it valid `valid` seconds; audited."""
        now = time.time()
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.hset(self._k.attest_brief(scope), mapping={"text": text, "valid": str(valid), "by": by,
                                                             "at": repr(now)})
            await pipe.execute()
        await self._audit.append("attestation_brief", by=by, scope=scope, valid=str(valid))
        return Brief(scope, text, valid, by, now)

    async def attest(self, user: str, scope: str, *, valid: int, by: str, now: float | None = None) -> float:
        """`user`'s attestation to `scope`, valid `valid` seconds from `now`: by themselves (`by` == `user`:
        audited `attested`) or granted by an admin (`attestation_granted`). Returns until when."""
        now = time.time() if now is None else now
        until = now + valid
        if by == user:
            entry = {"event": "attested", "by": user, "scope": scope, "until": repr(until)}
        else:
            entry = {"event": "attestation_granted", "by": by, "person": user, "scope": scope, "until": repr(until)}
        await self._step(user, scope, until=repr(until), remind=repr(until - min(REMIND_BEFORE, valid / 2)),
                         audit={"at": repr(now), **entry})
        await self._due.note()  # its reminder is due work of the nudger
        return until

    async def revoke(self, user: str, scope: str, *, by: str) -> bool:
        """An admin's revoke of `user`'s attestation to `scope`: False when they held none (nothing audited)."""
        now = time.time()
        return await self._step(user, scope, until="", remind="", audit={
            "at": repr(now), "event": "attestation_revoked", "by": by, "person": user, "scope": scope, "until": ""})

    async def _step(self, user: str, scope: str, *, until: str, remind: str, audit: dict[str, str]) -> bool:
        k = self._k
        done = await self._s.script("attest")(
            keys={"person": k.attested(user), "due": k.attest_due, "audit": k.audit, "audit_seq": k.audit_seq,
                  "audit_shards": k.audit_shards},
            args={"scope": scope, "until": until, "remind": remind, "member": f"{user} {scope}", "audit": audit},
        )
        return str(done) == "ok"

    async def required(self, approval_id: str) -> tuple[str, ...]:
        """The scopes approval `approval_id` needs each deciding person's attestation to (its `attest`)."""
        found = await aw(self._s.redis.hget(self._k.approval(approval_id), "attest"))
        return tuple(scope for scope in str(found or "").split(",") if SCOPE.fullmatch(scope))

    async def held(self, user: str) -> dict[str, float]:
        """`user`'s attestations: {scope: until} (ended ones too)."""
        raw = await aw(self._s.redis.hgetall(self._k.attested(user)))
        return {str(scope): float(until) for scope, until in raw.items()}

    async def missing(self, user: str, scopes: Sequence[str], *, now: float) -> list[str]:
        """The scopes among `scopes` `user` holds no current attestation to at `now`."""
        if not scopes:
            return []
        found = await aw(self._s.redis.hmget(self._k.attested(user), list(scopes)))
        return [scope for scope, until in zip(scopes, found, strict=True) if not until or float(until) <= now]

    async def take_due(self, now: float, *, limit: int = 100) -> list[Reminder]:
        """The reminders due by `now`, each taken by this call alone (removed: another worker does not take it),
        with their attestation as it stands (one revoked or renewed past the reminder meanwhile is not said)."""
        members = await self._s.redis.zrangebyscore(self._k.attest_due, "-inf", repr(now), start=0, num=limit)
        taken: list[Reminder] = []
        for member in (str(m) for m in members):
            if not await self._s.redis.zrem(self._k.attest_due, member):
                continue  # another worker took it
            user, _, scope = member.partition(" ")
            until = await aw(self._s.redis.hget(self._k.attested(user), scope))
            if until and now < float(until) <= now + REMIND_BEFORE + 60:
                taken.append(Reminder(user, scope, float(until)))
        return taken

    async def remind_again(self, due: Reminder, *, at: float) -> None:
        """A reminder not sent (Slack refused it): due again `at`."""
        await self._s.redis.zadd(self._k.attest_due, {f"{due.user} {due.scope}": at})
        await self._due.note()

    async def next_due(self) -> float | None:
        first = await self._s.redis.zrange(self._k.attest_due, 0, 0, withscores=True)
        return float(first[0][1]) if first else None

"""The e-mail surface in Redis (issue 88): its Review-and-decide links (one record per nonce, single use) and the
mails sent (one record per approval, person and kind, so two workers never send one twice). The key names are in
bot/store/keys_email.py."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal, cast

from bot.store.connection import aw
from bot.store.keys_email import LINK_GRACE, EmailKeys
from bot.store.shared import Shared

Take = Literal["taken", "unknown", "wrong_approval", "wrong_person", "expired", "used"]
Claim = Literal["claimed", "sent", "busy", "later", "given_up"]
Noted = Literal["sent", "retry", "failed"]


@dataclass(frozen=True, slots=True)
class LinkRecord:
    """What a link was made for: `person` deciding `approval` until `expires` (epoch seconds), signed with key `kid`;
    `taken` while a decision uses it."""

    person: str
    approval: str
    expires: float
    kid: str
    taken: bool = False


@dataclass(frozen=True, slots=True)
class SendClaim:
    """A claim on one mail: `state` "claimed" (this sender sends it, `till` its claim, `attempts` made before), or why
    not ("sent", "busy", "later", "given_up", with `detail` the message id, the claim's or retry's time, attempts)."""

    state: Claim
    attempts: int = 0
    till: str = ""
    detail: str = ""

    @property
    def at(self) -> float:
        """The claim's or retry's time the `detail` says (0.0: none, as for "sent")."""
        try:
            return float(self.detail)
        except ValueError:
            return 0.0


class EmailStore:
    def __init__(self, shared: Shared) -> None:
        self._s = shared
        self._k = EmailKeys(shared.keys)

    # links ---------------------------------------------------------------------------------
    async def keep_link(self, nonce: str, record: LinkRecord) -> None:
        """Keep a new link's record, until its expiry and LINK_GRACE more (then it is unknown)."""
        key = self._k.link(nonce)
        ttl = max(1, int(record.expires - time.time())) + LINK_GRACE
        async with self._s.redis.pipeline(transaction=True) as pipe:
            pipe.hset(key, mapping={"person": record.person, "approval": record.approval,
                                    "expires": repr(record.expires), "kid": record.kid, "taken": "0"})
            pipe.expire(key, ttl)
            await pipe.execute()

    async def link(self, nonce: str) -> LinkRecord | None:
        """A link's record as kept, None when there is none (never made, or long gone)."""
        raw = await aw(self._s.redis.hgetall(self._k.link(nonce)))
        if not raw:
            return None
        fields = {_text(k): _text(v) for k, v in raw.items()}
        return LinkRecord(person=fields.get("person", ""), approval=fields.get("approval", ""),
                          expires=float(fields.get("expires") or 0), kid=fields.get("kid", ""),
                          taken=fields.get("taken") == "1")

    async def take_link(self, nonce: str, *, person: str, approval: str, now: float | None = None) -> Take:
        """Take a link for one decision (single use, lua/email_link_take.lua), or say why not."""
        found = await self._s.script("email_link_take")(
            keys={"link": self._k.link(nonce)},
            args={"person": person, "approval": approval, "now": time.time() if now is None else now})
        return cast(Take, _text(found))

    async def release_link(self, nonce: str, *, approval: str) -> bool:
        """Give a taken link back: the decision it was taken for may be tried again (step-up, details, attestation)."""
        found = await self._s.script("email_link_release")(keys={"link": self._k.link(nonce)},
                                                           args={"approval": approval})
        return bool(found)

    # mails sent ----------------------------------------------------------------------------
    async def claim_send(self, approval_id: str, *, person: str, kind: str, seconds: float, ttl: int,
                         now: float | None = None) -> SendClaim:
        """Claim the mail of `kind` to `person` about `approval_id` for `seconds` (lua/email_send_claim.lua)."""
        now = time.time() if now is None else now
        till = repr(now + seconds)
        state, detail = await self._s.script("email_send_claim")(
            keys={"sent": self._k.sent(approval_id)},
            args={"field": _field(person, kind), "now": now, "till": till, "ttl": max(1, ttl)})
        found = cast(Claim, _text(state))
        if found == "claimed":
            return SendClaim("claimed", attempts=int(_text(detail)), till=till)
        return SendClaim(found, detail=_text(detail))

    async def note_send(self, approval_id: str, *, person: str, kind: str, till: str, outcome: Noted,
                        attempts: int, at: float = 0.0, message: str = "") -> bool:
        """Note how a claimed mail went (only while `till` is still the claim: lua/email_send_done.lua)."""
        found = await self._s.script("email_send_done")(
            keys={"sent": self._k.sent(approval_id)},
            args={"field": _field(person, kind), "till": till, "outcome": outcome, "attempts": attempts,
                  "at": repr(at), "message": message})
        return bool(found)

    async def sent_state(self, approval_id: str, *, person: str, kind: str) -> str:
        """The mail's state as kept ("" when never tried): `sent:<id>`, `retry:<at>:<n>`, `failed:<n>`, `sending:…`."""
        raw = await aw(self._s.redis.hget(self._k.sent(approval_id), _field(person, kind)))
        return "" if raw is None else _text(raw)

    async def sent_states(self, approval_id: str) -> dict[str, str]:
        """Every send of `approval_id` as kept: "<person>|<kind>" -> its state (`sent_state`'s, in one read)."""
        raw = await aw(self._s.redis.hgetall(self._k.sent(approval_id)))
        return {_text(k): _text(v) for k, v in raw.items()}


def _field(person: str, kind: str) -> str:
    return f"{person}|{kind}"


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)

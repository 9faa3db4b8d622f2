"""Signed decide links (issue 88; shared by e-mail and push since issue 90): `PUBLIC_URL/<surface>/<approval
id>/<nonce>.<mac>`, one per person and approval, signed, single use, expiring with the approval.

The mac is HMAC-SHA256 over (approval id, person, nonce, expiry) with a key derived from SECRETS_KEY (HKDF-SHA256,
each surface its own label: never the key that seals hidden values). The link itself carries only the nonce and the mac;
what it is for (person, approval, expiry, the key id) is kept in Redis per nonce (`LinkStore`: the surface's store,
bot/store/email.py, bot/store/push.py), so the mac
is checked against the record and a forged or altered link is refused before anything else is read. A GET only
verifies (`check`); a POST that decides takes the link (`take`: atomically, once) and gives it back (`release`)
when the core's answer may be tried again (step-up, details, attestation).

Each refusal is its own word, for the page's status and the audit: `unknown` and `tampered` (404), `wrong_approval`
(404), `expired` and `used` (410), `wrong_person` (403: not the person it was made for, nor the same person by
another account of theirs, as People says: a Slack user signed in whose verified email the link's `email:<address>`
is, #88)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Literal, Protocol, Self
from urllib.parse import quote

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from bot.core.people import CannotCheck
from bot.core.sealing import key_from_text
from bot.store.email import LinkRecord, Take

NEVER_TIMES_OUT: Final = 7 * 86400  # a link to an approval with no deadline lasts this long
TOKEN = re.compile(r"(?P<nonce>[A-Za-z0-9_-]{22})\.(?P<mac>[A-Za-z0-9_-]{43})")
Same = Callable[[str, str], Awaitable[bool]]  # whether two person ids name one person (People's `same`)
Refusal = Literal["unknown", "tampered", "wrong_approval", "wrong_person", "expired", "used"]
STATUS: Final[dict[str, int]] = {"unknown": 404, "tampered": 404, "wrong_approval": 404, "wrong_person": 403,
                                 "expired": 410, "used": 410}


class LinkStore(Protocol):
    """Where a surface keeps its links' records (its own keys; the same single-use steps)."""

    async def keep_link(self, nonce: str, record: LinkRecord) -> None: ...

    async def link(self, nonce: str) -> LinkRecord | None: ...

    async def take_link(self, nonce: str, *, person: str, approval: str, now: float | None = None) -> Take: ...

    async def release_link(self, nonce: str, *, approval: str) -> bool: ...


class LinkKeys:
    """The links' keys, one per SECRETS_KEY key (`kid:KEY,kid:KEY`, the first signs; all verify), each derived with
    HKDF under a surface's label. Never printed."""

    def __init__(self, keys: dict[str, bytes], *, current: str) -> None:
        self._keys = keys
        self.current = current

    @classmethod
    def from_secrets_key(cls, text: str, *, label: bytes, what: str = "links") -> Self:
        """From SECRETS_KEY's text, each key derived under `label` (the surface's own; ValueError when it is empty or
        malformed, naming the setting and `what` needs it, never a key)."""
        derived: dict[str, bytes] = {}
        for part in (p.strip() for p in text.split(",") if p.strip()):
            kid, _, key = part.rpartition(":") if ":" in part else ("k1", "", part)
            derived[kid] = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=label).derive(
                key_from_text(key))
        if not derived:
            raise ValueError(f"{what} need SECRETS_KEY (they are signed with a key derived from it)")
        return cls(derived, current=next(iter(derived)))

    def mac(self, kid: str, *, approval: str, person: str, nonce: str, expires: float) -> str | None:
        key = self._keys.get(kid)
        if key is None:
            return None
        message = "\n".join((approval, person, nonce, repr(expires))).encode()
        return base64.urlsafe_b64encode(hmac.new(key, message, hashlib.sha256).digest()).decode().rstrip("=")


@dataclass(frozen=True, slots=True)
class Checked:
    """A link that passed: its nonce and what it was made for."""

    nonce: str
    record: LinkRecord


@dataclass(frozen=True, slots=True)
class Refused:
    """A link refused, and why (`STATUS[why]` for the page)."""

    why: Refusal

    @property
    def status(self) -> int:
        return STATUS[self.why]


class Links:
    """Makes, checks, takes and gives back the links, over the store's records. `same`: whether a signed-in person is
    the person a link was made for (People's `same`: the Slack user whose verified email an `email:<address>` is,
    #88); without it, only the very id."""

    def __init__(self, store: LinkStore, keys: LinkKeys, *, public_url: str, same: Same | None = None,
                 path: str) -> None:
        self._store = store
        self.path = path  # the links' first path segment: the surface's word
        self._keys = keys
        self._base = public_url.rstrip("/")
        self._same = same

    async def _for(self, person: str, record: LinkRecord) -> bool:
        """Whether `person` (signed in) is the one `record`'s link was made for, through People (never guessed: a
        person People cannot tell now is not them)."""
        if person == record.person or self._same is None:
            return person == record.person
        try:
            return await self._same(person, record.person)
        except CannotCheck:
            return False

    async def make(self, *, approval: str, person: str, deadline: float, now: float | None = None) -> str:
        """A new link for `person` to decide `approval`, valid until its `deadline` (0: it never times out, then
        NEVER_TIMES_OUT from now)."""
        expires = float(deadline) if deadline > 0 else (time.time() if now is None else now) + NEVER_TIMES_OUT
        nonce = secrets.token_urlsafe(16)
        kid = self._keys.current
        mac = self._keys.mac(kid, approval=approval, person=person, nonce=nonce, expires=expires)
        await self._store.keep_link(nonce, LinkRecord(person=person, approval=approval, expires=expires, kid=kid))
        return f"{self._base}/{self.path}/{quote(approval, safe='')}/{nonce}.{mac}"

    async def check(self, approval: str, token: str, *, person: str | None = None,
                    now: float | None = None) -> Checked | Refused:
        """Verify a link as a GET may (nothing is taken): its shape and mac, that it is for `approval`, for `person`
        (when given: the signed-in one), not expired and not used."""
        found = await self._verified(approval, token)
        if isinstance(found, Refused):
            return found
        record = found.record
        if person is not None and not await self._for(person, record):
            return Refused("wrong_person")
        if record.expires <= (time.time() if now is None else now):
            return Refused("expired")
        return Refused("used") if record.taken else found

    async def take(self, approval: str, token: str, *, person: str, now: float | None = None) -> Checked | Refused:
        """Take the link for one decision by `person` (single use: a second take is `used`), the person it was made
        for or, through People, the same person by another account."""
        found = await self._verified(approval, token)
        if isinstance(found, Refused):
            return found
        if person != found.record.person and await self._for(person, found.record):
            person = found.record.person  # (taken as theirs: the store checks the link's own person)
        taken = await self._store.take_link(found.nonce, person=person, approval=approval, now=now)
        return found if taken == "taken" else Refused(taken)

    async def release(self, checked: Checked) -> bool:
        """Give a taken link back (the core's answer may be tried again: step-up, details, attestation)."""
        return await self._store.release_link(checked.nonce, approval=checked.record.approval)

    def csrf(self, checked: Checked, person: str) -> str:
        """The page's CSRF token for `person` on this link (its POST must carry it): bound to the link and the person,
        under the link's own key, apart from its mac (another message)."""
        mac = self._keys.mac(checked.record.kid, approval="csrf:" + checked.record.approval, person=person,
                             nonce=checked.nonce, expires=checked.record.expires)
        return mac or ""

    def csrf_ok(self, checked: Checked, person: str, given: str) -> bool:
        expected = self.csrf(checked, person)
        return bool(expected) and hmac.compare_digest(expected.encode(), given.encode())

    async def _verified(self, approval: str, token: str) -> Checked | Refused:
        match = TOKEN.fullmatch(token)
        if match is None:
            return Refused("tampered")
        record = await self._store.link(match["nonce"])
        if record is None:
            return Refused("unknown")
        expected = self._keys.mac(record.kid, approval=record.approval, person=record.person,
                                  nonce=match["nonce"], expires=record.expires)
        if expected is None or not hmac.compare_digest(expected, match["mac"]):
            return Refused("tampered")
        if record.approval != approval:
            return Refused("wrong_approval")
        return Checked(match["nonce"], record)

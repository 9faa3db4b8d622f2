"""Secrets kept at rest sealed (AES-256-GCM, `cryptography`): Slack's bot and refresh tokens of each installation
are sealed before they reach Redis and opened only where a Web API call needs them (`Sealer`, SLACK_TOKENS_KEY);
hidden values and API keys' webhook secrets are sealed under SECRETS_KEY (`HiddenKeyring`: `kid.v1.…`, so the
key that opens them is named and SECRETS_KEY's keys can be rotated).

A sealed value is `v1.<urlsafe base64 of 12-byte nonce + ciphertext + tag>`; what it belongs to (its installation)
is bound as associated data, so a sealed token copied onto another installation does not open. The key is
`SLACK_TOKENS_KEY`: 32 random bytes, base64 (`python -c "import os,base64;print(base64.b64encode(os.urandom(32))
.decode())"`).

Example:
    `sealer = Sealer.from_text(key); sealer.open(sealer.seal("xoxb-…", bound="T123"), bound="T123") == "xoxb-…"`
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "v1."
KEY_BYTES = 32
NONCE_BYTES = 12
COMMITMENT_LABEL = b"agent-approvals hidden value commitment v1"
KID = re.compile(r"[a-z0-9][a-z0-9_-]{0,15}")  # a SECRETS_KEY key id


class SealError(ValueError):
    """A sealed value that does not open with this key for this owner (another key, altered, or misplaced)."""


def key_from_text(text: str) -> bytes:
    """The 32-byte key of a setting's text (base64, standard or URL-safe); ValueError naming the form."""
    try:
        key = base64.b64decode(text.strip() + "=" * (-len(text.strip()) % 4), altchars=b"-_", validate=False)
    except (binascii.Error, ValueError) as exc:
        raise ValueError("must be 32 random bytes in base64 (44 characters)") from exc
    if len(key) != KEY_BYTES:
        raise ValueError(f"must be 32 random bytes in base64 (44 characters), not {len(key)} bytes")
    return key


class Sealer:
    """Seals and opens short secrets with one AES-256-GCM key."""

    def __init__(self, key: bytes) -> None:
        if len(key) != KEY_BYTES:
            raise ValueError("an AES-256 key is 32 bytes")
        self._aead = AESGCM(key)
        self._mac = hmac.digest(key, COMMITMENT_LABEL, "sha256")  # a key of its own for commitments, never the AEAD's

    def commit(self, text: str) -> str:
        """A keyed commitment to `text` (HMAC-SHA256, hex): equal texts commit alike; the text is not learnt."""
        return hmac.new(self._mac, text.encode(), hashlib.sha256).hexdigest()

    @classmethod
    def from_text(cls, text: str) -> Sealer:
        return cls(key_from_text(text))

    def seal(self, secret: str, *, bound: str) -> str:
        """`secret` sealed, bound to `bound` (what it belongs to)."""
        nonce = os.urandom(NONCE_BYTES)
        sealed = self._aead.encrypt(nonce, secret.encode(), bound.encode())
        return PREFIX + base64.urlsafe_b64encode(nonce + sealed).decode()

    def open(self, sealed: str, *, bound: str) -> str:
        """The secret of a sealed value bound to `bound`; SealError otherwise (never the value in the message)."""
        if not sealed.startswith(PREFIX):
            raise SealError("not a sealed value")
        try:
            raw = base64.urlsafe_b64decode(sealed[len(PREFIX):])
            return self._aead.decrypt(raw[:NONCE_BYTES], raw[NONCE_BYTES:], bound.encode()).decode()
        except (binascii.Error, ValueError, InvalidTag, UnicodeDecodeError) as exc:
            raise SealError("a sealed value does not open with SLACK_TOKENS_KEY (another key, or altered)") from exc


@dataclass(frozen=True, slots=True)
class HiddenKeyring:
    """The sealing keys of hidden values: `current` seals, every id in `sealers` opens."""

    current: str
    sealers: Mapping[str, Sealer]

    @classmethod
    def from_setting(cls, text: str) -> HiddenKeyring:
        """The keyring of SECRETS_KEY's text: `KEY` (id `k1`) or `kid:KEY,kid:KEY` (the first seals); ValueError
        naming what is wrong (never a key)."""
        sealers: dict[str, Sealer] = {}
        current = ""
        for part in (p.strip() for p in text.split(",")):
            kid, _, key = part.rpartition(":") if ":" in part else ("k1", "", part)
            if not KID.fullmatch(kid):
                raise ValueError("SECRETS_KEY: a key id is lowercase letters, digits, - or _ (16 at most)")
            if kid in sealers:
                raise ValueError(f"SECRETS_KEY: key id {kid} is given twice")
            try:
                sealers[kid] = Sealer(key_from_text(key))
            except ValueError as exc:
                raise ValueError(f"SECRETS_KEY {kid}: {exc}") from None
            current = current or kid
        if not sealers:
            raise ValueError("SECRETS_KEY: no key")
        return cls(current=current, sealers=sealers)

    def seal(self, secret: str, *, bound: str) -> str:
        """`secret` sealed under the current key, bound to `bound`, as `kid.v1.…` (the key that opens it named)."""
        return f"{self.current}.{self.sealers[self.current].seal(secret, bound=bound)}"

    def open(self, sealed: str, *, bound: str, what: str = "a sealed value") -> str:
        """The secret of a `seal`ed value bound to `bound`; SealError naming `what` and the key id otherwise (a key
        SECRETS_KEY no longer has, altered, or another owner's), never the value."""
        kid, _, rest = sealed.partition(".")
        sealer = self.sealers.get(kid)
        if sealer is None:
            raise SealError(f"{what} sealed with key {kid!r}, which SECRETS_KEY no longer has")
        try:
            return sealer.open(rest, bound=bound)
        except SealError:
            raise SealError(f"{what} does not open with SECRETS_KEY {kid} (altered, or another's)") from None

    def commit(self, text: str) -> str:
        """`kid:hmac` of `text` under the current key (`Sealer.commit`): what the audit log keeps of a hidden value."""
        return f"{self.current}:{self.sealers[self.current].commit(text)}"

"""Passkeys (WebAuthn credentials) as the store keeps them, and the pure helpers of step-up (pure).

A person registers passkeys (bot/stepup/); each is a `Passkey`: its credential id and public key (base64url), its
sign count, the name its person gave it, when it was registered and the transports the browser said. What is audited
of one is the SHA-256 of its credential id (`credential_digest`), never a key.

The relying party is the bot's public address (`relying_party`): its host is the rp id, and WebAuthn takes a passkey
only on that origin. A step-up's challenge (`challenge_for`) is derived from what the vote is about and the one-time
link's own random nonce, so that an assertion signs that exact action, once:

    >>> challenge_for("a1b2c3d4", "approve", "0" * 64, "n" * 22).hex()[:16]
    'b3677ec216ab5db0'

What a vote confirmed by a passkey records (`Assurance`): the authentication methods (`amr`, RFC 8176: "pop", proof
of possession of a key, and "mfa", the authenticator verified its user too, so the vote had a second factor beside
the Slack session), the credential id's SHA-256 and the time the assertion was verified.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

RP_NAME = "Agent approvals"
STEPUP_TOKEN = re.compile(r"^[A-Za-z0-9_-]{32,64}$")  # a one-time link's token (secrets.token_urlsafe(32))
CREDENTIAL_ID = re.compile(r"^[A-Za-z0-9_-]{16,1400}$")  # base64url, no padding (WebAuthn: at most 1023 bytes)
PASSKEY_NAME_CHARS = 40
TRANSPORTS = frozenset({"ble", "cable", "hybrid", "internal", "nfc", "smart-card", "usb"})
DECISIONS = frozenset({"approve", "reject", "reveal"})  # reveal: a hidden value shown (bot/stepup/reveal.py)
CHALLENGE_CONTEXT = b"agent-approvals step-up v1"


@dataclass(frozen=True, slots=True)
class Passkey:
    """One registered passkey of one person."""

    credential_id: str  # base64url
    public_key: str  # base64url of the COSE key
    sign_count: int
    name: str
    created_at: float  # epoch seconds
    transports: tuple[str, ...] = ()

    def to_json(self) -> str:
        return json.dumps(asdict(self), separators=(",", ":"))

    @classmethod
    def from_json(cls, raw: str | bytes) -> Passkey:
        data: dict[str, Any] = json.loads(raw)
        return cls(
            credential_id=str(data["credential_id"]),
            public_key=str(data["public_key"]),
            sign_count=int(data.get("sign_count", 0)),
            name=str(data.get("name", "")),
            created_at=float(data.get("created_at", 0.0)),
            transports=tuple(str(t) for t in data.get("transports") or ()),
        )


def passkey_name(given: object) -> str | None:
    """A passkey's name as given on the page, trimmed, or None when it is not one: 1 to 40 printable characters."""
    if not isinstance(given, str):
        return None
    name = " ".join(given.split())
    if not name or len(name) > PASSKEY_NAME_CHARS or not name.isprintable():
        return None
    return name


def credential_digest(credential_id: str) -> str:
    """What the audit log says of a passkey: the SHA-256 (hex) of its credential id (base64url)."""
    return hashlib.sha256(credential_id.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class RelyingParty:
    """Where passkeys are used: `origin` (scheme, host, port) and its host, the rp `id`."""

    id: str
    origin: str
    name: str = RP_NAME


def relying_party(url: str) -> RelyingParty | None:
    """The relying party of the bot's public `url` (STEP_UP_URL or PUBLIC_URL), or None when it has none: no URL,
    or a host that is an IP address (browsers refuse an IP address as a passkey's site; use `localhost`)."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or not host or _is_ip(host):
        return None
    if parts.scheme == "http" and host != "localhost" and not host.endswith(".localhost"):
        return None  # WebAuthn needs a secure context: https, or http on localhost
    return RelyingParty(id=host, origin=f"{parts.scheme}://{parts.netloc.lower()}")


def _is_ip(host: str) -> bool:
    return bool(re.fullmatch(r"[0-9.]+", host)) or ":" in host


def challenge_for(approval_id: str, decision: str, digest: str, nonce: str) -> bytes:
    """The WebAuthn challenge of a step-up vote: SHA-256 over a context string, the approval id, the decision, the
    digest of the approval's arguments and the link's random `nonce`, each length-prefixed, so that a signed
    assertion is bound to that one action (another approval, decision or arguments give another challenge) and to
    that one link (an assertion replayed through another link does not verify). Pure: the same inputs, the same
    bytes."""
    if decision not in DECISIONS:
        raise ValueError(f"decision must be one of {sorted(DECISIONS)}, not {decision!r}")
    hashed = hashlib.sha256(CHALLENGE_CONTEXT)
    for part in (approval_id, decision, digest, nonce):
        data = part.encode()
        hashed.update(len(data).to_bytes(4, "big") + data)
    return hashed.digest()


AMR = ("pop", "mfa")  # RFC 8176: proof of possession of a key; the authenticator verified its user (a 2nd factor)


@dataclass(frozen=True, slots=True)
class Assurance:
    """How a step-up vote was confirmed: who, by which passkey (`passkey`: `credential_digest`), when (`at`,
    epoch seconds, the assertion verified), with which methods (`amr`)."""

    by: str
    passkey: str
    at: float
    amr: tuple[str, ...] = AMR

    def to_json(self) -> str:
        return json.dumps({"by": self.by, "amr": list(self.amr), "passkey": self.passkey, "at": round(self.at, 3)},
                          separators=(",", ":"))

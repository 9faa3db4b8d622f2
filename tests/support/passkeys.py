"""A software authenticator for tests without a browser: the registration answer a browser would POST (attestation
"none", an ES256 key, user present and verified), made from the options the bot gave, and the assertions a browser
would POST to confirm a step-up vote (`Authenticator`). The browser tests use a real
Chromium's virtual authenticator instead (tests/scenarios/test_passkeys_browser.py, test_step_up_browser.py)."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

import cbor2
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from webauthn.helpers import base64url_to_bytes, bytes_to_base64url

FLAGS_UP_UV_AT = 0x01 | 0x04 | 0x40


def registration(
    options: dict[str, Any], *, origin: str, rp_id: str | None = None, credential_id: bytes | None = None,
    challenge: str | None = None, verified: bool = True, key: ec.EllipticCurvePrivateKey | None = None,
) -> dict[str, Any]:
    """The browser's answer to `options` (registration options in their JSON form) from `origin`; `challenge`,
    `rp_id` and `verified` (user verification) may be made wrong on purpose. `key`: the passkey's private key (a
    new one by default, then forgotten)."""
    key = key or ec.generate_private_key(ec.SECP256R1())
    numbers = key.public_key().public_numbers()
    cose = {1: 2, 3: -7, -1: 1, -2: numbers.x.to_bytes(32, "big"), -3: numbers.y.to_bytes(32, "big")}
    cred_id = credential_id or os.urandom(16)
    flags = FLAGS_UP_UV_AT if verified else 0x01 | 0x40
    auth_data = (
        hashlib.sha256((rp_id or options["rp"]["id"]).encode()).digest() + bytes([flags]) + (0).to_bytes(4, "big")
        + bytes(16) + len(cred_id).to_bytes(2, "big") + cred_id + cbor2.dumps(cose)
    )
    client_data = json.dumps({
        "type": "webauthn.create", "challenge": challenge or options["challenge"], "origin": origin,
        "crossOrigin": False,
    }).encode()
    attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
    return {
        "id": bytes_to_base64url(cred_id), "rawId": bytes_to_base64url(cred_id), "type": "public-key",
        "response": {"clientDataJSON": bytes_to_base64url(client_data),
                     "attestationObject": bytes_to_base64url(attestation), "transports": ["internal"]},
        "clientExtensionResults": {}, "authenticatorAttachment": "platform",
    }


def user_id_of(options: dict[str, Any]) -> str:
    """The user handle the options name (the Slack user id)."""
    return base64url_to_bytes(options["user"]["id"]).decode()


class Authenticator:
    """A software authenticator that keeps its keys: registers passkeys (`register`) and signs assertions with them
    (`assertion`), its sign count going up with each, as a hardware one's does. Each part of an assertion may be made
    wrong on purpose (another challenge, origin, or key)."""

    def __init__(self) -> None:
        self.keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self.counts: dict[str, int] = {}

    def register(self, options: dict[str, Any], *, origin: str) -> dict[str, Any]:
        """The browser's answer to registration `options`, its key kept."""
        key = ec.generate_private_key(ec.SECP256R1())
        made = registration(options, origin=origin, key=key)
        self.keys[made["id"]] = key
        self.counts[made["id"]] = 0
        return made

    def assertion(
        self, options: dict[str, Any], *, origin: str, credential_id: str | None = None, challenge: str | None = None,
        rp_id: str | None = None, verified: bool = True, signed_by: str | None = None,
    ) -> dict[str, Any]:
        """The browser's answer to authentication `options` with the passkey `credential_id` (default: the first
        the options allow that it holds); `signed_by`: sign with another of its keys than the credential's."""
        allowed = [c["id"] for c in options.get("allowCredentials") or []]
        chosen = credential_id or next(c for c in allowed if c in self.keys)
        self.counts[chosen] = self.counts.get(chosen, 0) + 1
        flags = 0x01 | 0x04 if verified else 0x01
        auth_data = (hashlib.sha256((rp_id or options["rpId"]).encode()).digest() + bytes([flags])
                     + self.counts[chosen].to_bytes(4, "big"))
        client_data = json.dumps({"type": "webauthn.get", "challenge": challenge or options["challenge"],
                                  "origin": origin, "crossOrigin": False}).encode()
        key = self.keys.get(signed_by or chosen) or ec.generate_private_key(ec.SECP256R1())  # unknown: any key
        signature = key.sign(auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256()))
        return {
            "id": chosen, "rawId": chosen, "type": "public-key",
            "response": {"clientDataJSON": bytes_to_base64url(client_data),
                         "authenticatorData": bytes_to_base64url(auth_data),
                         "signature": bytes_to_base64url(signature)},
            "clientExtensionResults": {}, "authenticatorAttachment": "platform",
        }

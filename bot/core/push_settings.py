"""What a worker reads for Web Push, the phone and desktop surface (issue 90; bot/core/settings.py's `Settings` holds
it): the VAPID key pushes are signed with (`VAPID_PRIVATE_KEY`, a secret: the raw P-256 key base64url-encoded, as
`vapid --gen` or `python -m bot dev` make it, or its DER, base64url) and who the push services may contact
(`VAPID_SUBJECT`, `mailto:` or `https:`). Only declared here: `Settings.from_env` reads them with the rest. Without
`VAPID_PRIVATE_KEY` the worker sends no push. `PUSH_LOCAL_SERVICE_URL`: a push service allowed over http (the local
stand-in of `python -m bot dev` and the tests; every other endpoint must be https)."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Self

from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_private_key
from pydantic import BaseModel, Field, model_validator

from bot.core.setting_values import Secret, Stripped

BASE64URL = re.compile(r"[A-Za-z0-9_-]+={0,2}")


def vapid_key(text: str) -> ec.EllipticCurvePrivateKey:
    """VAPID_PRIVATE_KEY read: 32 raw bytes or a DER key, base64url (ValueError naming the setting, never the key)."""
    flat = "".join(text.split())
    try:
        if not BASE64URL.fullmatch(flat):
            raise ValueError
        raw = base64.urlsafe_b64decode(flat.rstrip("=") + "=" * (-len(flat.rstrip("=")) % 4))
    except (binascii.Error, ValueError):
        raise ValueError("VAPID_PRIVATE_KEY must be base64url (a raw P-256 key or its DER)") from None
    try:
        if len(raw) == 32:
            return ec.derive_private_key(int.from_bytes(raw, "big"), ec.SECP256R1())
        key = load_der_private_key(raw, password=None)
    except ValueError:
        raise ValueError("VAPID_PRIVATE_KEY is not a P-256 private key") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise ValueError("VAPID_PRIVATE_KEY is not a P-256 private key")
    return key


class PushSettings(BaseModel):
    """Web Push (issue 90), in the order the configuration table shows them."""

    vapid_private_key: Secret | None = Field(default=None, validation_alias="VAPID_PRIVATE_KEY", description=(
        "the key Web Push messages are signed with (VAPID, RFC 8292): a P-256 private key, raw 32 bytes or DER, "
        "base64url; a secret. Needs SECRETS_KEY (the actions' links). Unset: no push"))
    vapid_subject: Stripped = Field(default="", validation_alias="VAPID_SUBJECT", description=(
        "who the push services may contact about the pushes: `mailto:ops@example.com` or an `https://` URL "
        "(needed with VAPID_PRIVATE_KEY)"))
    push_local_service_url: Stripped = Field(default="", validation_alias="PUSH_LOCAL_SERVICE_URL", description=(
        "a push service allowed over `http://` (the local stand-in of `python -m bot dev` and the tests); every "
        "other subscription's endpoint must be `https://`"))

    @model_validator(mode="after")
    def _push(self) -> Self:
        if self.vapid_private_key is None:
            return self
        vapid_key(self.vapid_private_key.get_secret_value())
        if not self.vapid_subject.startswith(("mailto:", "https://")):
            raise ValueError("VAPID_PRIVATE_KEY needs VAPID_SUBJECT: `mailto:ops@example.com` or an https:// URL")
        return self

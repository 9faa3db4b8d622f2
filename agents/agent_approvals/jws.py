"""The one strict reader of what this product signs: compact JWS (RFC 7515) with EdDSA over Ed25519 keys (RFC 8037),
for receipts (read by executors, `agent_approvals.receipts`) and audit checkpoints (read by the bot's `audit
verify`, `bot/core/signing.py`). The bot may import it; it imports nothing of the bot.

joserfc checks the signature; this is the contract's strictness around it, read before any key is: a string of at
most MAX_JWS characters (`longest`: a global audit checkpoint, a head a workspace, is longer) in three parts, each
canonical unpadded base64url (one spelling per value); a JSON header
(no repeated names, no NaN) of exactly `alg` EdDSA, the expected `typ` and a `kid` (so no `crit`: nothing this
signer never writes); a 64-byte signature; a payload that is a JSON object. Every refusal is a `JWSError` with a
`reason`: malformed, unknown_key (its `kid` is none of the keys) or bad_signature.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable
from typing import Any

from joserfc import jws
from joserfc.errors import BadSignatureError, JoseError
from joserfc.jwa import JWSAlgModel
from joserfc.jwk import Key
from joserfc.jws import JWSRegistry

ALG = "EdDSA"
MAX_JWS = 16_384  # characters: what this product signs is well under 2 KB; anything this long is not one
# but a global audit checkpoint (issue 89): it signs every workspace's chain head, about 110 characters each (300
# workspaces: 33 KB): the bot reads its own with this bound (`bot.core.signing.LONGEST`), some 38,000 workspaces
MAX_CHECKPOINT_JWS = 4 * 1024 * 1024
SIGNATURE_BYTES = 64
HEADER = frozenset({"alg", "kid", "typ"})
_B64URL = re.compile(r"[A-Za-z0-9_-]+")


class JWSError(Exception):
    """Not a JWS of ours, or not signed by the keys it was read with. `reason`: malformed, unknown_key,
    bad_signature; the message says why (never a key)."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason, self.message = reason, message


class _EdDSAOnly(JWSRegistry):
    """joserfc's JWS algorithms cut to EdDSA over Ed25519 keys. joserfc warns that RFC 9864 deprecates the name
    `EdDSA` (for `Ed25519`, the same signature); receipts and checkpoints name `EdDSA`, knowingly, so it is looked
    up here without the warning."""

    def get_alg(self, name: str) -> JWSAlgModel:
        if name != ALG:
            raise JoseError(f"only {ALG} is accepted")
        return self.algorithms[ALG]


REGISTRY = _EdDSAOnly(algorithms=[ALG])


def b64url(data: bytes) -> str:
    """Base64url without padding (RFC 7515, section 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(part: str) -> bytes:
    """The bytes of canonical unpadded base64url text (one text per value); JWSError (malformed) else."""
    if not isinstance(part, str) or not _B64URL.fullmatch(part):
        raise JWSError("malformed", "each part is base64url without padding")
    try:
        value = base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (binascii.Error, ValueError):
        raise JWSError("malformed", "a part is not base64url") from None
    if b64url(value) != part:
        raise JWSError("malformed", "a part is not canonical base64url")
    return value


def json_object(raw: bytes, what: str) -> dict[str, Any]:
    """A JSON object with no repeated names and no NaN or Infinity; JWSError (malformed) else."""

    def pairs(items: list[tuple[str, Any]]) -> dict[str, Any]:
        if len({name for name, _ in items}) != len(items):
            raise ValueError("a name is repeated")
        return dict(items)

    def constant(name: str) -> Any:
        raise ValueError(f"{name} is not JSON")

    try:
        value = json.loads(raw.decode("utf-8"), object_pairs_hook=pairs, parse_constant=constant)
    except (UnicodeDecodeError, ValueError):
        raise JWSError("malformed", f"its {what} is not a JSON object") from None
    if not isinstance(value, dict):
        raise JWSError("malformed", f"its {what} is not a JSON object")
    return value


def read_jws(token: Any, key_of: Callable[[str], Key | None], *, typ: str, whose: str = "the keys",
             longest: int = MAX_JWS) -> dict[str, Any]:
    """The claims of `token` when it is a compact JWS of ours with this `typ`, at most `longest` characters, signed
    by the key `key_of(kid)` gives (None: no such key; `whose` names the keys in that refusal). JWSError says why
    not; the claims' own meaning (their types, times, audience) is the caller's to check."""
    if not isinstance(token, str) or not 0 < len(token) <= longest:
        raise JWSError("malformed", "not a compact JWS string")
    parts = token.split(".")
    if len(parts) != 3:
        raise JWSError("malformed", "a compact JWS has three parts")
    header = json_object(b64url_decode(parts[0]), "header")  # the header first: what it says is refused by name
    if header.get("alg") != ALG:
        raise JWSError("malformed", f"its alg is not {ALG}")
    if header.get("typ") != typ:
        raise JWSError("malformed", f"its typ is not {typ}")
    if set(header) - HEADER:
        raise JWSError("malformed", "its header has members this signer never writes (crit, ...)")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise JWSError("malformed", "its header names no key (kid)")
    payload_raw, signature = b64url_decode(parts[1]), b64url_decode(parts[2])
    if len(signature) != SIGNATURE_BYTES:
        raise JWSError("bad_signature", f"its signature is not {SIGNATURE_BYTES} bytes (Ed25519)")
    key = key_of(kid)
    if key is None:
        raise JWSError("unknown_key", f"its kid is not one of {whose}")
    try:
        jws.deserialize_compact(token, key, registry=REGISTRY)
    except BadSignatureError:
        raise JWSError("bad_signature", "its signature does not verify") from None
    except (JoseError, ValueError) as error:  # what the checks above let through and joserfc does not take
        raise JWSError("malformed", f"not a JWS joserfc reads ({type(error).__name__})") from None
    return json_object(payload_raw, "payload")

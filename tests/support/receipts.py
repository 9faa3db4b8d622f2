"""Receipts signed in a test with joserfc (an independent JOSE library, not our code), and joserfc's own check of a
receipt as the docs tell executors to make it (docs/agents/receipts.md).

joserfc warns that the name `EdDSA` is deprecated by RFC 9864 (in favour of `Ed25519`); the receipts' contract
names `EdDSA`, so the warning is silenced here, and only here.
"""

from __future__ import annotations

import base64
import json
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from agent_approvals.receipts import ALG, TYPE, args_sha256
from joserfc import jws, jwt
from joserfc.errors import SecurityWarning
from joserfc.jwk import KeySet, OKPKey

EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}


@contextmanager
def eddsa() -> Iterator[None]:
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", category=SecurityWarning)
        yield


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


class Issuer:
    """A stand-in for the bot's signer: Ed25519 keys made with joserfc, receipts signed with them."""

    def __init__(self, kid: str = "k1") -> None:
        self.key = OKPKey.generate_key("Ed25519", parameters={"kid": kid, "alg": ALG, "use": "sig"})
        self.kid = kid

    def jwks(self) -> dict[str, Any]:
        """As `GET /api/v1/jwks.json` answers: public keys only."""
        return {"keys": [self.key.as_dict(private=False)]}

    def claims(self, tool: str = "send_email", arguments: Any = None, **changed: Any) -> dict[str, Any]:
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": "slack-agent-approvals", "sub": "a-test-1", "aud": "emailer", "jti": "r-1", "iat": now,
            "exp": now + 600, "tool": tool, "args_sha256": args_sha256(EMAIL if arguments is None else arguments),
            "decided_by": [{"type": "person", "id": "U0BOB", "name": "bob"}],
        }
        claims.update(changed)
        return {k: v for k, v in claims.items() if v is not None}

    def sign(self, claims: dict[str, Any], **header: Any) -> str:
        """`claims` signed as the bot signs a receipt (header fields changed, added or, given None, left out)."""
        protected = {k: v for k, v in {"alg": ALG, "kid": self.kid, "typ": TYPE, **header}.items() if v is not None}
        with eddsa():
            return jws.serialize_compact(protected, json.dumps(claims).encode(), self.key, algorithms=[ALG])

    def raw(self, header: dict[str, Any], payload: bytes) -> str:
        """An Ed25519 signature by this key over any header and payload bytes (what joserfc would not sign)."""
        signing_input = f"{b64(json.dumps(header).encode())}.{b64(payload)}"
        return f"{signing_input}.{b64(self.key.private_key.sign(signing_input.encode()))}"

    def issue(self, tool: str = "send_email", arguments: Any = None, **changed: Any) -> str:
        return self.sign(self.claims(tool, arguments, **changed))


def joserfc_claims(receipt: str, jwks: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The header and claims of `receipt` as joserfc reads them (signature checked, EdDSA only); raises else."""
    with eddsa():
        token = jwt.decode(receipt, KeySet.import_key_set(jwks), algorithms=[ALG])
    return dict(token.header), dict(token.claims)

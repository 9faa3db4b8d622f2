"""Receipts: what an approval that allows a call carries, so the executor itself can check it.

A receipt is a compact JWS (RFC 7515), alg EdDSA (Ed25519), signed by the bot with a key from its JWKS
(`GET /api/v1/jwks.json`, the `kid` in each header). It is bound to one approval (`sub`), the key that
asked (`aud`), one tool and exactly its arguments (`args_sha256`: hex SHA-256 of their RFC 8785 canonical
JSON), and is short-lived (`exp`).
"""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785

TYPE = "approval-receipt+jwt"  # the JWS header's `typ`
ALG = "EdDSA"
META_KEY = "agent-approvals/receipt"  # where the MCP gateway puts a receipt in a call's `_meta`


def args_sha256(arguments: Any) -> str:
    """Hex SHA-256 of the RFC 8785 (JCS) canonical JSON of `arguments`: the `args_sha256` claim."""
    return hashlib.sha256(rfc8785.dumps(arguments)).hexdigest()

"""What a program sends, as RFC 8785 (JCS) reads it: the digest of a body's canonical JSON (an Idempotency-Key's
retry is compared on it), and the integers no canonical JSON carries exactly (beyond ±(2^53-1)). Pure."""

from __future__ import annotations

import hashlib
from typing import Any

import rfc8785
from agent_approvals.approver import canonical_json
from agent_approvals.receipts import jcs


def canonical_digest(data: Any) -> str:
    """sha256 (hex) of a body's RFC 8785 canonical JSON: the same for the same JSON in any key order or spacing
    (models reorder keys), so a retry with an Idempotency-Key is compared on what it means, not its bytes. A
    body RFC 8785 cannot encode (an integer beyond ±(2^53-1) in a schema) has sorted-key JSON instead."""
    try:
        canonical = jcs(data)
    except rfc8785.CanonicalizationError:
        canonical = b"json:" + canonical_json(data).encode("utf-8")
    return hashlib.sha256(canonical).hexdigest()


MAX_EXACT_INTEGER = 2**53 - 1  # I-JSON (RFC 7493): larger integers are not exact in most JSON readers


def inexact_integer(value: Any, path: str) -> str:
    """The path of the first integer in `value` beyond ±(2^53-1) (`tool.arguments.ids[1]`), or ''. Such a number
    has no RFC 8785 form, so no receipt could be signed for it, and most readers (JavaScript's) change it."""
    if isinstance(value, bool):
        return ""
    if isinstance(value, int):
        return path if abs(value) > MAX_EXACT_INTEGER else ""
    if isinstance(value, dict):
        items: Any = ((f"{path}.{name}", item) for name, item in value.items())
    elif isinstance(value, list):
        items = ((f"{path}[{index}]", item) for index, item in enumerate(value))
    else:
        return ""
    for where, item in items:
        found = inexact_integer(item, where)
        if found:
            return found[:200]
    return ""

"""The refund budget's bundle and a refund tool's ask (a worker on a POLICY_DIR: `policy_worker`, tests/conftest.py)."""

from __future__ import annotations

from typing import Any

from tests.conftest import ALICE

REFUNDS = '''
@id("refunds-within-budget")
permit (principal, action == Action::"refund", resource)
when { context.args.amount_cents + context.window.refunds_24h <= 50000 };

@id("refunds-over-budget")
@outcome("ask")
@approvers("S0FINANCE")
@quorum("2")
@reason("would exceed $500 in 24 h (spent {window.refunds_24h|usd})")
forbid (principal, action == Action::"refund", resource)
when { context.args.amount_cents + context.window.refunds_24h > 50000 };
'''
REFUND_WINDOWS = """windows:
  refunds_24h: {sum: args.amount_cents, per: [principal, action], over: 24h}
"""


def refund(cents: int, **extra: Any) -> dict[str, Any]:
    return {"kind": "tool", "title": "Refund an order", "requester": ALICE,
            "tool": {"name": "refund", "arguments": {"order": "A-1", "amount_cents": cents}}, **extra}

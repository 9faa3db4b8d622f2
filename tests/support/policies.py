"""Policies from a test: the refund budget of issue #42 (Cedar and its window), a refund tool's ask, and a folder
of policy files written for a worker's POLICY_DIR."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

from tests.conftest import ALICE, Worker

StartPolicyWorker = Callable[..., Coroutine[Any, Any, Worker]]  # the `policy_worker` fixture (tests/policy/conftest.py)

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


def write_bundle(folder: Path, files: dict[str, str]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (folder / name).write_text(text)
    return folder



def refund(cents: int, **extra: Any) -> dict[str, Any]:
    return {"kind": "tool", "title": "Refund an order", "requester": ALICE,
            "tool": {"name": "refund", "arguments": {"order": "A-1", "amount_cents": cents}}, **extra}

"""The MCP gateway passes an approval's signed receipt upstream (#38): an approved call forwarded to the upstream
carries `Approval.receipt` in its `_meta` under `agent_approvals.receipts.META_KEY`; an approval without one (the
bot signs nothing) and an `--allow`ed call carry no such entry. The upstream (tests/support/mcp_meta_upstream.py)
records what its `_meta` held for each call it received."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from agent_approvals.client import Approval, ApprovalsClient
from agent_approvals.mcp_gateway import Gateway, Upstream, connect

from tests.conftest import Worker
from tests.support.mcp_gateway import EMAIL, text

META_UPSTREAM = Path(__file__).parents[1] / "support" / "mcp_meta_upstream.py"


def received(record: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in record.read_text().splitlines()] if record.exists() else []


async def test_the_forwarded_call_carries_the_approvals_receipt_and_none_without_one(
    emailer: tuple[Worker, str], tmp_path: Path
) -> None:
    """The gateway's own forward, given an approval with a receipt and one without: the upstream receives the
    receipt exactly, under META_KEY; without one, no META_KEY entry at all."""
    bot, key = emailer
    record = tmp_path / "calls.jsonl"
    upstream = Upstream(command=[sys.executable, str(META_UPSTREAM), "--record", str(record)])
    async with ApprovalsClient(bot.url, key) as client, connect(upstream) as connected:
        gateway = Gateway(connected, client)
        ctx: Any = None  # (used only to pass the upstream's progress on; this upstream reports none)
        signed = Approval(id="a-1", status="approved", receipt="eyJhbGciOiJFZERTQSJ9.eyJzdWIiOiJhLTEifQ.c2ln")
        with_receipt = await gateway._forward(ctx, "send_email", dict(EMAIL), signed)
        without = await gateway._forward(ctx, "send_email", dict(EMAIL), Approval(id="a-2", status="approved"))
    assert text(with_receipt) == signed.receipt and text(without) == "no receipt"
    assert [(c["receipt"], c["has_key"]) for c in received(record)] == [(signed.receipt, True), (None, False)]


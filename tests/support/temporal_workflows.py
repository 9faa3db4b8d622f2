"""A refund workflow that asks people before it refunds, and the worker program that runs it (`python -m
tests.support.temporal_workflows <temporal> <bot urls> <key> <relay url> <task queue>`; the bot's workers' URLs
comma-separated), as a user writes them
(docs/agents/temporal.md). The refund activity appends one JSON line per refund to the file the workflow names:
what ran, and how often, is read from there, across worker processes."""

from __future__ import annotations

import asyncio
import json
import sys
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow
from temporalio.common import RetryPolicy

with workflow.unsafe.imports_passed_through():
    from agent_approvals.durable.temporal import ApprovalsWorkflow, approval, message, tool_call

UI_URL = "https://temporal.example.com/namespaces/{namespace}/workflows/{workflow_id}"
SCHEMA = {
    "type": "object",
    "properties": {"order": {"type": "string"}, "amount_cents": {"type": "integer", "minimum": 0}},
    "required": ["order", "amount_cents"],
    "additionalProperties": False,
}


@dataclass
class RefundOrder:
    order: str
    amount_cents: int
    outbox: str  # where the refund activity writes what it refunded
    poll: bool = False  # ask in poll mode (no relay)
    receipts: str = ""  # the bot whose keys sign receipts: the refund activity checks the decision's ("" no check)


@dataclass
class Refunded:
    outbox: str
    arguments: dict[str, Any]
    receipt: str | None = None
    receipts: str = ""


@activity.defn
async def refund(done: Refunded) -> str:
    """Refund, once the decision's receipt (when `receipts` names the bot) is checked for exactly these arguments:
    the approval id it names; its one use was spent by `approval()`, so it is verified here, not spent again."""
    approval = await checked_receipt(done.receipts, done.receipt, "refund", done.arguments) if done.receipts else ""
    await asyncio.to_thread(_append, Path(done.outbox), json.dumps(done.arguments) + "\n")
    return approval


async def checked_receipt(bot: str, receipt: str | None, tool: str, arguments: dict[str, Any]) -> str:
    """The approval id a receipt for calling `tool(arguments)` names, verified with the bot's keys; else
    `ReceiptError` (nothing runs)."""
    from agent_approvals.receipts import ReceiptChecker, ReceiptError

    if not receipt:
        raise ReceiptError("missing", f"calling {tool!r} needs the receipt of an approval")
    async with ReceiptChecker(bot) as checker:
        claims = await checker.verified(receipt, tool=tool, arguments=arguments)
    return str(claims["sub"])


def _append(path: Path, line: str) -> None:
    with path.open("a") as out:
        out.write(line)


@workflow.defn
class Refund(ApprovalsWorkflow):
    @workflow.run
    async def run(self, order: RefundOrder) -> dict[str, Any]:
        asked = tool_call("refund", {"order": order.order, "amount_cents": order.amount_cents}, schema=SCHEMA,
                          title=f"Refund order {order.order}")
        decision = await approval(asked, poll=order.poll)
        if not decision.approved:
            return {"ran": False, "status": decision.status, "refusal": decision.refusal,
                    "decided_by": decision.decided_by}
        receipt_of = await workflow.execute_activity(
            refund, Refunded(order.outbox, decision.arguments, decision.receipt, order.receipts),
            start_to_close_timeout=timedelta(seconds=30), retry_policy=RetryPolicy(maximum_attempts=3),
        )
        done = {"ran": True, "arguments": decision.arguments, "decided_by": decision.decided_by}
        return {**done, "receipt_of": receipt_of} if receipt_of else done


@workflow.defn
class Notice(ApprovalsWorkflow):
    """Asks about a message that times out after `seconds` when nobody decides: what the workflow read."""

    @workflow.run
    async def run(self, seconds: int) -> dict[str, Any]:
        decision = await approval(message("Tell every customer the prices go up", title="Price notice",
                                          timeout=seconds))
        return {"status": decision.status, "approved": decision.approved, "decided_by": decision.decided_by,
                "refusal": decision.refusal}


@workflow.defn
class Floor:
    """The engine's own round trip, the benchmark's floor (tests/benchmarks/durable_resume.py): wait for an Update,
    then refund as `Refund` does."""

    def __init__(self) -> None:
        self.go = False

    @workflow.update
    async def decide(self) -> str:
        self.go = True
        return "delivered"

    @workflow.run
    async def run(self, order: RefundOrder) -> dict[str, Any]:
        await workflow.wait_condition(lambda: self.go)
        arguments = {"order": order.order, "amount_cents": order.amount_cents}
        await workflow.execute_activity(refund, Refunded(order.outbox, arguments),
                                        start_to_close_timeout=timedelta(seconds=30))
        return {"ran": True}


async def serve(temporal: str, url: str, key: str, relay: str, queue: str) -> None:
    from agent_approvals import ApprovalsClient
    from agent_approvals.durable.temporal.activities import ApprovalActivities
    from temporalio.client import Client
    from temporalio.worker import Worker

    client = await Client.connect(temporal)
    async with ApprovalsClient(url.split(","), key, title="refunds") as approvals:
        activities = ApprovalActivities(approvals, relay_url=relay, ui_url=UI_URL)
        worker = Worker(client, task_queue=queue, workflows=[Refund, Notice], activities=[refund, *activities.all()])
        print("worker ready", flush=True)
        await worker.run()


if __name__ == "__main__":
    asyncio.run(serve(*sys.argv[1:6]))

"""Temporal: a refund workflow that asks people in Slack before it refunds (docs/agents/temporal.md).

    temporal server start-dev         # a Temporal server (TEMPORAL_ADDRESS, default localhost:7233)
    python -m bot dev                 # prints the AGENT_APPROVALS_URL, _KEY and _WEBHOOK_SECRET to export
    python examples/temporal_refund.py A-1001 4200

One process runs the relay (on RELAY_PORT, default 8790: where the bot POSTs each decision), a worker with the
workflow and its activities, and the workflow `refund-<order>`; it prints where the card waits, each decision, and
what the workflow did. The refund writes a file in OUTBOX_DIR (default ./outbox) and nothing else. Stop it while
the card waits and run it again: the same workflow is found (not started twice) and finishes once the card is
decided; nothing ran while nobody decided.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from temporalio import activity, workflow

with workflow.unsafe.imports_passed_through():
    from agent_approvals.durable.temporal import ApprovalsWorkflow, approval, tool_call

SCHEMA = {"type": "object", "properties": {"order": {"type": "string"}, "amount_cents": {"type": "integer"}},
          "required": ["order", "amount_cents"], "additionalProperties": False}


@dataclass
class RefundOrder:
    order: str
    amount_cents: int


@activity.defn
async def refund(arguments: dict[str, Any]) -> str:
    """The demo refund: a file in OUTBOX_DIR."""
    outbox = Path(os.environ.get("OUTBOX_DIR") or "outbox")
    await asyncio.to_thread(_write, outbox / f"refund-{uuid.uuid4().hex[:12]}.json", json.dumps(arguments))
    return f"refunded {arguments['amount_cents']} cents on order {arguments['order']}"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@workflow.defn
class Refund(ApprovalsWorkflow):
    @workflow.run
    async def run(self, order: RefundOrder) -> str:
        asked = tool_call("refund", {"order": order.order, "amount_cents": order.amount_cents}, schema=SCHEMA,
                          title=f"Refund order {order.order}")
        decision = await approval(asked)
        if not decision.approved:
            return f"not refunded: {decision.refusal}"
        done: str = await workflow.execute_activity(refund, decision.arguments,
                                                    start_to_close_timeout=timedelta(minutes=1))
        return done


async def main(order: str, cents: int) -> str:
    from agent_approvals.durable.relay import Relay, serve
    from agent_approvals.durable.temporal.activities import ApprovalActivities
    from agent_approvals.durable.temporal.delivery import TemporalDelivery
    from example_support import approvals_client
    from temporalio.client import Client
    from temporalio.common import WorkflowIDConflictPolicy
    from temporalio.worker import Worker

    env = os.environ
    temporal = await Client.connect(env.get("TEMPORAL_ADDRESS") or "localhost:7233")
    port = int(env.get("RELAY_PORT") or 8790)
    relay = Relay(env["AGENT_APPROVALS_WEBHOOK_SECRET"], {"temporal": TemporalDelivery(temporal)})
    serving = asyncio.create_task(serve(relay, "127.0.0.1", port))
    queue = env.get("TASK_QUEUE") or "refunds"
    async with approvals_client(env, "temporal_refund.py", f"refund order {order}") as approvals:
        activities = ApprovalActivities(approvals, relay_url=f"http://127.0.0.1:{port}/decisions")
        async with Worker(temporal, task_queue=queue, workflows=[Refund], activities=[refund, *activities.all()]):
            handle = await temporal.start_workflow(
                Refund.run, RefundOrder(order, cents), id=f"refund-{order}", task_queue=queue,
                id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
            )
            said = f"workflow {handle.id}: {await handle.result()}"
    serving.cancel()
    return said


if __name__ == "__main__":
    from example_support import run_or_exit

    order, cents = (sys.argv[1:] + ["A-1001", "4200"][len(sys.argv) - 1:])[:2]
    run_or_exit(lambda: asyncio.run(main(order, int(cents))), Path(sys.argv[0]).name)

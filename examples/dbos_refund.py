"""DBOS: a refund workflow that asks people in Slack before it refunds (docs/agents/dbos.md).

    python -m bot dev                 # prints the AGENT_APPROVALS_URL, _KEY and _WEBHOOK_SECRET to export
    python examples/dbos_refund.py A-1001 4200

DBOS keeps its workflows in SQLite (DBOS_SYSTEM_DATABASE_URL, default sqlite:///dbos_refunds.sqlite). One process
runs the relay (on RELAY_PORT, default 8791: where the bot POSTs each decision) and the workflow `refund-<order>`;
it prints where the card waits, each decision, and what the workflow did. The refund writes a file in OUTBOX_DIR
(default ./outbox) and nothing else. Stop it while the card waits and run it again: DBOS recovers the workflow
(its ask is found, no second card) and it finishes once the card is decided.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import uuid
from pathlib import Path
from typing import Any

from agent_approvals.durable.dbos import DBOSApprovals, DBOSDelivery, tool_call
from agent_approvals.durable.relay import Relay, serve
from dbos import DBOS, DBOSClient, SetWorkflowID
from example_support import approvals_client, run_or_exit

SCHEMA = {"type": "object", "properties": {"order": {"type": "string"}, "amount_cents": {"type": "integer"}},
          "required": ["order", "amount_cents"], "additionalProperties": False}
APPROVALS: list[DBOSApprovals] = []  # made before DBOS.launch(), which may recover a workflow that waits


@DBOS.step()
async def refund(arguments: dict[str, Any]) -> str:
    """The demo refund: a file in OUTBOX_DIR."""
    outbox = Path(os.environ.get("OUTBOX_DIR") or "outbox")
    await asyncio.to_thread(_write, outbox / f"refund-{uuid.uuid4().hex[:12]}.json", json.dumps(arguments))
    return f"refunded {arguments['amount_cents']} cents on order {arguments['order']}"


def _write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


@DBOS.workflow()
async def refund_order(order: str, amount_cents: int) -> str:
    asked = tool_call("refund", {"order": order, "amount_cents": amount_cents}, schema=SCHEMA,
                      title=f"Refund order {order}")
    decision = await APPROVALS[0].approval(asked)
    if not decision.approved:
        return f"not refunded: {decision.refusal}"
    return await refund(decision.arguments)


async def main(order: str, cents: int) -> str:
    env = os.environ
    database = env.get("DBOS_SYSTEM_DATABASE_URL") or "sqlite:///dbos_refunds.sqlite"
    port = int(env.get("RELAY_PORT") or 8791)
    DBOS(config={"name": "refunds", "system_database_url": database})
    async with approvals_client(env, "dbos_refund.py", f"refund order {order}") as approvals:
        APPROVALS.append(DBOSApprovals(approvals, relay_url=f"http://127.0.0.1:{port}/decisions"))
        DBOS.launch()  # in this event loop: a workflow it recovers runs here
        relay = Relay(env["AGENT_APPROVALS_WEBHOOK_SECRET"], {"dbos": DBOSDelivery(DBOSClient(
            system_database_url=database))})
        serving = asyncio.create_task(serve(relay, "127.0.0.1", port))
        try:
            with SetWorkflowID(f"refund-{order}"):  # the same order: the same workflow, never a second one
                handle: Any = await DBOS.start_workflow_async(refund_order, order, cents)
            return f"workflow {handle.get_workflow_id()}: {await handle.get_result()}"
        finally:
            serving.cancel()
            DBOS.destroy()


if __name__ == "__main__":
    order, cents = (sys.argv[1:] + ["A-1001", "4200"][len(sys.argv) - 1:])[:2]
    run_or_exit(lambda: asyncio.run(main(order, int(cents))), Path(sys.argv[0]).name)

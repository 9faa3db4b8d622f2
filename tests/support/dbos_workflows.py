"""A refund workflow on DBOS (SQLite) that asks people before it refunds, as a user writes it
(docs/agents/dbos.md): `python -m tests.support.dbos_workflows <system database URL> <bot urls> <key> <relay url>
<outbox> start|poll|notice|recover <workflow id> [<bot whose receipts the refund step checks>]` (the bot's
workers' URLs comma-separated). `start` starts the workflow (`poll`: in poll mode), `notice` one that asks about a
message timing out in 2 s, `recover` lets DBOS recover it (a process that died while it waited); each prints
"waiting", then the workflow's result as a JSON line. The refund step appends one JSON line per refund to `outbox`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from agent_approvals import ApprovalsClient
from agent_approvals.durable.dbos import DBOSApprovals, message, tool_call
from dbos import DBOS, SetWorkflowID

from tests.support.temporal_workflows import SCHEMA, checked_receipt

APPROVALS: list[DBOSApprovals] = []  # the one the program made (before DBOS.launch, which may recover workflows)


@DBOS.step()
async def refund(outbox: str, arguments: dict[str, Any], receipt: str | None, receipts: str) -> str:
    """Refund, once the decision's receipt (when `receipts` names the bot) is checked: the approval id it names."""
    approval = await checked_receipt(receipts, receipt, "refund", arguments) if receipts else ""
    await asyncio.to_thread(_append, Path(outbox), json.dumps(arguments) + "\n")
    return approval


def _append(path: Path, line: str) -> None:
    with path.open("a") as out:
        out.write(line)


@DBOS.workflow()
async def refund_order(order: str, amount_cents: int, outbox: str, poll: bool = False,
                       receipts: str = "") -> dict[str, Any]:
    asked = tool_call("refund", {"order": order, "amount_cents": amount_cents}, schema=SCHEMA,
                      title=f"Refund order {order}")
    decision = await APPROVALS[0].approval(asked, poll=poll)
    if not decision.approved:
        return {"ran": False, "status": decision.status, "refusal": decision.refusal, "decided_by": decision.decided_by}
    receipt_of = await refund(outbox, decision.arguments, decision.receipt, receipts)
    done = {"ran": True, "arguments": decision.arguments, "decided_by": decision.decided_by}
    return {**done, "receipt_of": receipt_of} if receipt_of else done


@DBOS.workflow()
async def notice(seconds: int) -> dict[str, Any]:
    """Asks about a message that times out after `seconds` when nobody decides: what the workflow read."""
    decision = await APPROVALS[0].approval(message("Tell every customer the prices go up", title="Price notice",
                                                   timeout=seconds))
    return {"status": decision.status, "approved": decision.approved, "decided_by": decision.decided_by,
            "refusal": decision.refusal}


async def main(database: str, url: str, key: str, relay: str, outbox: str, mode: str, workflow_id: str,
               receipts: str = "") -> None:
    DBOS(config={"name": "refunds", "system_database_url": database})
    async with ApprovalsClient(url.split(","), key, title="refunds") as client:
        APPROVALS.append(DBOSApprovals(client, relay_url=relay))
        DBOS.launch()  # in this loop: the workflows it recovers run here
        try:
            handle: Any
            if mode == "notice":
                with SetWorkflowID(workflow_id):
                    handle = await DBOS.start_workflow_async(notice, 2)
            elif mode in ("start", "poll"):
                with SetWorkflowID(workflow_id):
                    handle = await DBOS.start_workflow_async(refund_order, "A-1001", 4200, outbox, mode == "poll",
                                                              receipts)
            else:
                handle = await DBOS.retrieve_workflow_async(workflow_id)
            print("waiting", flush=True)
            print(json.dumps(await handle.get_result()), flush=True)
        finally:
            DBOS.destroy()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:9]))

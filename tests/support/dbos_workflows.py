"""A refund workflow on DBOS (SQLite) that asks people before it refunds, as a user writes it
(docs/agents/dbos.md): `python -m tests.support.dbos_workflows <system database URL> <bot url> <key> <relay url>
<outbox> start|poll|recover <workflow id>`. `start` starts the workflow (`poll`: in poll mode), `recover` lets DBOS
recover it (a process that died while it waited); either prints "waiting", then the workflow's result as a JSON
line. The refund step appends one JSON line per refund to `outbox`."""

from __future__ import annotations

import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from agent_approvals import ApprovalsClient
from agent_approvals.dbos import DBOSApprovals, tool_call
from dbos import DBOS, SetWorkflowID

from tests.support.temporal_workflows import SCHEMA

APPROVALS: list[DBOSApprovals] = []  # the one the program made (before DBOS.launch, which may recover workflows)


@DBOS.step()
async def refund(outbox: str, arguments: dict[str, Any]) -> None:
    await asyncio.to_thread(_append, Path(outbox), json.dumps(arguments) + "\n")


def _append(path: Path, line: str) -> None:
    with path.open("a") as out:
        out.write(line)


@DBOS.workflow()
async def refund_order(order: str, amount_cents: int, outbox: str, poll: bool = False) -> dict[str, Any]:
    asked = tool_call("refund", {"order": order, "amount_cents": amount_cents}, schema=SCHEMA,
                      title=f"Refund order {order}")
    decision = await APPROVALS[0].approval(asked, poll=poll)
    if not decision.approved:
        return {"ran": False, "status": decision.status, "refusal": decision.refusal, "decided_by": decision.decided_by}
    await refund(outbox, decision.arguments)
    return {"ran": True, "arguments": decision.arguments, "decided_by": decision.decided_by}


async def main(database: str, url: str, key: str, relay: str, outbox: str, mode: str, workflow_id: str) -> None:
    DBOS(config={"name": "refunds", "system_database_url": database})
    async with ApprovalsClient(url, key, title="refunds") as client:
        APPROVALS.append(DBOSApprovals(client, relay_url=relay))
        DBOS.launch()  # in this loop: the workflows it recovers run here
        try:
            if mode in ("start", "poll"):
                with SetWorkflowID(workflow_id):
                    handle: Any = await DBOS.start_workflow_async(refund_order, "A-1001", 4200, outbox, mode == "poll")
            else:
                handle = await DBOS.retrieve_workflow_async(workflow_id)
            print("waiting", flush=True)
            print(json.dumps(await handle.get_result()), flush=True)
        finally:
            DBOS.destroy()


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:8]))

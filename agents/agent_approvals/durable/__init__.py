"""The durable wing: a workflow waits for people in Slack, durably, with nothing running while they decide.

    core.py       what the engines share: the ask (`tool_call`, `message`), the decision a workflow acts on
                  (`WorkflowDecision`), and ask / settle / withdraw through `ApprovalsClient`
    engines.py    the relay's registry of engines (a name, the module that connects to it, imported only when
                  named) and what delivering a decision answers (`Delivered`)
    relay.py      `agent-approvals-relay`: the bot's signed webhook in, the engine's decision out
    temporal/     Temporal workflows (extra `temporal`): `approval(tool_call(...))` in an `ApprovalsWorkflow`
    dbos.py       DBOS workflows (extra `dbos`): `DBOSApprovals(client, relay_url=...).approval(tool_call(...))`

The engines import the core and `engines.py`, never the relay; the relay finds an engine by name in
`engines.ENGINES`: nothing here imports back up. `agent_approvals.temporal` and `agent_approvals.dbos` (the names
the interface gives them) are the engines' modules under their old names.
"""

from __future__ import annotations

from agent_approvals.durable.core import Ask, Route, WorkflowDecision, ask, message, settle, tool_call, withdraw

__all__ = ["Ask", "Route", "WorkflowDecision", "ask", "message", "settle", "tool_call", "withdraw"]

"""An approval gateway for the Model Context Protocol (extra `mcp`): any agent's MCP tool calls decided in Slack.
The gateway is `gateway.py` (the MCP server it serves: what it forwards, refuses and audits; how long a call
waits), on two halves that never call each other: what forwards a call to the upstream `forwarding.py` (its
tools, the schema check, the forward, the `isError` refusal) and what waits for a decision `deciding.py` (the ask,
the wait, the audit line, who a client is). Its tasks (the tasks extension) are `tasks.py`, on the same two
halves; the server behind it `upstream.py`, what is not JSON-RPC `wire.py`, the command line `__main__.py`.
Arrows run one way: `__main__` -> `gateway` -> `tasks` -> `deciding`, `forwarding` -> `upstream` (and `gateway` ->
`deciding`, `forwarding`, `wire`)."""

from __future__ import annotations

from agent_approvals.mcp_gateway.gateway import Gateway, Upstream, connect

__all__ = ["Gateway", "Upstream", "connect"]

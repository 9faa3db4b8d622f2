"""An approval gateway for the Model Context Protocol (extra `mcp`): any agent's MCP tool calls decided in Slack.
The gateway is `gateway.py` (what it forwards, refuses and audits; how long a call waits), its tasks (the tasks
extension) `tasks.py`, the server behind it `upstream.py`, what is not JSON-RPC `wire.py`, the command line
`__main__.py`."""

from __future__ import annotations

from agent_approvals.mcp_gateway.gateway import Gateway, Upstream, connect

__all__ = ["Gateway", "Upstream", "connect"]

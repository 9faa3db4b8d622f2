"""An approval gateway for the Model Context Protocol (extra `mcp`): any agent's MCP tool calls decided in Slack.

    gateway.py     the gateway: what it forwards, refuses and audits; how long a call waits
    tasks.py       its tasks (the tasks extension): a call that becomes a task at once, decided later
    upstream.py    the MCP server behind it, started (stdio) or reached (streamable HTTP)
    wire.py        what is not JSON-RPC, answered with JSON-RPC's error
    __main__.py    the command line, `agent-approvals-mcp`"""

from __future__ import annotations

from agent_approvals.mcp_gateway.gateway import Gateway, Upstream, connect

__all__ = ["Gateway", "Upstream", "connect"]

"""An approval gateway for the Model Context Protocol (extra `mcp`): any agent's MCP tool calls decided in Slack.

    gateway.py     the MCP server the gateway serves: what it forwards, refuses and audits; how long a call waits
    forwarding.py  what forwards a call to the upstream: its tools, the schema check, the forward, the `isError`
                   refusal
    deciding.py    what waits for a decision: the ask, the wait, deny-then-grant, the audit line, who a client is
    marks.py       what a call changes: the artefacts a tool marks (`x-artifact` in its schema, or `--artifact`), and
                   the check, right before an approved call is forwarded, that its files are still as approved
    listing.py     `tools/list` by policy: one AuthZEN batch to the bot per list (kept briefly), a forbidden tool
                   not listed, one a person decides marked in its `_meta`; `--list-all` lists everything
    tasks.py       its tasks (the tasks extension): a call that becomes a task at once, decided later, on the same
                   two halves
    upstream.py    the MCP server behind it, started (stdio) or reached (streamable HTTP)
    wire.py        what is not JSON-RPC, answered with JSON-RPC's error; `streamable_http`, the SDK's HTTP
                   transport behind that check (`--listen`, and the bot's Slackbot endpoint, `/slack/mcp`)
    __main__.py    the command line, `agent-approvals-mcp`

Arrows run one way: `__main__` -> `gateway` -> `tasks` -> `deciding`, `forwarding` -> `upstream` (and `gateway` ->
`deciding`, `forwarding`, `listing`, `wire`); `forwarding` and `deciding` never call each other (both read `marks`)."""

from __future__ import annotations

from agent_approvals.mcp_gateway.gateway import Gateway, Upstream, connect

__all__ = ["Gateway", "Upstream", "connect"]

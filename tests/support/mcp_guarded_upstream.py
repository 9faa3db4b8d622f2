"""An MCP server that checks receipts itself (`agent_approvals.guards.guard_mcp_server`): a mailbox whose
`send_email` runs only with a valid, unspent receipt in the call's `_meta`, and whose `list_inbox` needs none
(the gateway lets it through with `--allow list_*`). Each call that reaches a tool is appended to a JSONL file
before it answers, so tests in other processes can count them. Served over stdio.

    python tests/support/mcp_guarded_upstream.py --record calls.jsonl --bot-url http://127.0.0.1:PORT
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import anyio
from agent_approvals.guards import guard_mcp_server
from agent_approvals.receipts import ReceiptChecker
from mcp import types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

SEND_EMAIL = {
    "type": "object",
    "properties": {"to": {"type": "string"}, "body": {"type": "string"}},
    "required": ["to", "body"],
    "additionalProperties": False,
}


def mailbox(record: str) -> Server[Any]:
    async def list_tools(ctx: ServerRequestContext[Any, Any], params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[
            types.Tool(name="send_email", description="Send an email to one recipient.", input_schema=SEND_EMAIL),
            types.Tool(name="list_inbox", description="The newest messages.", input_schema={"type": "object"}),
        ])

    async def call_tool(ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams) -> Any:
        arguments = dict(params.arguments or {})
        _record(record, {"tool": params.name, "arguments": arguments, "pid": os.getpid()})
        text = f"sent to {arguments.get('to')}" if params.name == "send_email" else "alice: lunch?"
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)])

    return Server("guarded-mailbox", version="1.0", on_list_tools=list_tools, on_call_tool=call_tool)


def _record(path: str, call: dict[str, Any]) -> None:
    """On disk before the call is answered."""
    with open(path, "a") as out:
        out.write(json.dumps(call) + "\n")


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", required=True)
    parser.add_argument("--bot-url", required=True)
    parser.add_argument("--audience", default=None)
    args = parser.parse_args()
    server = mailbox(args.record)
    async with ReceiptChecker(args.bot_url, audience=args.audience) as checker:
        guard_mcp_server(server, checker, unguarded={"list_inbox"})
        async with stdio_server() as (read, write):
            await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)

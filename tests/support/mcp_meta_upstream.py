"""An MCP server for the gateway's receipt tests: one tool, `send_email`, that records each call it receives with
what its `_meta` carried under `agent_approvals.receipts.META_KEY` (a JSONL file, on disk before it answers) and
answers with that receipt, or "no receipt".

    python tests/support/mcp_meta_upstream.py --record calls.jsonl
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

import anyio
from agent_approvals.receipts import META_KEY
from mcp import types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server

SEND_EMAIL = {"type": "object", "properties": {"to": {"type": "string"}, "body": {"type": "string"}},
              "required": ["to", "body"], "additionalProperties": False}


def echoing(record: str) -> Server[Any]:
    async def list_tools(ctx: ServerRequestContext[Any, Any], params: Any) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[types.Tool(name="send_email", input_schema=SEND_EMAIL)])

    async def call_tool(ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams) -> Any:
        meta = dict(params.meta or {})
        receipt = meta.get(META_KEY)
        _record(record, {"tool": params.name, "arguments": params.arguments, "receipt": receipt,
                         "has_key": META_KEY in meta})
        return types.CallToolResult(content=[types.TextContent(type="text", text=receipt or "no receipt")])

    return Server("mailbox", version="1.0", on_list_tools=list_tools, on_call_tool=call_tool)


def _record(path: str, call: dict[str, Any]) -> None:
    """On disk before the call is answered."""
    with open(path, "a") as out:
        out.write(json.dumps(call) + "\n")
        out.flush()
        os.fsync(out.fileno())


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", required=True)
    args = parser.parse_args()
    async with stdio_server() as (read, write):
        server = echoing(args.record)
        await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)

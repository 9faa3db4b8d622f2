"""The MCP server Slackbot's tests put behind `/slack/mcp`, written with the SDK's high-level server (`MCPServer`,
formerly FastMCP): `send_email` and `pay` (writes: they ask first; `pay`'s answer repeats its card number) and
`list_inbox` (`readOnlyHint`: forwarded at once). Every call it receives is appended to the JSONL file `--record`
(with the receipt in its `_meta`, when one came) before it answers, so the tests count the runs. Over stdio, or with
`--http PORT` over streamable HTTP (`streamable_http_app()` served by uvicorn at `http://127.0.0.1:PORT/mcp`).

    python tests/support/mcp_slackbot_upstream.py --record calls.jsonl [--http PORT]
"""

from __future__ import annotations

import argparse
import json
import os
from typing import Any

from mcp.server.mcpserver import Context, MCPServer
from mcp.types import ToolAnnotations

INBOX = ["alice: lunch?", "bob: the prices", "carol: the board meets Tuesday"]


def mailbox(record: str) -> MCPServer:
    server = MCPServer("mailbox")

    @server.tool(description="Send an email to one recipient.")
    def send_email(to: str, body: str, ctx: Context) -> str:
        _record(record, {"tool": "send_email", "arguments": {"to": to, "body": body}, "meta": _meta(ctx)})
        return f"sent to {to}"

    @server.tool(description="Pay an amount with a card.")
    def pay(card: str, amount: int, ctx: Context) -> str:
        _record(record, {"tool": "pay", "arguments": {"card": card, "amount": amount}, "meta": _meta(ctx)})
        return f"paid {amount} with card {card}"  # a receipt that says the card again, as many do

    @server.tool(description="The newest messages.", annotations=ToolAnnotations(read_only_hint=True))
    def list_inbox(limit: int = 3) -> str:
        _record(record, {"tool": "list_inbox", "arguments": {"limit": limit}})
        return "\n".join(INBOX[:limit])

    return server


def _meta(ctx: Context) -> dict[str, Any]:
    return dict(ctx.request_context.meta or {})


def _record(path: str, call: dict[str, Any]) -> None:
    with open(path, "a") as out:
        out.write(json.dumps(call) + "\n")
        out.flush()
        os.fsync(out.fileno())


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", required=True)
    parser.add_argument("--http", type=int, default=0)
    args = parser.parse_args()
    if args.http:
        import uvicorn

        app = mailbox(args.record).streamable_http_app(host="127.0.0.1")
        uvicorn.run(app, host="127.0.0.1", port=args.http, log_level="warning")
    else:
        mailbox(args.record).run("stdio")

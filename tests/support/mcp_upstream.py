"""The MCP server the gateway's tests put behind it: a mailbox with `send_email` and `list_inbox`, a prompt and
a resource, written with the official SDK's low-level server. Every tool call it receives is appended to a JSONL
file (`--record`) before it answers, so tests in other processes can count them.

    python tests/support/mcp_upstream.py --record calls.jsonl [--mode ok|lie|garbage|crash|hang|hostile] [--http PORT]

Modes: `ok`; `lie`: it lists `send_email` with an inputSchema that is not a JSON schema; `garbage`: it answers
every tool call with a JSON-RPC response that is not a tool result (and nothing else); `crash`: it exits at once;
`hang`: it records each tool call and never answers it; `files`: it also lists `write_file` (path, content: its
inputSchema marks the file change, `x-artifact`) and `save_note` (name, text: unmarked), each writing the file;
`hostile`: it also lists tools whose inputSchemas are
hostile (`HOSTILE`: a `$ref` to `--ref-url`, one to a file, one whose array index is "²", a pattern that backtracks
exponentially in `re`).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import anyio
from mcp import types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.server.stdio import stdio_server
from mcp.shared.message import SessionMessage
from mcp_types import JSONRPCResponse

SEND_EMAIL = {
    "type": "object",
    "properties": {"to": {"type": "string", "pattern": "^[^@]+@[^@]+$"}, "body": {"type": "string"}},
    "required": ["to", "body"],
    "additionalProperties": False,
}
LIST_INBOX = {
    "type": "object", "properties": {"limit": {"type": "integer", "minimum": 1}}, "additionalProperties": False,
}
INBOX = ["alice: lunch?", "bob: the prices", "carol: the board meets Tuesday"]
WRITE_FILE = {
    "type": "object", "properties": {"path": {"type": "string"}, "content": {"type": "string"}},
    "required": ["path", "content"], "x-artifact": {"kind": "file", "path": "path", "after": "content"},
}
SAVE_NOTE = {
    "type": "object", "properties": {"name": {"type": "string"}, "text": {"type": "string"}},
    "required": ["name", "text"],
}
EVIL_PATTERN = "^(a+)+$"  # Python's re takes 2^n steps on n a's and a "!"; RE2 is linear


def hostile(ref_url: str) -> dict[str, dict[str, Any]]:
    """Tools whose inputSchema a gateway must not follow: fetch a URL, read a file, freeze on a pattern, take "²"
    for an array index (`str.isdigit` does, `int` raises)."""
    def one(prop: dict[str, Any], **extra: Any) -> dict[str, Any]:
        return {"type": "object", "properties": {"to": prop}, "required": ["to"], **extra}

    return {"fetch_ref": one({"$ref": ref_url}), "file_ref": one({"$ref": "file:///etc/hostname"}),
            "index_ref": one({"$ref": "#/anyOf/²"}, anyOf=[{"type": "object"}]),
            "slow_pattern": one({"type": "string", "pattern": EVIL_PATTERN})}


def mailbox(record: str, mode: str, wire: Any = None, ref_url: str = "") -> Server[Any]:
    """The server; `wire`: the stdio write stream (garbage mode answers on it, past the SDK's checks)."""

    async def list_tools(ctx: ServerRequestContext[Any, Any], params: Any) -> types.ListToolsResult:
        schema = {"type": "object", "properties": {"to": {"type": "e-mail"}}} if mode == "lie" else SEND_EMAIL
        extra = hostile(ref_url) if mode == "hostile" else {}
        if mode == "files":
            extra = {"write_file": WRITE_FILE, "save_note": SAVE_NOTE}
        return types.ListToolsResult(tools=[
            types.Tool(name="send_email", description="Send an email to one recipient.", input_schema=schema),
            types.Tool(name="list_inbox", description="The newest messages.", input_schema=LIST_INBOX),
            *(types.Tool(name=name, description="Writes a file." if mode == "files" else "Hostile.", input_schema=s)
              for name, s in extra.items()),
        ])

    async def call_tool(ctx: ServerRequestContext[Any, Any], params: types.CallToolRequestParams) -> Any:
        arguments = dict(params.arguments or {})
        _record(record, {"tool": params.name, "arguments": arguments, "pid": os.getpid()})
        if mode == "hang":  # received, never answered
            await anyio.sleep_forever()
        if mode == "garbage" and wire is not None:  # a response to this request that is no tool result
            garbage = JSONRPCResponse(jsonrpc="2.0", id=ctx.request_id or 0, result={"content": "garbage"})
            await wire.send(SessionMessage(garbage))
            await anyio.sleep_forever()
        if mode == "files" and params.name in ("write_file", "save_note"):
            path, content = (arguments.get("path"), arguments.get("content")) if params.name == "write_file" else (
                arguments.get("name"), arguments.get("text"))
            await anyio.Path(str(path)).write_text(str(content))
            text = f"wrote {path}"
        elif params.name == "send_email":
            text = f"sent to {arguments.get('to')}"
        elif params.name == "list_inbox":
            text = "\n".join(INBOX[: int(arguments.get("limit") or len(INBOX))])
        else:
            return types.CallToolResult(content=[types.TextContent(type="text", text="no such tool")], is_error=True)
        return types.CallToolResult(content=[types.TextContent(type="text", text=text)])

    async def list_prompts(ctx: ServerRequestContext[Any, Any], params: Any) -> types.ListPromptsResult:
        return types.ListPromptsResult(prompts=[types.Prompt(name="triage", description="Triage the inbox.")])

    async def get_prompt(ctx: ServerRequestContext[Any, Any], params: types.GetPromptRequestParams) -> Any:
        message = types.PromptMessage(role="user", content=types.TextContent(type="text", text="Triage my inbox."))
        return types.GetPromptResult(description="Triage the inbox.", messages=[message])

    async def list_resources(ctx: ServerRequestContext[Any, Any], params: Any) -> types.ListResourcesResult:
        return types.ListResourcesResult(resources=[types.Resource(uri="inbox://summary", name="summary")])

    async def read_resource(ctx: ServerRequestContext[Any, Any], params: types.ReadResourceRequestParams) -> Any:
        text = types.TextResourceContents(uri=str(params.uri), text=f"{len(INBOX)} messages")
        return types.ReadResourceResult(contents=[text])

    return Server("mailbox", version="1.0", instructions="A test mailbox.", on_list_tools=list_tools,
                  on_call_tool=call_tool, on_list_prompts=list_prompts, on_get_prompt=get_prompt,
                  on_list_resources=list_resources, on_read_resource=read_resource)


class BearerOnly:
    """401 for an HTTP request without `Authorization: Bearer <token>`."""

    def __init__(self, app: Any, token: str) -> None:
        self.app, self.expected = app, f"Bearer {token}".encode()

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] == "http" and dict(scope["headers"]).get(b"authorization") != self.expected:
            from starlette.responses import PlainTextResponse

            await PlainTextResponse("unauthorized", status_code=401)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _record(path: str, call: dict[str, Any]) -> None:
    """On disk before the call is answered."""
    with open(path, "a") as out:
        out.write(json.dumps(call) + "\n")
        out.flush()
        os.fsync(out.fileno())


def _record_pid(path: str) -> None:
    with open(path, "w") as out:
        out.write(str(os.getpid()))


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--record", required=True)
    parser.add_argument("--mode", default="ok", choices=["ok", "lie", "garbage", "crash", "hang", "hostile",
                                                                "files"])
    parser.add_argument("--ref-url", default="http://127.0.0.1:9/schema.json", help="hostile mode: the $ref URL")
    parser.add_argument("--http", type=int, default=0)
    parser.add_argument("--token", default="", help="over HTTP, answer only requests with this bearer token")
    parser.add_argument("--pid-file", default="", help="write this process's id there once it serves")
    args = parser.parse_args()
    if args.mode == "crash":
        print("mailbox: cannot open the mail spool", file=sys.stderr)
        sys.exit(3)
    if args.pid_file:
        _record_pid(args.pid_file)
    if args.http:
        server = mailbox(args.record, args.mode, ref_url=args.ref_url)
        import uvicorn

        app = server.streamable_http_app(host="127.0.0.1")
        if args.token:
            app.add_middleware(BearerOnly, token=args.token)
        config = uvicorn.Config(app, host="127.0.0.1", port=args.http, log_level="warning")
        await uvicorn.Server(config).serve()
    else:
        async with stdio_server() as (read, write):
            server = mailbox(args.record, args.mode, write, args.ref_url)
            await server.run(read, write, server.create_initialization_options())


if __name__ == "__main__":
    anyio.run(main)

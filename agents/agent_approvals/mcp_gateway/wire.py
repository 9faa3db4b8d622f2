"""The MCP gateway's wire, before the SDK reads it: a line (stdio) or a body (`--listen`) that is not JSON-RPC gets its
JSON-RPC error (-32700 not JSON, -32600 invalid request) instead of silence, and the gateway goes on.

`streamable_http` is the one way an MCP server of this project is served over HTTP: the SDK's streamable HTTP
transport behind `JsonRpcBodies`, for the gateway's `--listen` (sessions, SSE) and the bot's Slackbot endpoint
(`/slack/mcp`: stateless, JSON answers, mounted under aiohttp)."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

from agent_approvals._extras import missing_extra

try:
    import anyio
    from mcp import types
    from mcp.server.lowlevel import Server
    from mcp.server.stdio import stdio_server
    from mcp.server.transport_security import DEFAULT_MAX_REQUEST_BODY_SIZE, TransportSecuritySettings
    from mcp.shared.message import SessionMessage
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "mcp", exc) from exc
from pydantic import ValidationError
from pydantic_core import from_json

if TYPE_CHECKING:
    from mcp.shared._stream_protocols import ReadStream, WriteStream

log = logging.getLogger("agent_approvals.mcp_gateway")


def jsonrpc_refusal(raw: str | bytes) -> types.JSONRPCError | None:
    """None for one JSON-RPC message (as the MCP SDK reads it); else the error its sender gets: -32700 for what is
    not JSON, -32600 for JSON that is no JSON-RPC request, notification or response (with its id when it has a
    usable one, else null), or a request whose id is neither a string nor an integer (the SDK would take it for
    a notification and answer nothing)."""
    try:
        message = types.jsonrpc_message_adapter.validate_json(raw, by_name=False)
    except ValidationError:
        pass
    else:
        if isinstance(message, types.JSONRPCNotification) and "id" in from_json(raw):
            return _rpc_error(None, types.INVALID_REQUEST, "Invalid request: its id is neither a string nor an integer")
        return None
    try:
        decoded = from_json(raw)
    except ValueError as exc:
        return _rpc_error(None, types.PARSE_ERROR, f"Parse error: not JSON ({' '.join(str(exc).split())[:120]})")
    ident = decoded.get("id") if isinstance(decoded, dict) else None
    usable = isinstance(ident, str) or (isinstance(ident, int) and not isinstance(ident, bool))
    return _rpc_error(ident if usable else None, types.INVALID_REQUEST,
                      "Invalid request: not a JSON-RPC 2.0 request, notification or response")


def _rpc_error(ident: str | int | None, code: int, message: str) -> types.JSONRPCError:
    return types.JSONRPCError(jsonrpc="2.0", id=ident, error=types.ErrorData(code=code, message=message))


def _refusing(where: str, error: types.JSONRPCError) -> None:
    log.warning("answered %s from the client with JSON-RPC error %d: %s", where, error.error.code,
                error.error.message)


@contextlib.asynccontextmanager
async def stdio_checked() -> AsyncIterator[tuple[ReadStream[SessionMessage | Exception], WriteStream[SessionMessage]]]:
    """The MCP SDK's stdio transport (`stdio_server`: its stdout kept for the wire), fed the client's stdin lines
    through a check: a line that is no JSON-RPC message is answered with its error (`jsonrpc_refusal`) on the
    wire and not passed on (the SDK would drop it in silence), a blank line is skipped; the rest go on as read."""
    wire: list[WriteStream[SessionMessage]] = []
    ready = anyio.Event()

    async def lines() -> AsyncIterator[str]:
        async for raw in anyio.wrap_file(sys.stdin.buffer):
            line = raw.decode("utf-8", errors="replace")
            if not line.strip():
                continue
            error = jsonrpc_refusal(line)
            if error is None:
                yield line
                continue
            _refusing("a stdin line", error)
            await ready.wait()
            with contextlib.suppress(anyio.ClosedResourceError, anyio.BrokenResourceError):  # (the server ended)
                await wire[0].send(SessionMessage(error))

    class Lines:  # what `stdio_server` iterates (it takes an anyio text file; only `async for` is used)
        def __aiter__(self) -> AsyncIterator[str]:
            return lines()

    async with stdio_server(stdin=cast("anyio.AsyncFile[str]", Lines())) as (read, write):
        wire.append(write)
        ready.set()
        yield read, write


def streamable_http(
    server: Server[Any], *, path: str = "/mcp", host: str | None = "127.0.0.1", stateless: bool = False,
    json_response: bool = False, max_body: int = DEFAULT_MAX_REQUEST_BODY_SIZE,
) -> JsonRpcBodies:
    """`server` over the MCP SDK's streamable HTTP transport at `path`, as an ASGI app: the SDK's (its session
    manager runs in the app's lifespan) behind `JsonRpcBodies`, so a body that is not one JSON-RPC message gets its
    JSON-RPC error. `host`: where it listens (a loopback host gets the SDK's DNS-rebinding guard); None for an
    endpoint reached through a public URL, whose guard is its own (Slack's signature). `stateless`: no session, each
    request alone; `json_response`: a JSON answer per POST, never an SSE stream."""
    guard = None if host is not None else TransportSecuritySettings(enable_dns_rebinding_protection=False)
    app = server.streamable_http_app(streamable_http_path=path, host=host or "", stateless_http=stateless,
                                     json_response=json_response, max_request_body_size=max_body,
                                     transport_security=guard)
    return JsonRpcBodies(app, path=path, max_body=max_body)


class JsonRpcBodies:
    """ASGI middleware in front of the streamable HTTP app: a POST to `path` whose body is no JSON-RPC message gets
    HTTP 400 with its JSON-RPC error (`jsonrpc_refusal`: -32700 or -32600), the same over each protocol era; one
    larger than `max_body` bytes gets 413, as the SDK answers it; any other request goes on, its body replayed."""

    def __init__(self, app: Any, path: str = "/mcp", max_body: int = DEFAULT_MAX_REQUEST_BODY_SIZE) -> None:
        self.app, self.path, self.max_body = app, path.rstrip("/"), max_body

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].rstrip("/") != self.path:
            await self.app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":  # the client left before its body arrived
                return
            body += message.get("body", b"")
            if len(body) > self.max_body:
                await _answer(send, 413, b"Request body too large", b"text/plain; charset=utf-8")
                return
            if not message.get("more_body", False):
                break
        error = jsonrpc_refusal(bytes(body))
        if error is not None:
            _refusing("a POST body", error)
            await _answer(send, 400, error.model_dump_json(by_alias=True, exclude_unset=True).encode())
            return
        replayed = False

        async def replay() -> Any:
            nonlocal replayed
            if replayed:
                return await receive()  # (then the client's disconnect, as the app watches for it)
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self.app(scope, replay, send)


async def _answer(send: Any, status: int, body: bytes, kind: bytes = b"application/json") -> None:
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})

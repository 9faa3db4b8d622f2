"""Claude Code's HTTP hook, served by every worker: `POST /api/v1/hooks/claude-code?wait=S`, so no process starts
per tool call.

    {"type": "http", "url": "https://approvals.example.com/api/v1/hooks/claude-code?wait=50",
     "headers": {"Authorization": "Bearer $AGENT_APPROVALS_KEY"}, "allowedEnvVars": ["AGENT_APPROVALS_KEY"]}

The body is Claude Code's `PreToolUse` hook input; the answer (200) is the hook's decision
(`hookSpecificOutput.permissionDecision` allow / deny / ask), made by the command hook's own core
(`agent_approvals.claude_code.hook.decide`: the same card, the same deny-then-grant, the same idempotency keys, so
a command hook and this one find each other's cards). Its client's requests (ask, long-polls, use) go to this
worker's own aiohttp application in process (`InProcess`, an httpx transport, as httpx's `ASGITransport` hands a
request to an ASGI app): the routes, checks and answers of the Approvals API over HTTP, an unknown path or method
answered as the app answers it, without a round trip. `?wait=S` (0 to 60, default 50), `?on_error=ask` (default
deny), and the header `X-Approvals-Requester` (a Slack user id or their email; Claude Code fills it from the
environment) shape the ask.

The hook's request is admitted once, by the API's key check in front of it (the per-worker rate, the key's
per-minute limit): its inner requests are not counted again (one hook call makes several) and carry no key. They
are made as the admitted key's in process: the request's state holds the key under `ADMITTED`, which only
`InProcess` sets (aiohttp starts every request it reads from a connection with an empty state; no header, query or
body of an outside request can put anything there), and the key check takes it instead of a bearer key.

Every answer is a decision, 200 (`decided`): Claude Code reads any other status as no decision and runs its own
permission flow, so a refusal (401 a wrong or revoked key, 413 a large `Write`, 429 past the key's limits, 400 input
nested too deep or not JSON) is a 200 deny with the refusal's reason; the store unreachable (503) is the `on_error`
verdict. Only a bot that cannot be reached at all leaves Claude Code to its own flow (in `-p` mode, a call not
allowed by its rules is then denied); the command hook is the one that also denies then.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable

import httpx
from agent_approvals.claude_code.hook import WAIT, OnError, answer, decide
from agent_approvals.client import ApprovalsClient
from aiohttp import HttpVersion11, StreamReader, web
from aiohttp.abc import AbstractStreamWriter
from aiohttp.http import RawRequestMessage
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from bot.api.requests import MAX_BODY, ApiError, bad, parse_json, wait_seconds
from bot.store import ApiKey

PATH = "/api/v1/hooks/claude-code"
REQUESTER_HEADER = "X-Approvals-Requester"
RETRY_FOR = 2.0  # seconds the in-process client retries a store that does not answer (503), then denies
ADMITTED = "bot.api.admitted_key"  # an in-process request's state: the `ApiKey` the hook's request was admitted as

Route = Callable[[web.Request], Awaitable[web.StreamResponse]]


def decided(route: Route) -> Route:
    """`route` (the hook behind the API's key check and limits) whose every answer is a decision, 200: a refusal
    becomes deny with its reason (the store unreachable: the `?on_error` verdict)."""

    async def answered(request: web.Request) -> web.StreamResponse:
        try:
            response = await route(request)
        except web.HTTPException as exc:  # aiohttp's own refusals (a body past the server's limit)
            status, said = exc.status, exc.reason
        else:
            if response.status < 300:
                return response
            status, said = response.status, _said(response)
        verdict: OnError = "ask" if status >= 500 and request.query.get("on_error") == "ask" else "deny"
        return web.json_response(answer(verdict, f"Not run: the approvals bot refused the hook ({status}: {said})."))

    return answered


def _said(response: web.StreamResponse) -> str:
    """A refusal's message (`{"error": {"message": ...}}`), else its reason phrase."""
    body = response.body if isinstance(response, web.Response) else None
    try:
        return str(json.loads(body)["error"]["message"])[:300] if isinstance(body, bytes) else response.reason
    except (ValueError, KeyError, TypeError):
        return response.reason or "refused"


async def hook(request: web.Request, key: ApiKey) -> web.Response:
    """The route's handler (mounted behind the API's key check, which admitted `key`)."""
    wait = wait_seconds(request.query.get("wait")) if "wait" in request.query else WAIT
    on_error = request.query.get("on_error", "deny")
    if on_error not in ("deny", "ask"):
        raise bad("on_error", "on_error must be deny or ask")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, "too_large", f"the body is larger than {MAX_BODY} bytes", field="body")
    payload = parse_json(await request.read())
    options = {"requester": request.headers[REQUESTER_HEADER]} if request.headers.get(REQUESTER_HEADER) else {}
    mode: OnError = "ask" if on_error == "ask" else "deny"
    async with ApprovalsClient("http://in-process", "-", transport=InProcess(request, key),
                               retry_for=RETRY_FOR) as client:
        return web.json_response(await decide(client, payload, wait=wait, on_error=mode, **options))


class InProcess(httpx.AsyncBaseTransport):
    """An httpx transport that hands the client's requests to this worker's aiohttp application, the one the
    hook's own request came to (as httpx's `ASGITransport` hands them to an ASGI app): the same routes, checks
    and answers as over HTTP, without a round trip. Each is made as the admitted `key`'s (`ADMITTED`)."""

    def __init__(self, request: web.Request, key: ApiKey) -> None:
        self.outer, self.key = request, key

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """`request` answered as the app's server answers one it read: by `Application._handle`, the app's entry
        that aiohttp's own server calls (aiohttp has no public one but its test utilities), an `HTTPException` it
        raises (no such path, no such method) as that answer."""
        inner = self._inner(request, await request.aread())
        try:
            response = await self.outer.app._handle(inner)
        except web.HTTPException as exc:
            response = exc
        body = response.body if isinstance(response, web.Response) else None
        return httpx.Response(response.status, headers=list(response.headers.items()),
                              content=body if isinstance(body, bytes) else b"")

    def _inner(self, request: httpx.Request, raw: bytes) -> web.Request:
        """`request` as aiohttp's server would have made it on the hook's connection, marked admitted."""
        target = request.url.raw_path.decode("ascii")
        headers = CIMultiDict(request.headers.multi_items())
        headers.popall("Authorization", None)  # (the client's placeholder): the request is the admitted key's
        raw_headers = tuple((name.encode("latin-1"), value.encode("latin-1")) for name, value in headers.items())
        message = RawRequestMessage(request.method, target, HttpVersion11, CIMultiDictProxy(headers), raw_headers,
                                    False, None, False, False, URL(target, encoded=True))
        loop = asyncio.get_running_loop()
        payload = StreamReader(self.outer.protocol, max(len(raw), 2**16), loop=loop)  # (never pauses the hook's)
        if raw:
            payload.feed_data(raw)
        payload.feed_eof()
        return web.Request(message, payload, self.outer.protocol, Unwritten(), self.outer.task, loop,
                           client_max_size=self.outer.client_max_size, state={ADMITTED: self.key})


class Unwritten(AbstractStreamWriter):
    """The writer of an in-process request: its answer is handed back whole, never written to a connection (the
    hook's connection carries the hook's answer only); a handler that would stream its answer fails."""

    async def write_headers(self, status_line: str, headers: CIMultiDict[str]) -> None:
        raise RuntimeError("an in-process request is answered whole, not streamed")

    async def write(self, chunk: bytes | bytearray | memoryview) -> None:
        raise RuntimeError("an in-process request is answered whole, not streamed")

    async def write_eof(self, chunk: bytes = b"") -> None:
        """Nothing was written."""

    async def drain(self) -> None:
        """Nothing was written."""

    def enable_compression(self, encoding: str = "deflate", strategy: int | None = None) -> None:
        """Nothing is written."""

    def enable_chunking(self) -> None:
        """Nothing is written."""

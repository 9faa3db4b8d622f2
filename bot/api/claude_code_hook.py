"""Claude Code's HTTP hook, served by every worker: `POST /api/v1/hooks/claude-code?wait=S`, so no process starts
per tool call.

    {"type": "http", "url": "https://approvals.example.com/api/v1/hooks/claude-code?wait=50",
     "headers": {"Authorization": "Bearer $AGENT_APPROVALS_KEY"}, "allowedEnvVars": ["AGENT_APPROVALS_KEY"]}

The body is Claude Code's `PreToolUse` hook input; the answer (200) is the hook's decision
(`hookSpecificOutput.permissionDecision` allow / deny / ask), made by the command hook's own core
(`agent_approvals.claude_code.hook.decide`: the same card, the same deny-then-grant, the same idempotency keys, so
a command hook and this one find each other's cards). Its client's requests (ask, long-polls, use) go to this
worker's own server, over its own port (the address the hook's request came in at, `sockname`: a loopback
connection to itself): the routes, checks and answers of the Approvals API over HTTP, through aiohttp's public
server, no private entry of it. `?wait=S` (0 to 60, default 50), `?on_error=ask` (default deny), and the header
`X-Approvals-Requester` (a Slack user id or their email; Claude Code fills it from the environment) shape the ask.

The hook's request is admitted once, by the API's key check in front of it (the per-worker rate, the key's
per-minute limit): its inner requests are not counted again (one hook call makes several) and carry no key. They
are made as the admitted key's: each carries `X-Approvals-In-Process`, a token of 256 random bits the hook made for
this call and holds in the app's `Admissions` while the call lasts (never sent anywhere but to the worker itself,
never logged), and the key check takes the key it maps to instead of a bearer key. A token nobody holds is no key.

A file tool's change (`agent_approvals.claude_code.edits`) is computed, and checked right before "allow", only for
files under the directories `CLAUDE_CODE_FILES` names (a bot on the machine Claude Code works on): the bot reads
no other file, whatever path a hook input names (its own configuration, `/proc`), so a key holder cannot make it
show one on a card. Elsewhere the card shows the call's arguments, as before.

Every answer is a decision, 200 (`decided`): Claude Code reads any other status as no decision and runs its own
permission flow, so a refusal (401 a wrong or revoked key, 413 a large `Write`, 429 past the key's limits, 400 input
nested too deep or not JSON) is a 200 deny with the refusal's reason; the store unreachable (503) is the `on_error`
verdict. Only a bot that cannot be reached at all leaves Claude Code to its own flow (in `-p` mode, a call not
allowed by its rules is then denied); the command hook is the one that also denies then.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager

import httpx
from agent_approvals.artifacts import under
from agent_approvals.claude_code.hook import WAIT, OnError, answer, decide
from agent_approvals.client import ApprovalsClient
from aiohttp import web

from bot.api.requests import MAX_BODY, ApiError, bad, parse_json, wait_seconds
from bot.store import ApiKey

REQUESTER_HEADER = "X-Approvals-Requester"
RETRY_FOR = 2.0  # seconds the in-process client retries a store that does not answer (503), then denies
IN_PROCESS = "X-Approvals-In-Process"  # the header of the hook's own requests: the token of the key it was admitted as

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
    admissions, roots = request.app[ADMISSIONS], request.app[FILES]
    with admissions.admit(key) as token:
        url, transport = own_server(request, token)
        async with ApprovalsClient(url, "-", transport=transport, retry_for=RETRY_FOR,
                                   client_name="claude-code") as client:
            return web.json_response(await decide(client, payload, wait=wait, on_error=mode,
                                                  may_read=under(roots), **options))


class Admissions:
    """The keys the hook's calls in flight were admitted as, each by the token its own requests carry
    (`IN_PROCESS`): one per app (`ADMISSIONS`), made where the routes are mounted."""

    def __init__(self) -> None:
        self._keys: dict[str, ApiKey] = {}

    @contextmanager
    def admit(self, key: ApiKey) -> Iterator[str]:
        """A new token for `key`, good until the block ends."""
        token = secrets.token_urlsafe(32)
        self._keys[token] = key
        try:
            yield token
        finally:
            del self._keys[token]

    def key_of(self, request: web.Request) -> ApiKey | None:
        """The key a request the hook made was admitted as (its `IN_PROCESS` token held here), else None."""
        token = request.headers.get(IN_PROCESS, "")
        return self._keys.get(token) if token else None


ADMISSIONS = web.AppKey("claude_code_admissions", Admissions)
# the directories whose files the hook may read (CLAUDE_CODE_FILES)
FILES: web.AppKey[tuple[str, ...]] = web.AppKey("claude_code_files")


def admitted(request: web.Request) -> ApiKey | None:
    """The key the Claude Code hook's own request to this app was admitted as (None: an outside request)."""
    admissions = request.app.get(ADMISSIONS)
    return admissions.key_of(request) if admissions is not None else None


def own_server(request: web.Request, token: str) -> tuple[str, httpx.AsyncBaseTransport]:
    """The base URL and transport of this worker's own server, where `request` came in (its socket's local
    address), the hook's requests marked with `token` and carrying no key."""
    sockname = request.transport.get_extra_info("sockname") if request.transport is not None else None
    if isinstance(sockname, str | bytes):  # a Unix socket
        path = sockname.decode() if isinstance(sockname, bytes) else sockname
        return "http://localhost", Marked(token, httpx.AsyncHTTPTransport(uds=path))
    if not isinstance(sockname, tuple):
        raise ApiError(503, "unavailable", "the hook cannot reach this worker's own server")
    host, port = sockname[0], sockname[1]
    return f"http://{f'[{host}]' if ':' in host else host}:{port}", Marked(token, httpx.AsyncHTTPTransport())


class Marked(httpx.AsyncBaseTransport):
    """`transport` with each request marked as the hook's (`IN_PROCESS`) and without the client's placeholder key."""

    def __init__(self, token: str, transport: httpx.AsyncBaseTransport) -> None:
        self.token, self.transport = token, transport

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        request.headers.pop("Authorization", None)
        request.headers[IN_PROCESS] = self.token
        return await self.transport.handle_async_request(request)

    async def aclose(self) -> None:
        await self.transport.aclose()

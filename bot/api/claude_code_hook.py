"""Claude Code's HTTP hook, served by every worker: `POST /api/v1/hooks/claude-code?wait=S`, so no process starts
per tool call.

    {"type": "http", "url": "https://approvals.example.com/api/v1/hooks/claude-code?wait=50",
     "headers": {"Authorization": "Bearer $AGENT_APPROVALS_KEY"}, "allowedEnvVars": ["AGENT_APPROVALS_KEY"]}

The body is Claude Code's `PreToolUse` hook input; the answer (200) is the hook's decision
(`hookSpecificOutput.permissionDecision` allow / deny / ask), made by the command hook's own core
(`agent_approvals.claude_code.hook.decide`: the same card, the same deny-then-grant, the same idempotency keys, so
a command hook and this one find each other's cards). Its client speaks to this worker's `ApprovalsApi` in
process (`InProcess`, an httpx transport): the same steps as the Approvals API's routes, without a round trip.
`?wait=S` (0 to 60, default 50), `?on_error=ask` (default deny), and the header `X-Approvals-Requester` (a Slack
user id or their email; Claude Code fills it from the environment) shape the ask.

Every answer is a decision, 200 (`decided`): Claude Code reads any other status as no decision and runs its own
permission flow, so a refusal (401 a wrong or revoked key, 413 a large `Write`, 429 past the key's limits, 400 input
nested too deep or not JSON) is a 200 deny with the refusal's reason; the store unreachable (503) is the `on_error`
verdict. Only a bot that cannot be reached at all leaves Claude Code to its own flow (in `-p` mode, a call not
allowed by its rules is then denied); the command hook is the one that also denies then.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
from agent_approvals.claude_code.hook import WAIT, OnError, answer, decide
from agent_approvals.client import ApprovalsClient
from aiohttp import web

from bot.api.requests import MAX_BODY, ApiError, ask_body, bad, check_arguments, parse_json, use_token, wait_seconds
from bot.api.service import ApprovalsApi
from bot.store import ApiKey, StoreUnavailable

PATH = "/api/v1/hooks/claude-code"
REQUESTER_HEADER = "X-Approvals-Requester"
RETRY_FOR = 2.0  # seconds the in-process client retries a store that does not answer (503), then denies
APPROVAL = re.compile(r"^/api/v1/approvals/([^/]+)(/use)?$")

Handler = Callable[[web.Request, ApiKey], Awaitable[web.Response]]
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


def handler(api: ApprovalsApi) -> Handler:
    """The route's handler (mounted behind the API's key check)."""

    async def hook(request: web.Request, key: ApiKey) -> web.Response:
        wait = wait_seconds(request.query.get("wait")) if "wait" in request.query else WAIT
        on_error = request.query.get("on_error", "deny")
        if on_error not in ("deny", "ask"):
            raise bad("on_error", "on_error must be deny or ask")
        if request.content_length is not None and request.content_length > MAX_BODY:
            raise ApiError(413, "too_large", f"the body is larger than {MAX_BODY} bytes", field="body")
        payload = parse_json(await request.read())
        options = {"requester": request.headers[REQUESTER_HEADER]} if request.headers.get(REQUESTER_HEADER) else {}
        mode: OnError = "ask" if on_error == "ask" else "deny"
        async with ApprovalsClient("http://in-process", "-", transport=InProcess(api, key),
                                   retry_for=RETRY_FOR) as client:
            return web.json_response(await decide(client, payload, wait=wait, on_error=mode, **options))

    return hook


class InProcess(httpx.AsyncBaseTransport):
    """The Approvals API's steps for one key, as an httpx transport: the client's requests answered by this
    worker's `ApprovalsApi` directly (refusals as the API's JSON errors; the store unreachable as 503)."""

    def __init__(self, api: ApprovalsApi, key: ApiKey) -> None:
        self.api, self.key = api, key

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        raw = await request.aread()
        try:
            status, body = await self._answer(request.method, request.url.path, request.url.params, raw,
                                              request.headers.get("Idempotency-Key", ""))
        except ApiError as exc:
            status, body = exc.status, exc.body()
        except (StoreUnavailable, TimeoutError):
            status, body = 503, ApiError(503, "unavailable", "the approval store cannot be reached").body()
        return httpx.Response(status, content=json.dumps(body).encode(),
                              headers={"Content-Type": "application/json"})

    async def _answer(
        self, method: str, path: str, params: httpx.QueryParams, raw: bytes, idempotency_key: str
    ) -> tuple[int, dict[str, Any]]:
        if method == "POST" and path == "/api/v1/approvals":
            ask = ask_body(raw)
            check_arguments(ask)
            return await self.api.ask(self.key, ask, idempotency_key=idempotency_key)
        found = APPROVAL.fullmatch(path)
        if found is None:
            raise ApiError(404, "not_found", f"no such path {path}")
        approval_id, use = found.group(1), found.group(2)
        if method == "POST" and use:
            return 200, await self.api.use(self.key, approval_id, token=use_token(parse_json(raw)))
        if method == "GET" and not use:
            return 200, await self.api.get(self.key, approval_id, wait=wait_seconds(params.get("wait")))
        if method == "DELETE" and not use:
            return 200, await self.api.withdraw(self.key, approval_id)
        raise ApiError(405, "method_not_allowed", f"{method} {path}")

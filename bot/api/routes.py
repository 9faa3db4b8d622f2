"""The Approvals API over HTTP, on every worker next to `/slack/events`:

    POST   /api/v1/approvals            ask (201 pending; 200 when a rule or the input mode decided)
    GET    /api/v1/approvals/{id}       read; `?wait=S` long-polls up to S seconds (0 to 60)
    DELETE /api/v1/approvals/{id}       withdraw
    POST   /api/v1/approvals/{id}/use   use an approved call, once, right before running it; without a key, an
                                        executor spends the approval's signed receipt ({"receipt", "token"})
    POST   /api/v1/audit/allowed        record a call the program let through by its own allow-list (audit only)
    GET    /api/v1/key                  the key this request carries (its id, name and channels)
    GET    /api/v1/openapi.json         this API, described (no key needed)
    GET    /api/v1/jwks.json            the public keys receipts are signed with (no key needed)
    POST   /access/v1/evaluation        OpenID AuthZEN 1.0 evaluations, answered from the policies
    POST   /access/v1/evaluations         (bot/api/authzen.py, bot/api/evaluations.py)
    GET    /.well-known/authzen-configuration  the AuthZEN PDP's metadata (no key needed)
    POST   /api/v1/hooks/claude-code    Claude Code's HTTP hook (bot/api/claude_code_hook.py)

The routes are written once, in the document (`openapi.ROUTES`); `mount` serves each with its operation's handler.

Every other request needs `Authorization: Bearer aak_…`. A key's requests are admitted first, by its id (which
comes from the key itself), before Redis is asked anything or the body is read or parsed: at most `KEY_RATE` a second
on one worker, `KEY_BURST` at once (reads, each a long-poll: `KEY_READ_RATE`, `KEY_READ_BURST`; bot/api/admission.py),
then its per-minute limit; the receipt spends, which
have no key, at most `SPEND_RATE` a second from one address and `SPEND_ALL_RATE` from everyone. Past them: 429
with `Retry-After`, and the refusals of a flood logged once per 10 s with how many were left out. The Claude Code
hook's own requests to these routes, made to the worker itself, are its admitted key's and not counted again
(`claude_code_hook.admitted`: a token the hook holds while its call lasts, which no outside request can know).

Errors are JSON (`{"error": {code, message, field}}`): 400 for what the body or query gets wrong, 401 for a
missing, wrong or revoked key (or a receipt that does not verify: `invalid_receipt`), 403 for a channel outside
the key's, 404, 409 (an Idempotency-Key reused with another body), 413, 429 (with
`Retry-After`), 503 (with `Retry-After`) while Redis cannot be reached or refuses writes (full). Never 500 for
anything a client sends; a refusal changes nothing. Nothing here decides: only people do, in Slack.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from bot.api import claude_code_hook, openapi
from bot.api.admission import (
    KEY_BURST,
    KEY_RATE,
    KEY_READ_BURST,
    KEY_READ_RATE,
    SPEND_ALL_BURST,
    SPEND_ALL_RATE,
    SPEND_BURST,
    SPEND_RATE,
    Admission,
    LogThrottle,
)
from bot.api.authzen import evaluation_body, evaluations_body
from bot.api.evaluations import Evaluator, evaluated_all
from bot.api.requests import (
    APPROVAL_ID,
    CLIENT_HEADER,
    IDEMPOTENCY_KEY,
    MAX_BODY,
    ApiError,
    allowed_body,
    ask_body,
    check_arguments,
    parse_json,
    receipt_use,
    use_token,
    wait_seconds,
    way_in,
)
from bot.api.service import ApprovalsApi
from bot.core.logs import log_fields
from bot.core.tracing import annotate, current_span, span
from bot.store import ApiKey, StoreUnavailable, StoreWriteRefused
from bot.store.api_keys import KEY_TEXT, id_of_key

log = logging.getLogger(__name__)

Handler = Callable[[web.Request, ApiKey], Awaitable[web.Response]]
READ_TIMEOUT = 10.0
# schema checks of asks running at once (each in a thread, at most 0.5 s of CPU): more would take the
# interpreter's lock from the event loop too often; the next asks wait their turn without blocking anything
SCHEMA_CHECKS = 2
GONE_CHECK = 1.0  # seconds between checks that a long-poll's client is still connected
AUDITED_REFUSALS = frozenset({"forbidden", "idempotency_conflict", "too_many_pending"})
JWKS_MAX_AGE = 60  # seconds a client may cache the public keys (a rotation's new key is used at once)


def add_routes(
    app: web.Application,
    api: ApprovalsApi,
    *,
    allow_private_callbacks: bool = False,
    key_rate: float = KEY_RATE,
    key_burst: float = KEY_BURST,
    spend_rate: float = SPEND_RATE,
    spend_burst: float = SPEND_BURST,
    api_for: Callable[[ApiKey], Awaitable[ApprovalsApi]] | None = None,
    holder_of: Callable[[str], Awaitable[ApprovalsApi]] | None = None,
    claude_code_files: tuple[str, ...] = (),
    public_url: str = "",
) -> None:
    """Mount the API on a worker's HTTP server. The rates are this worker's admission (bot/api/admission.py).
    `api_for`: the API of a key's workspace (its tenant's parts, `bot.tenancy.Tenancy`); `holder_of`: the API of
    the workspace whose data holds an approval (a receipt's spend, which has no key); None: `api` serves all.
    `public_url`: this deployment's URL (PUBLIC_URL), the AuthZEN PDP's identifier (else each request's origin).
    `claude_code_files`: the directories whose files the Claude Code HTTP hook may read (`CLAUDE_CODE_FILES`)."""

    async def served(key: ApiKey) -> ApprovalsApi:
        return api if api_for is None else await api_for(key)

    checking = asyncio.Semaphore(SCHEMA_CHECKS)
    gate = Gate(keys=Admission(rate=key_rate, burst=key_burst), spends=Admission(rate=spend_rate, burst=spend_burst),
                reads=Admission(rate=max(10 * key_rate, KEY_READ_RATE), burst=max(10 * key_burst, KEY_READ_BURST)),
                everyone=Admission(rate=max(spend_rate, SPEND_ALL_RATE), burst=max(spend_burst, SPEND_ALL_BURST)),
                logs=LogThrottle())

    async def ask(request: web.Request, key: ApiKey) -> web.Response:
        idempotency_key, way = _idempotency_key(request), _way(request)
        raw = await _body(request)
        checked = ask_body(raw, allow_private_callbacks=allow_private_callbacks)
        async with checking:  # off the loop, a few at a time: clicks and /healthz go on at their usual speed
            await asyncio.to_thread(check_arguments, checked)
        status, body = await (await served(key)).ask(key, checked, idempotency_key=idempotency_key, way=way)
        annotate(current_span(), approval_id=body.get("id", ""), status=body.get("status", ""), key=key.name,
                 client=request.headers.get(CLIENT_HEADER, ""), user_agent=request.headers.get("User-Agent", "")[:200])
        log.info("key %s asked for approval %s (%s)", key.name, body.get("id"), body.get("status"))
        return web.json_response(body, status=status)

    async def allowed(request: web.Request, key: ApiKey) -> web.Response:
        idempotency_key, way = _idempotency_key(request), _way(request)
        raw = await _body(request)
        checked = allowed_body(raw)
        status, body = await (await served(key)).record_allowed(key, checked, idempotency_key=idempotency_key,
                                                                way=way)
        log.info("key %s recorded call %s of %s as allowed by its allow-list", key.name, body["id"], checked.tool_name)
        return web.json_response(body, status=status)

    async def read(request: web.Request, key: ApiKey) -> web.Response:
        wait = wait_seconds(request.query.get("wait"))
        reading = (await served(key)).get(key, request.match_info["id"], wait=wait)
        if not wait:
            return web.json_response(await reading)
        with span("wait", approval_id=request.match_info["id"], key=key.name) as waited:
            body = await _while_connected(request, reading)
            annotate(waited, status=body.get("status", ""))
        if body.get("status") not in (None, "pending"):
            with span("decision", approval_id=body.get("id", ""), status=body.get("status", ""),
                      outcome=body.get("status", ""), decided_by=body.get("decided_by") or ""):
                pass
        return web.json_response(body)

    async def withdraw(request: web.Request, key: ApiKey) -> web.Response:
        return web.json_response(await (await served(key)).withdraw(key, request.match_info["id"]))

    async def use(request: web.Request, key: ApiKey) -> web.Response:
        token = use_token(parse_json(await _body(request)))
        return web.json_response(await (await served(key)).use(key, request.match_info["id"], token=token))

    async def key_of(request: web.Request, key: ApiKey) -> web.Response:
        return web.json_response({"id": key.id, "name": key.name, "channels": list(key.channels)})

    async def described(request: web.Request) -> web.Response:
        return web.json_response(openapi.document())

    async def spend_receipt(request: web.Request) -> web.Response:
        gate.admit_spend(request.remote or "-")  # before the body is read or any signature checked
        data = parse_json(await _body(request))
        if not isinstance(data, dict) or "receipt" not in data:  # a program that forgot its key
            raise ApiError(401, "unauthorized", "send Authorization: Bearer <API key> (an executor sends"
                           " {\"receipt\": ..., \"token\": ...} instead)")
        if not APPROVAL_ID.fullmatch(request.match_info["id"]):
            raise ApiError(404, "not_found", "no such approval")
        spent = receipt_use(data)
        approval_id, serving = request.match_info["id"], api
        if holder_of is not None:
            if api.receipts is not None:
                api.receipts.check(spent.receipt, approval_id)  # before reading anything: a forged one learns nothing
            serving = await holder_of(approval_id)
        return web.json_response(await serving.use_receipt(approval_id, spent.receipt, token=spent.token))

    keyed_use, executor_use = _guarded(api, use, gate), _open(spend_receipt, gate)

    async def use_either(request: web.Request) -> web.Response:  # with a key: the program's own use
        keyed = "Authorization" in request.headers or _admitted(request) is not None
        return await (keyed_use if keyed else executor_use)(request)

    def base_of(request: web.Request) -> str:
        return public_url.rstrip("/") or str(request.url.origin())

    async def evaluator(request: web.Request, key: ApiKey) -> Evaluator:
        request_id = request.headers.get("X-Request-ID", "")[:128]
        return Evaluator(await served(key), key, base=base_of(request), request_id=request_id)

    def decided(request: web.Request, body: dict[str, Any]) -> web.Response:
        request_id = request.headers.get("X-Request-ID", "")[:128]
        return web.json_response(body, headers={"X-Request-ID": request_id} if request_id else None)

    async def evaluation(request: web.Request, key: ApiKey) -> web.Response:
        target = evaluation_body(await _body(request))
        return decided(request, await (await evaluator(request, key)).answer(target))

    async def evaluations(request: web.Request, key: ApiKey) -> web.Response:
        targets, semantic, batch = evaluations_body(await _body(request))
        answers = await evaluated_all(await evaluator(request, key), targets, semantic)
        return decided(request, {"evaluations": answers} if batch else answers[0])

    async def pdp(request: web.Request) -> web.Response:
        base = base_of(request)
        return web.json_response({"policy_decision_point": base,
                                  "access_evaluation_endpoint": f"{base}/access/v1/evaluation",
                                  "access_evaluations_endpoint": f"{base}/access/v1/evaluations"})

    async def jwks(request: web.Request) -> web.Response:
        keys = {"keys": []} if api.receipts is None else api.receipts.keys.public_jwks(time.time(), api.receipts.ttl)
        return web.json_response(keys, headers={"Cache-Control": f"max-age={JWKS_MAX_AGE}"})

    app[claude_code_hook.ADMISSIONS] = claude_code_hook.Admissions()
    app[claude_code_hook.FILES] = claude_code_files
    mount(app, {  # each route of the document, by its operationId
        "ask": _guarded(api, ask, gate), "read": _guarded(api, read, gate),
        "withdraw": _guarded(api, withdraw, gate), "use": use_either, "recordAllowed": _guarded(api, allowed, gate),
        "claudeCodeHook": claude_code_hook.decided(_guarded(api, claude_code_hook.hook, gate)),
        "key": _guarded(api, key_of, gate), "openapi": described, "jwks": jwks,
        "authzenEvaluation": _guarded(api, evaluation, gate), "authzenEvaluations": _guarded(api, evaluations, gate),
        "authzenConfiguration": pdp,
    })

    async def on_shutdown(_: web.Application) -> None:  # before the server waits for requests in flight
        api.close()

    app.on_shutdown.append(on_shutdown)


def mount(app: web.Application, handlers: dict[str, Callable[[web.Request], Awaitable[web.StreamResponse]]]) -> None:
    """Mount the document's routes (`openapi.ROUTES`: the paths and methods are written there alone), each served by
    the handler of its `operationId`. A route without its handler, or a handler without its route, is refused at
    start: the routes and the document cannot differ."""
    routes = {route.operation_id: route for route in openapi.ROUTES}
    if set(routes) != set(handlers):
        unserved, undescribed = sorted(set(routes) - set(handlers)), sorted(set(handlers) - set(routes))
        raise RuntimeError(f"the Approvals API's routes and its document differ: no handler for {unserved},"
                           f" no route in the document for {undescribed}")
    for name, route in routes.items():
        app.router.add_route(route.method.upper(), route.path, handlers[name])


class ClientGone(Exception):
    """The client of a long-poll closed its connection: nobody reads the answer."""


async def _while_connected(request: web.Request, reading: Awaitable[dict[str, Any]]) -> dict[str, Any]:
    """`reading` (a long-poll), given up when its client hangs up. aiohttp does not cancel the handler of a
    closed connection, and its shutdown waits for every handler: a long-poll of a program that died (or
    gave up) would hold the worker for the rest of its wait."""
    task = asyncio.ensure_future(reading)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=GONE_CHECK)
            if done:
                return task.result()
            transport = request.transport
            if transport is None or transport.is_closing():
                raise ClientGone
    finally:
        task.cancel()  # (done: nothing; else its own `finally` lets go of its waiter)


class Gate:
    """This worker's admission of API requests, and the throttle of its refusals' log lines."""

    def __init__(
        self, *, keys: Admission, reads: Admission, spends: Admission, everyone: Admission, logs: LogThrottle
    ) -> None:
        self.keys = keys  # what a key asks, withdraws or uses
        self.reads = reads  # what it reads: each of its approvals may be long-polled at once
        self.spends = spends
        self.everyone = everyone
        self.logs = logs

    def admit_key(self, key_id: str, *, reading: bool = False) -> None:
        bucket = self.reads if reading else self.keys
        wait = bucket.admit(key_id, time.monotonic())
        if wait:
            raise ApiError(429, "rate_limited", f"this key sent more than {bucket.rate:g} requests a second to"
                           " this worker", retry_after=wait)

    def admit_spend(self, address: str) -> None:
        now = time.monotonic()
        wait = self.spends.admit(address, now) or self.everyone.admit("", now)
        if wait:
            raise ApiError(429, "rate_limited", "too many receipt spends: try again later", retry_after=wait)


def _guarded(api: ApprovalsApi, handler: Handler, gate: Gate) -> Callable[[web.Request], Awaitable[web.Response]]:
    """The key checked, admitted (before anything else is done for it) and counted, every refusal a JSON error,
    and nothing a client sends a 500."""

    async def guarded(request: web.Request) -> web.Response:
        resource = request.match_info.route.resource
        route = resource.canonical if resource else request.path
        with log_fields(), span(f"{request.method} {route}", headers=request.headers, server=True,
                                method=request.method, route=route) as current:  # (its trace id: a log field)
            response = await answered(request)
            annotate(current, http_status=response.status)
            return response

    async def answered(request: web.Request) -> web.Response:
        key_name = "-"
        try:
            key = _admitted(request)  # the hook's own request to this app, admitted (and counted) with the hook
            if key is None:
                token = _token(request)
                if KEY_TEXT.fullmatch(token):  # the key's id comes from the key itself: no Redis to admit it
                    key_name = id_of_key(token)
                    gate.admit_key(key_name, reading=request.method == "GET")  # in-process, before Redis or the body
                key = await _key(api, token)
                key_name = key.name
                retry_after = await api.store.api_keys.count_request(key, now=time.time())
                if retry_after:
                    raise ApiError(429, "rate_limited", f"the key {key.name} sent more than {key.per_minute}"
                                   " requests this minute", retry_after=retry_after)
            key_name = key.name
            approval_id = request.match_info.get("id", "")
            with log_fields(key=key.name, team=key.team,
                            approval_id=approval_id if APPROVAL_ID.fullmatch(approval_id) else ""):
                return await handler(request, key)
        except ClientGone:
            log.info("API request %s %s: the client hung up (key %s)", request.method, request.path, key_name)
            return web.Response(status=499, reason="Client Closed Request")
        except ApiError as exc:
            if key_name != "-" and exc.code in AUDITED_REFUSALS:  # (not every rate-limited request: a flood)
                with contextlib.suppress(StoreUnavailable):
                    await api.store.audit.append("api_refused", key=key_name, reason=exc.code, field=exc.field)
            throttle = gate.logs if exc.status == 429 else None  # a flood's refusals: a line now and then
            return refusal(exc, key_name=key_name, path=request.path, throttle=throttle)
        except (StoreUnavailable, TimeoutError) as exc:
            return unavailable(request, exc, key_name=key_name)

    return guarded


Open = Callable[[web.Request], Awaitable[web.Response]]


def _open(handler: Open, gate: Gate) -> Open:
    """A request without a key (an executor's receipt): every refusal a JSON error, nothing a client sends a
    500, and the refusals logged now and then (anyone may send them: a flood of forgeries is no flood of lines)."""

    async def opened(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except ApiError as exc:
            return refusal(exc, key_name="-", path="/api/v1/approvals/{id}/use", throttle=gate.logs)
        except (StoreUnavailable, TimeoutError) as exc:
            return unavailable(request, exc, key_name="-")

    return opened


def _idempotency_key(request: web.Request) -> str:
    idempotency_key = request.headers.get("Idempotency-Key", "")
    if idempotency_key and not IDEMPOTENCY_KEY.fullmatch(idempotency_key):
        raise ApiError(400, "invalid_request", "Idempotency-Key must be 1 to 128 letters, digits or _ . : -",
                       field="Idempotency-Key")
    return idempotency_key


def _way(request: web.Request) -> str:
    """The way in the ask came by (`requests.way_in`): the client's header, or the Claude Code hook's own request."""
    return way_in(request.headers.get(CLIENT_HEADER, ""), in_process=_admitted(request) is not None)


def _admitted(request: web.Request) -> ApiKey | None:
    """The key a request the Claude Code hook made to this worker was admitted as (the token it carries is one the
    hook holds for a call in flight: `claude_code_hook.admitted`), else None."""
    return claude_code_hook.admitted(request)


def _token(request: web.Request) -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "unauthorized", "send Authorization: Bearer <API key>")
    return token.strip()


async def _key(api: ApprovalsApi, token: str) -> ApiKey:
    """The key `token` is, if it stands; else 401 (a revoked, expired or replaced one named and said why, and its use
    audited: `api_refused`)."""
    now = time.time()
    key = await api.store.api_keys.verify(token, now=now)
    if key is not None:
        return key
    refusal = await api.store.api_keys.refusal(token, now=now)
    if refusal is None:
        raise ApiError(401, "unauthorized", "this API key is not valid (wrong or revoked)")
    await api.store.audit.append("api_refused", key=refusal.name, reason=refusal.reason)
    raise ApiError(401, "unauthorized", refusal.message)


async def _body(request: web.Request) -> bytes:
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise ApiError(413, "too_large", f"the body is larger than {MAX_BODY} bytes", field="body")
    if request.content_type != "application/json":
        raise ApiError(400, "invalid_request", "send the body as Content-Type: application/json")
    chunks: list[bytes] = []
    size = 0
    try:
        async with asyncio.timeout(READ_TIMEOUT):
            while chunk := await request.content.read(65536):
                size += len(chunk)
                if size > MAX_BODY:
                    raise ApiError(413, "too_large", f"the body is larger than {MAX_BODY} bytes", field="body")
                chunks.append(chunk)
    except TimeoutError:
        raise ApiError(408, "timeout", f"the body was not received within {READ_TIMEOUT:.0f} s") from None
    return b"".join(chunks)


REFUSING_RETRY_AFTER = 10  # seconds: a full Redis is freed by an operator, not in a blip


def unavailable(request: web.Request, exc: BaseException, *, key_name: str) -> web.Response:
    """503 with `Retry-After` while the store cannot be reached, or refuses writes (full, unable to persist: said
    so, `StoreWriteRefused`); nothing was recorded either way."""
    if isinstance(exc, StoreWriteRefused):
        log.warning("API request %s %s: Redis refuses writes (%s)", request.method, request.path, exc.reason)
        return refusal(ApiError(503, "unavailable", "the approval store refuses writes right now (Redis is full or"
                                " cannot persist); nothing was recorded; try again", retry_after=REFUSING_RETRY_AFTER),
                       key_name=key_name, path=request.path)
    log.warning("API request %s %s: storage unreachable (%s)", request.method, request.path, type(exc).__name__)
    return refusal(ApiError(503, "unavailable", "the approval store cannot be reached; try again", retry_after=2),
                   key_name=key_name, path=request.path)


def refusal(error: ApiError, *, key_name: str, path: str, throttle: LogThrottle | None = None) -> web.Response:
    """A refused request's answer, logged at WARNING (the client's fault, never ours) with the key's
    name, never the key; with `throttle`, once per its period for the same key, path and code."""
    left_out = 0 if throttle is None else throttle.allow(f"{key_name} {path} {error.code}", time.monotonic())
    if left_out is not None:
        more = f" ({left_out} more like it not logged)" if left_out else ""
        log.warning("API refused %s for key %s with %d %s: %s%s", path, key_name, error.status, error.code,
                    error.message, more)
    headers: dict[str, Any] = {}
    if error.retry_after:
        headers["Retry-After"] = str(max(1, round(error.retry_after)))
    if error.status == 401:  # RFC 6750 (and AuthZEN's PDP, #91): how to authenticate
        headers["WWW-Authenticate"] = 'Bearer realm="agent-approvals"'
    return web.json_response(error.body(), status=error.status, headers=headers)

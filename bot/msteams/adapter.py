"""The Teams SDK's `HttpServerAdapter` on the worker's own aiohttp server (bot/server.py mounts it): the SDK registers
its messaging endpoint (`POST /teams/messages`) here, and its own request handling (the Bot Framework token verified
first) serves every request that reaches it.

What the SDK's handling would answer 500 to never reaches it: a body that is not JSON, or not an activity (a JSON
object the SDK's activity model reads), is answered 400 here, saying what was wrong, and changes nothing. The worker's
server owns the port: `start` is refused (the SDK's own server is never started). A Bot Framework token with no `exp`
(which the SDK verifies only where present: such a token would never end) is answered 401 here, before the SDK
verifies the rest (its signature, audience, issuer, and `exp`, `nbf`, `iat` where present). A refused request (401:
no token, a forged or ended one) is one WARNING line of ours, throttled as the API's refusals are (`LogThrottle`),
never the SDK's ERROR and WARNING lines for each (`SdkRefusals` leaves those out)."""

from __future__ import annotations

import json
import logging
import time
from typing import Any

import jwt
from aiohttp import web
from microsoft_teams.api.activities import ActivityTypeAdapter
from microsoft_teams.apps.events import CoreActivity
from microsoft_teams.apps.http.adapter import HttpMethod, HttpRequest, HttpResponse, HttpRouteHandler
from pydantic import ValidationError

from bot.core.logs import LogThrottle

log = logging.getLogger(__name__)

MAX_BODY = 256 * 1024  # an activity Teams sends is a few KB; a card's invoke with its inputs well under this


def bad_request(what: str) -> web.Response:
    return web.json_response({"error": f"bad request: {what}. Nothing changed."}, status=400)


def as_sdk_reads(body: dict[str, Any]) -> dict[str, Any]:
    """`body` as the SDK's models take it: Teams' own refresh of a card (`adaptiveCard/action` with trigger
    `automatic`, sent for the users its `refresh.userIds` names) has its trigger left out, as the SDK's model of the
    invoke knows only `manual` (microsoft_teams/api/models/adaptive_card/adaptive_card_invoke_value.py) and would
    otherwise refuse every refresh. Nothing else changes."""
    value = body.get("value")
    if (body.get("type") == "invoke" and body.get("name") == "adaptiveCard/action" and isinstance(value, dict)
            and value.get("trigger") == "automatic"):
        return {**body, "value": {k: v for k, v in value.items() if k != "trigger"}}
    return body


def activity_problem(body: object) -> str:
    """What keeps `body` (parsed JSON) from being an activity, or "" when it is one."""
    if not isinstance(body, dict):
        return "the body is not a JSON object (Teams sends an activity)"
    if not isinstance(body.get("type"), str) or not body["type"]:
        return "the activity has no type"
    body = as_sdk_reads(body)
    try:  # as the SDK reads it: its core model, then the activity of that type
        ActivityTypeAdapter.validate_python(CoreActivity.model_validate(body).model_dump(by_alias=True,
                                                                                        exclude_none=True))
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first.get("loc", ())) or "the activity"
        return f"the activity is malformed at {where}: {first.get('msg', 'invalid')}"
    return ""


def token_problem(authorization: str) -> str:
    """What makes the bearer token of `authorization` one the worker refuses before the SDK looks (no `exp`: PyJWT's
    required claims), or "" (the SDK then verifies it whole, and refuses a missing or malformed one itself)."""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return ""
    try:  # (the signature is the SDK's to verify, next: this refuses, never lets through)
        jwt.decode(token.strip(), options={"verify_signature": False, "require": ["exp"]})
    except jwt.MissingRequiredClaimError:
        return "the token has no exp (a token must end)"
    except jwt.PyJWTError:
        return ""
    return ""


SDK_REFUSALS = ("microsoft_teams.apps.auth.token_validator", "microsoft_teams.apps.http.http_server")


class SdkRefusals(logging.Filter):
    """Leaves out the SDK's own lines about a request it refused (an ERROR and a WARNING each, unthrottled): the
    adapter says a refusal itself, throttled. Its other lines pass."""

    def filter(self, record: logging.LogRecord) -> bool:
        said = record.getMessage()
        return not ((record.name.endswith("token_validator") and record.levelno >= logging.ERROR)
                    or "validation failed" in said or "(responding 401)" in said)


class AiohttpAdapter:
    """The routes the SDK registers, served by the aiohttp application `mount` is given. A request that comes before
    the SDK registered its route (the app still starting) is answered 503, to be sent again."""

    def __init__(self) -> None:
        self._routes: dict[str, HttpRouteHandler] = {}
        self._refusals = LogThrottle()
        quiet = SdkRefusals()
        for name in SDK_REFUSALS:
            if not any(isinstance(f, SdkRefusals) for f in logging.getLogger(name).filters):
                logging.getLogger(name).addFilter(quiet)

    def register_route(self, method: HttpMethod, path: str, handler: HttpRouteHandler) -> None:
        if method != "POST":
            raise ValueError(f"unsupported HTTP method for Teams: {method}")
        self._routes[path] = handler

    def serve_static(self, path: str, directory: str) -> None:
        raise NotImplementedError("the worker serves no static files for Teams")

    async def start(self, port: int) -> None:
        raise NotImplementedError("the worker's own server (bot/server.py) serves Teams; the SDK starts none")

    async def stop(self) -> None:
        """Nothing to stop: the worker's server stops with the worker."""

    def mount(self, web_app: web.Application, path: str) -> None:
        """Serve `POST path` on `web_app` by the SDK's handler registered for it."""

        async def handle(request: web.Request) -> web.StreamResponse:
            return await self.serve(request, path)

        web_app.router.add_post(path, handle)

    async def serve(self, request: web.Request, path: str) -> web.StreamResponse:
        handler = self._routes.get(path)
        if handler is None:
            return web.json_response({"error": "Teams is starting on this worker; send it again"}, status=503,
                                     headers={"Retry-After": "1"})
        if request.content_length is not None and request.content_length > MAX_BODY:
            return bad_request(f"the body is over {MAX_BODY} bytes")
        raw = await request.read()
        try:
            body = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            return bad_request("the body is not JSON (Teams sends an activity as a JSON object)")
        problem = activity_problem(body)
        if problem:
            return bad_request(problem)
        refused = token_problem(request.headers.get("Authorization", ""))
        if refused:
            self._refused(request, refused)
            return web.json_response({"error": f"unauthorized: {refused}"}, status=401)
        body = as_sdk_reads(body)
        result: HttpResponse = await handler(HttpRequest(body=body, headers=dict(request.headers)))
        if result["status"] == 401:
            self._refused(request, "no token, or one the Bot Framework's keys do not verify")
        answer = result.get("body")
        if answer is None:
            return web.Response(status=result["status"])
        return web.json_response(answer, status=result["status"])

    def _refused(self, request: web.Request, why: str) -> None:
        """One WARNING for a refused request, throttled per reason (`LogThrottle`): a flood is a line now and then."""
        left_out = self._refusals.allow(why, time.monotonic())
        if left_out is not None:
            more = f" ({left_out} more like it not logged)" if left_out else ""
            log.warning("Teams refused a request to %s from %s with 401: %s%s", request.path, request.remote, why,
                        more)

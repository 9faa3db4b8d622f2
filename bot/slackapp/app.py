"""The Bolt app (its workspaces, `authorize`), the handler of `POST /slack/events`, and Slack's OAuth install
(`/slack/install`, `/slack/oauth_redirect`, through Bolt's `AsyncOAuthFlow`), which the worker's HTTP server
(`bot/server.py`) mounts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import send_async_response
from slack_bolt.adapter.socket_mode.internals import build_headers
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import extract_enterprise_id, extract_team_id
from slack_bolt.response import BoltResponse
from slack_sdk.oauth.token_rotation.async_rotator import AsyncTokenRotator
from slack_sdk.socket_mode.async_client import AsyncBaseSocketModeClient as SocketModeClient
from slack_sdk.socket_mode.request import SocketModeRequest
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.approvals.refusals import STORAGE_DOWN
from bot.core.sealing import Sealer
from bot.core.security import MalformedRequest, body_text, signature_age_problem, signed
from bot.core.settings import Settings, reveal
from bot.core.workspaces import WorkspaceRef
from bot.services import Services
from bot.slack.client import create_workspace_client
from bot.slack.installations import RedisInstallationStore
from bot.slack.workspaces import TOKEN_REFUSED, NotInstalled, Workspace, Workspaces, foreign, refusal_of
from bot.slackapp import arg_names, listeners
from bot.slackapp.context import Served, tenant_answer, tenant_of
from bot.slackapp.gate import parse
from bot.slackapp.listeners import installs
from bot.slackapp.members import members_only
from bot.store import StoreUnavailable
from bot.tenancy import Tenancy

__all__ = ["TOKEN_REFUSED", "Edge", "EdgeSocketModeHandler", "Workspace", "Workspaces", "create_bolt_app",
           "create_workspaces", "foreign", "refusal_of", "slack_events_handler", "tenant_answer", "tenant_of"]

log = logging.getLogger(__name__)


TEAM = re.compile(r"^T[A-Z0-9]{2,23}$")
ENTERPRISE = re.compile(r"^E[A-Z0-9]{2,23}$")
ELSEWHERE = "This app is installed in another workspace. Nothing was done."



TOKEN_ROTATION_MINUTES = 120  # a token is renewed when it ends within this (Bolt's default)


def create_workspaces(services: Services) -> Workspaces:
    """The worker's workspaces: SLACK_BOT_TOKEN's (home, on `services.slack`), SLACK_WORKSPACES_FILE's, and with
    OAuth those installed through it (kept in Redis, tokens sealed with SLACK_TOKENS_KEY, rotated)."""
    settings = services.settings

    def make_client(token: str) -> AsyncWebClient:
        client = create_workspace_client(settings, services.metrics, token=token)
        client.session = services.slack.session  # the worker's one HTTP session
        return client

    installations = rotator = None
    tokens_key = reveal(settings.slack_tokens_key)
    if tokens_key is not None:
        installations = RedisInstallationStore(services.store.installations, sealer=Sealer.from_text(tokens_key))
    if settings.slack_client_id is not None and settings.slack_client_secret is not None:
        rotator = AsyncTokenRotator(client_id=settings.slack_client_id,
                                    client_secret=settings.slack_client_secret.get_secret_value(),
                                    client=AsyncWebClient(base_url=settings.slack_api_url))
    home = Workspace(services.slack, bot_token=settings.slack_bot_token)
    workspaces = Workspaces(home, make_client=make_client, static=settings.static_workspaces,
                            installations=installations, rotator=rotator, rotation_minutes=TOKEN_ROTATION_MINUTES)
    return workspaces


def create_bolt_app(services: Services, workspaces: Workspaces) -> AsyncApp:
    """The worker's one Bolt app, with our listeners, serving every workspace: each request's workspace is resolved
    at the edge (`Edge`, before Bolt) and its parts travel in the request's context (`parts_of`,
    `bot/slackapp/context.py`); nothing of the app holds a workspace's parts. Over HTTP, `create_web_app` verifies
    every request's signature before anything parses it (Bolt's own check would repeat it); Socket Mode needs none.

    `process_before_response=True`: handlers do their Redis step before returning and push Slack calls
    to the background (except a cached user-group lookup and `/agent config`'s checks of what it is
    given), so Bolt answers as soon as they return (no 10 ms ack polling).

    Authorization: `workspaces` (each installation, `bot.slack.workspaces`) through Bolt's `authorize`. Bolt's
    own client, the template of the one it gives each request, has no token: `authorize` gives it the
    installation's (with a token there too, Bolt would warn that it ignores it). Our listeners call Slack
    through their parts' `slack`: the client of the request's workspace. `services`: the worker's (home) parts;
    `workspaces`: built by the composition root (`create_workspaces`).
    """

    async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
        # Bolt passes what a function names among its positional parameters
        return await workspaces.authorize(enterprise_id=enterprise_id, team_id=team_id)

    arg_names.read_once()  # Bolt reads each listener's parameters once per code, not once per worker
    slack = services.slack
    with _unsaid(logging.getLogger("slack_bolt"), warning_client_prioritized_and_token_skipped()):
        app = _bolt_app(slack, authorize, services)
    app.use(members_only(workspaces.home.answer))  # before any listener: only our own people act (of its workspace)
    listeners.register(app)
    installs.register(app, workspaces)
    return app


def request_workspace(parsed: dict[str, Any]) -> WorkspaceRef | None:
    """The workspace a request comes from (its team, and organisation on Enterprise Grid; an org-wide install's
    request may name only the organisation); None when it names none."""
    enterprise, team = extract_enterprise_id(parsed), extract_team_id(parsed)
    enterprise = enterprise if isinstance(enterprise, str) and ENTERPRISE.fullmatch(enterprise) else None
    team = team if isinstance(team, str) and TEAM.fullmatch(team) else None
    if team is None and enterprise is None:
        return None
    return WorkspaceRef(team or str(enterprise), enterprise)


UNINSTALLS = frozenset({"app_uninstalled", "tokens_revoked"})


class Edge:
    """Where a request's workspace is resolved, once, before the one Bolt app serves it: its parts
    (`Tenancy.parts`, the one door) and the workspace its people are judged against, as a `Served` value that
    travels in the request's context."""

    def __init__(self, tenancy: Tenancy) -> None:
        self.tenancy = tenancy

    async def served(self, parsed: dict[str, Any]) -> Served:
        """What serves `parsed`. `NotInstalled` where the app is not installed, `StoreUnavailable` while its
        workspace's parts cannot be built (Redis out of reach)."""
        home = Served(self.tenancy.home, None)
        event = parsed.get("event")
        if isinstance(event, dict) and event.get("type") in UNINSTALLS:
            return home  # the workspace's token is gone: the home parts forget it (`installs`)
        ref = request_workspace(parsed)
        parts = await self.tenancy.parts(ref)
        if parts is self.tenancy.home or ref is None:
            return home
        ref = await self.tenancy.installed(ref)  # org-wide or that workspace's own: its tenant
        return Served(parts, tenant_of(ref))


class EdgeSocketModeHandler(AsyncSocketModeHandler):
    """Socket Mode's handler: each request's workspace resolved at the edge (`Edge`), as over HTTP, and served by
    the one Bolt app with its parts; a request of a workspace the app is not installed in is acknowledged and
    nothing is done."""

    def __init__(self, app: AsyncApp, edge: Edge, app_token: str, *, web_client: AsyncWebClient) -> None:
        super().__init__(app, app_token, web_client=web_client)
        self.edge = edge

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        start = time.time()
        payload = req.payload if isinstance(req.payload, dict) else {}
        try:
            served = await self.edge.served(payload)
        except NotInstalled as exc:
            log.warning("refused a Socket Mode request from another workspace (%s)", exc)
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        except StoreUnavailable as exc:  # not acknowledged: Slack sends it again, and a later one builds the parts
            log.warning("a Socket Mode request of another workspace not served: Redis unreachable (%s)", exc.cause)
            return
        request = AsyncBoltRequest(mode="socket_mode", body=req.payload, headers=build_headers(req),
                                   context=served.context())
        answer: BoltResponse = await self.app.async_dispatch(request)
        await send_async_response(client, req, answer, start)


class _Unsaid(logging.Filter):
    """Drops one message of Bolt's: `AsyncApp` takes SLACK_BOT_TOKEN from the environment when given no `token`,
    and warns at every start that it is unused beside a `client`; here the token comes from `authorize` per
    request, and the client is ours (no token), so the warning says nothing true."""

    def __init__(self, message: str) -> None:
        super().__init__()
        self._message = message

    def filter(self, record: logging.LogRecord) -> bool:
        return record.getMessage() != self._message


@contextlib.contextmanager
def _unsaid(logger: logging.Logger, message: str) -> Iterator[None]:
    """`message` kept out of `logger` for the block's duration."""
    dropped = _Unsaid(message)
    logger.addFilter(dropped)
    try:
        yield
    finally:
        logger.removeFilter(dropped)


def _bolt_app(slack: AsyncWebClient, authorize: Any, services: Services) -> AsyncApp:
    return AsyncApp(
        client=AsyncWebClient(
            base_url=slack.base_url, timeout=slack.timeout, logger=slack.logger, retry_handlers=slack.retry_handlers
        ),
        authorize=authorize,  # Bolt's hint omits None, which it handles (refused)
        signing_secret=services.settings.slack_signing_secret.get_secret_value(),
        process_before_response=True,
        request_verification_enabled=False,  # `create_web_app` verifies every request once, before parsing
        logger=logging.getLogger("slack_bolt"),
        name="app.py",  # Bolt's name for it otherwise, found by `inspect.stack()`: a tenth of a second of CPU
    )


def slack_events_handler(
    settings: Settings, bolt: AsyncApp, workspaces: Workspaces, edge: Edge
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The handler of `POST /slack/events`: the signature checked once, before anything parses the body, then
    the gate, the workspace (`edge`: its parts, carried in the request's context), and the one Bolt app, `bolt`."""
    secret = settings.slack_signing_secret.get_secret_value()

    async def slack_events(request: web.Request) -> web.StreamResponse:
        # Whatever a client sends is answered 4xx, never 500: headers that cannot be parsed and bodies
        # that are not UTF-8 (or not the shape Slack sends) 400, a wrong or missing signature 401, a
        # body not sent within REQUEST_READ_TIMEOUT 408. Each refusal is one WARNING line.
        try:
            problem = signature_age_problem(request.headers)
            if problem is not None:  # unsigned or stale: no need to read the body
                return refuse(401, f"{problem} request")
            try:
                async with asyncio.timeout(settings.request_read_timeout):
                    raw = await request.read()
            except TimeoutError:
                return refuse(408, f"body not received within {settings.request_read_timeout} s")
            except HttpProcessingError as exc:
                return refuse(400, f"body cannot be read ({type(exc).__name__})")
            if not signed(secret, request.headers, raw):
                return refuse(401, "forged request")
            body = body_text(raw, request.charset)
        except MalformedRequest as exc:
            return refuse(400, str(exc))
        parsed = parse(body)
        if isinstance(parsed, str):
            return refuse(400, parsed)
        # None while auth.test fails: then `authorize` refuses the request in Bolt
        elsewhere = await workspaces.foreign_request(enterprise_id=extract_enterprise_id(parsed),
                                                     team_id=extract_team_id(parsed))
        served = None
        if elsewhere is None:
            try:
                served = await edge.served(parsed)
            except NotInstalled as exc:
                elsewhere = str(exc)
            except StoreUnavailable as exc:  # its workspace's parts cannot be built now: a later request builds them
                return storage_down(parsed, exc)
        if elsewhere is not None or served is None:
            log.warning("refused a request from another workspace (%s)", elsewhere)
            if "command" in parsed:
                return web.json_response({"response_type": "ephemeral", "text": ELSEWHERE})
            return web.Response(status=200)  # an interaction: nothing can be shown, and nothing is done
        bolt_request = parsed_request(parsed, raw=body, query=request.query_string, headers=dict(request.headers),
                                      context=served.context())
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    return slack_events


def storage_down(parsed: dict[str, Any], exc: StoreUnavailable) -> web.Response:
    """The answer to a request whose workspace's parts cannot be built while Redis is out of reach: a command is
    told to try again (as its listener tells it), anything else 503 with Retry-After (Slack sends events again)."""
    log.warning("a request of another workspace not served: Redis unreachable (%s)", exc.cause)
    if "command" in parsed:
        return web.json_response({"response_type": "ephemeral", "text": STORAGE_DOWN + " Nothing was started or"
                                  " changed."})
    return web.json_response({"error": "the bot cannot reach its storage: try again"}, status=503,
                             headers={"Retry-After": "2"})


def refuse(status: int, reason: str) -> web.Response:
    """A refused request's answer, logged at WARNING (no traceback: the client's fault, not ours)."""
    log.warning("refused a request with %d: %s", status, reason)
    response = web.json_response({"error": "malformed request" if status == 400 else "invalid request"}, status=status)
    response.force_close()  # and its connection, with whatever of its body was not read
    return response


def parsed_request(
    parsed: dict[str, Any], *, raw: str, query: str, headers: dict[str, str], context: dict[str, Any]
) -> AsyncBoltRequest:
    """A Bolt request from a body `bot.slackapp.gate.parse` already parsed, its context started with `context`
    (`Served.context`). Bolt takes a parsed body only in its Socket Mode form, which differs from HTTP only in how
    Bolt checks signatures (ours is checked before parsing); the request is then marked as the HTTP request it is."""
    bolt_headers: dict[str, str | Sequence[str]] = dict(headers)
    request = AsyncBoltRequest(body=parsed, query=query, headers=bolt_headers, mode="socket_mode", context=context)
    request.mode, request.raw_body = "http", raw
    return request

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
from functools import partial
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.adapter.socket_mode.async_internals import run_async_bolt_app, send_async_response
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
from bot.slackapp import listeners
from bot.slackapp.gate import parse
from bot.slackapp.listeners import installs
from bot.slackapp.members import members_only
from bot.store import StoreUnavailable
from bot.tenancy import Tenancy

__all__ = ["TOKEN_REFUSED", "TenantApps", "TenantSocketModeHandler", "Workspace", "Workspaces", "create_bolt_app",
           "create_workspaces", "foreign", "refusal_of", "slack_events_handler"]

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
    return Workspaces(home, make_client=make_client, static=settings.static_workspaces,
                      installations=installations, rotator=rotator, rotation_minutes=TOKEN_ROTATION_MINUTES)


def create_bolt_app(
    services: Services, workspaces: Workspaces | None = None, *, tenant: WorkspaceRef | None = None
) -> AsyncApp:
    """The Bolt app with our listeners. Over HTTP, `create_web_app` verifies every request's signature
    before anything parses it (Bolt's own check would repeat it); Socket Mode needs none.

    `process_before_response=True`: handlers do their Redis step before returning and push Slack calls
    to the background (except a cached user-group lookup and `/agent config`'s checks of what it is
    given), so Bolt answers as soon as they return (no 10 ms ack polling).

    Authorization: `workspaces` (each installation, `bot.slack.workspaces`) through Bolt's `authorize`. Bolt's
    own client, the template of the one it gives each request, has no token: `authorize` gives it the
    installation's (with a token there too, Bolt would warn that it ignores it). Our listeners call Slack
    through `services.slack`: the client of the tenant whose parts `services` are (`TenantApps`: one Bolt app per
    tenant, over its parts; `tenant` names it, None for the home one).
    """
    workspaces = workspaces or create_workspaces(services)
    installed = workspaces.home.answer if tenant is None else partial(tenant_answer, tenant)

    async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
        # Bolt passes what a function names among its positional parameters
        return await workspaces.authorize(enterprise_id=enterprise_id, team_id=team_id)

    slack = services.slack
    with _unsaid(logging.getLogger("slack_bolt"), warning_client_prioritized_and_token_skipped()):
        app = _bolt_app(slack, authorize, services)
    app.use(members_only(services, installed))  # before any listener: only our own people act (of this tenant)
    listeners.register(app, services)
    installs.register(app, services, workspaces)
    return app


async def tenant_answer(tenant: WorkspaceRef) -> dict[str, Any]:
    """What `members_only` judges a tenant's requests against, as `auth.test` would say it: the workspace, or for
    an org-wide install the organisation (each of its workspaces' people are ours)."""
    return {"team_id": tenant.team, "enterprise_id": tenant.enterprise or "", "team": ""}


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


class TenantApps:
    """One Bolt app per tenant, over that tenant's parts (`Tenancy.parts`): a request is served by the app of the
    workspace it comes from. The home app is built at once; the others the first time one of theirs comes."""

    def __init__(self, tenancy: Tenancy, home_app: AsyncApp) -> None:
        self.tenancy = tenancy
        self.home_app = home_app
        self._apps: dict[str, AsyncApp] = {}

    async def app_for(self, parsed: dict[str, Any]) -> AsyncApp:
        """The Bolt app that serves `parsed`. `NotInstalled` where the app is not installed."""
        event = parsed.get("event")
        if isinstance(event, dict) and event.get("type") in UNINSTALLS:
            return self.home_app  # the workspace's token is gone: the home app forgets it (`installs`)
        ref = request_workspace(parsed)
        parts = await self.tenancy.parts(ref)
        if parts is self.tenancy.home or ref is None:
            return self.home_app
        ref = await self.tenancy.installed(ref)  # org-wide or that workspace's own: its tenant
        app = self._apps.get(ref.tenant)
        if app is None:
            app = self._apps[ref.tenant] = create_bolt_app(parts, self.tenancy.workspaces, tenant=tenant_of(ref))
        return app


class TenantSocketModeHandler(AsyncSocketModeHandler):
    """Socket Mode's handler, each request served by the Bolt app of its tenant (`TenantApps`), as over HTTP; a
    request of a workspace the app is not installed in is acknowledged and nothing is done."""

    def __init__(self, apps: TenantApps, app_token: str, *, web_client: AsyncWebClient) -> None:
        super().__init__(apps.home_app, app_token, web_client=web_client)
        self.apps = apps

    async def handle(self, client: SocketModeClient, req: SocketModeRequest) -> None:
        start = time.time()
        payload = req.payload if isinstance(req.payload, dict) else {}
        try:
            app = await self.apps.app_for(payload)
        except NotInstalled as exc:
            log.warning("refused a Socket Mode request from another workspace (%s)", exc)
            await client.send_socket_mode_response(SocketModeResponse(envelope_id=req.envelope_id))
            return
        except StoreUnavailable as exc:  # not acknowledged: Slack sends it again, and a later one builds the parts
            log.warning("a Socket Mode request of another workspace not served: Redis unreachable (%s)", exc.cause)
            return
        answer: BoltResponse = await run_async_bolt_app(app, req)
        await send_async_response(client, req, answer, start)


def tenant_of(ref: WorkspaceRef) -> WorkspaceRef:
    """The workspace a tenant's requests are judged against: the workspace (a plain one, or a Grid workspace the app
    is installed in alone), or its whole organisation (an org-wide install)."""
    return ref if ref.enterprise is None or ref.org_wide is False else WorkspaceRef(ref.enterprise, ref.enterprise)


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
    settings: Settings, bolt: AsyncApp, workspaces: Workspaces, *, apps: TenantApps | None = None
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The handler of `POST /slack/events`: the signature checked once, before anything parses the body, then
    the gate, the workspace, and Bolt: `bolt`, or with `apps` the Bolt app of the request's tenant."""
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
        serving = bolt
        if elsewhere is None and apps is not None:
            try:
                serving = await apps.app_for(parsed)
            except NotInstalled as exc:
                elsewhere = str(exc)
            except StoreUnavailable as exc:  # its workspace's parts cannot be built now: a later request builds them
                return storage_down(parsed, exc)
        if elsewhere is not None:
            log.warning("refused a request from another workspace (%s)", elsewhere)
            if "command" in parsed:
                return web.json_response({"response_type": "ephemeral", "text": ELSEWHERE})
            return web.Response(status=200)  # an interaction: nothing can be shown, and nothing is done
        bolt_request = parsed_request(parsed, raw=body, query=request.query_string, headers=dict(request.headers))
        return await to_aiohttp_response(await serving.async_dispatch(bolt_request))

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


def parsed_request(parsed: dict[str, Any], *, raw: str, query: str, headers: dict[str, str]) -> AsyncBoltRequest:
    """A Bolt request from a body `bot.slackapp.gate.parse` already parsed. Bolt takes a parsed body only in its
    Socket Mode form, which differs from HTTP only in how Bolt checks signatures (ours is checked before
    parsing); the request is then marked as the HTTP request it is."""
    bolt_headers: dict[str, str | Sequence[str]] = dict(headers)
    request = AsyncBoltRequest(body=parsed, query=query, headers=bolt_headers, mode="socket_mode")
    request.mode, request.raw_body = "http", raw
    return request

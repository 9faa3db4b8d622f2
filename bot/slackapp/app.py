"""The Bolt app (its one workspace, `authorize`) and the handler of `POST /slack/events`, which the worker's
HTTP server (`bot/server.py`) mounts."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Iterator, Sequence
from typing import Any

import aiohttp
from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from pydantic import SecretStr
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.authorization import AuthorizeResult
from slack_bolt.logger.messages import warning_client_prioritized_and_token_skipped
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_bolt.request.internals import extract_enterprise_id, extract_team_id
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.security import MalformedRequest, body_text, signature_age_problem, signed
from bot.core.settings import Settings
from bot.services import Services
from bot.slackapp import listeners
from bot.slackapp.gate import parse
from bot.slackapp.members import members_only

log = logging.getLogger(__name__)


ELSEWHERE = "This app is installed in another workspace. Nothing was done."



TOKEN_REFUSED = frozenset({"invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
                           "not_allowed_token_type", "no_permission", "missing_scope", "team_access_not_granted"})


def refusal_of(error: BaseException) -> str | None:
    """Slack's error code when `error` says the bot token was refused (never the token), else None."""
    if isinstance(error, SlackApiError):
        code = str((error.response.data or {}).get("error", "")) if isinstance(error.response.data, dict) else ""
        return code if code in TOKEN_REFUSED else None
    return None


class Workspace:
    """The one workspace the bot is installed in, as Slack's `auth.test` describes it. Asked once (at
    start-up, or by the first request that needs it; concurrent requests wait for that one call) and
    kept: it does not change while the token is valid. Bolt's `authorize` is built from it. `refused`
    says when Slack refused the token the last time it was asked (`/healthz` is then 503)."""

    def __init__(self, slack: AsyncWebClient, *, bot_token: SecretStr) -> None:
        self._slack = slack
        self._bot_token = bot_token
        self._answer: dict[str, Any] | None = None
        self._result: AuthorizeResult | None = None
        self._asking = asyncio.Lock()
        self.refused: str | None = None  # Slack's error when it last refused the token (`invalid_auth`...), else None

    @property
    def known(self) -> bool:
        """Whether Slack has answered `auth.test` (the answer is kept)."""
        return self._answer is not None

    async def answer(self) -> dict[str, Any] | None:
        """The bot's `auth.test` answer; None while Slack cannot give it (the next call asks again)."""
        if self._answer is None:
            async with self._asking:
                if self._answer is None:
                    try:
                        response = await self._slack.auth_test()
                    except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
                        self.refused = refusal_of(exc)
                        said = f"Slack refused the bot token: {self.refused}" if self.refused else type(exc).__name__
                        log.warning("auth.test failed (%s); asked again on the next request", said)
                        return None
                    self.refused = None
                    data = response.data if isinstance(response.data, dict) else {}
                    self._result = AuthorizeResult(
                        enterprise_id=data.get("enterprise_id"),
                        team_id=data.get("team_id"),
                        team=data.get("team"),
                        url=data.get("url"),
                        bot_id=data.get("bot_id"),
                        bot_user_id=data.get("user_id"),
                        bot_token=self._bot_token.get_secret_value(),
                        bot_scopes=response.headers.get("x-oauth-scopes"),
                    )  # no user_id: each request keeps its own user
                    self._answer = data
        return self._answer

    async def authorize(self, *, enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
        """Bolt's `authorize`: the bot's token and identity for a request from its workspace; None (Bolt
        refuses the request) for another workspace, or while `auth.test` cannot be answered."""
        ours = await self.answer()
        elsewhere = foreign(ours, enterprise_id=enterprise_id, team_id=team_id)
        if elsewhere is not None:
            log.warning("refused a request from another workspace (%s)", elsewhere)
            return None
        return self._result


def create_bolt_app(services: Services, workspace: Workspace | None = None) -> AsyncApp:
    """The Bolt app with our listeners. Over HTTP, `create_web_app` verifies every request's signature
    before anything parses it (Bolt's own check would repeat it); Socket Mode needs none.

    `process_before_response=True`: handlers do their Redis step before returning and push Slack calls
    to the background (except a cached user-group lookup and `/agent config`'s checks of what it is
    given), so Bolt answers as soon as they return (no 10 ms ack polling).

    Authorization: `workspace` (one `auth.test` answer, kept) through Bolt's `authorize`. Bolt's own
    client, the template of the one it gives each request, has no token: `authorize` gives it the
    bot's (with a token there too, Bolt would warn that it ignores it). Our listeners call Slack
    through `services.slack`.
    """
    workspace = workspace or Workspace(services.slack, bot_token=services.settings.slack_bot_token)

    async def authorize(enterprise_id: str | None, team_id: str | None) -> AuthorizeResult | None:
        # Bolt passes what a function names among its positional parameters
        return await workspace.authorize(enterprise_id=enterprise_id, team_id=team_id)

    slack = services.slack
    with _unsaid(logging.getLogger("slack_bolt"), warning_client_prioritized_and_token_skipped()):
        app = _bolt_app(slack, authorize, services)
    app.use(members_only(services, workspace.answer))  # before any listener: only our own people act
    listeners.register(app, services)
    return app


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
    )


def slack_events_handler(
    settings: Settings, bolt: AsyncApp, workspace: Workspace
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """The handler of `POST /slack/events`: the signature checked once, before anything parses the body, then
    the gate, the workspace, and Bolt."""
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
        elsewhere = foreign_team(parsed, await workspace.answer())
        if elsewhere is not None:
            log.warning("refused a request from another workspace (%s)", elsewhere)
            if "command" in parsed:
                return web.json_response({"response_type": "ephemeral", "text": ELSEWHERE})
            return web.Response(status=200)  # an interaction: nothing can be shown, and nothing is done
        bolt_request = parsed_request(parsed, raw=body, query=request.query_string, headers=dict(request.headers))
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    return slack_events


def refuse(status: int, reason: str) -> web.Response:
    """A refused request's answer, logged at WARNING (no traceback: the client's fault, not ours)."""
    log.warning("refused a request with %d: %s", status, reason)
    response = web.json_response({"error": "malformed request" if status == 400 else "invalid request"}, status=status)
    response.force_close()  # and its connection, with whatever of its body was not read
    return response


def foreign_team(parsed: dict[str, Any], ours: dict[str, Any] | None) -> str | None:
    """Why a signed request comes from another workspace than the one the bot is installed in (`ours`:
    its `auth.test` answer), or None. Requests that name no team (`ssl_check`, `url_verification`) are
    ours; with an org-wide installation, the organisation is compared instead."""
    return foreign(ours, enterprise_id=extract_enterprise_id(parsed), team_id=extract_team_id(parsed))


def foreign(ours: dict[str, Any] | None, *, enterprise_id: str | None, team_id: str | None) -> str | None:
    """`foreign_team` for a request's organisation and team ids (None when it names none)."""
    if ours is None:
        return None
    if ours.get("is_enterprise_install") and ours.get("enterprise_id"):
        theirs, mine, what = enterprise_id, ours.get("enterprise_id"), "organisation"
    else:
        theirs, mine, what = team_id, ours.get("team_id"), "team"
    if not theirs or not mine or theirs == mine:
        return None
    return f"{what} {str(theirs)[:40]!r}, installed in {mine!r}"


def parsed_request(parsed: dict[str, Any], *, raw: str, query: str, headers: dict[str, str]) -> AsyncBoltRequest:
    """A Bolt request from a body `bot.slackapp.gate.parse` already parsed. Bolt takes a parsed body only in its
    Socket Mode form, which differs from HTTP only in how Bolt checks signatures (ours is checked before
    parsing); the request is then marked as the HTTP request it is."""
    bolt_headers: dict[str, str | Sequence[str]] = dict(headers)
    request = AsyncBoltRequest(body=parsed, query=query, headers=bolt_headers, mode="socket_mode")
    request.mode, request.raw_body = "http", raw
    return request

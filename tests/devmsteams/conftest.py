"""A bot's side of the local Teams, built of the Teams SDK's own parts: its inbound token validator (the keys fetched
from the stand-in with the SDK's blocking call, from this test's event loop) and its activity models; and an
`ApiClient` holding the access token the stand-in's token endpoint issued."""

from __future__ import annotations

import warnings
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from microsoft_teams.api import ActivityTypeAdapter, ApiClient
from microsoft_teams.api.auth.cloud_environment import PUBLIC, CloudEnvironment, with_overrides
from microsoft_teams.common import ClientOptions
from microsoft_teams.common.experimental import ExperimentalWarning

with warnings.catch_warnings():  # the SDK's apps package warns of its own preview parts as it is imported
    warnings.simplefilter("ignore", ExperimentalWarning)
    from microsoft_teams.apps import App as App  # (the tests name it from here: imported once, quietly)
    from microsoft_teams.apps.auth.token_validator import InboundActivityTokenValidator

from bot.devmsteams import TeamsStandIn


def cloud_of(teams: TeamsStandIn) -> CloudEnvironment:
    """The SDK's cloud pointed at the stand-in, as the worker points it (the token issuer stays Microsoft's)."""
    return with_overrides(PUBLIC, login_endpoint=teams.url, token_service_url=teams.url,
                          openid_metadata_url=teams.url + "/v1/.well-known/openidconfiguration")


@dataclass
class SdkBot:
    """A messaging endpoint that checks each request as the SDK's HTTP server does, parses it with the SDK's models
    and answers `answer` (status, JSON body)."""

    validator: InboundActivityTokenValidator
    url: str = ""
    raw: list[dict[str, Any]] = field(default_factory=list)  # every activity that passed the token check
    parsed: list[Any] = field(default_factory=list)  # the SDK's models of those
    claims: list[dict[str, Any]] = field(default_factory=list)
    refused: int = 0
    answer: tuple[int, Any] = (200, None)

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.json()
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("Bearer "):
            self.refused += 1
            return web.json_response({"error": "Unauthorized"}, status=401)
        try:
            claims = await self.validator.validate_token(authorization.removeprefix("Bearer "), body.get("serviceUrl"))
        except Exception:
            self.refused += 1
            return web.json_response({"error": "Unauthorized"}, status=401)
        self.claims.append(claims)
        self.raw.append(body)
        if body.get("value", {}).get("trigger") != "automatic":  # (the SDK 2.1 model knows only "manual")
            self.parsed.append(ActivityTypeAdapter.validate_python(body))
        status, answer = self.answer
        return web.json_response(answer, status=status) if answer is not None else web.Response(status=status)


@pytest.fixture
async def sdk_bot(teams: TeamsStandIn) -> AsyncIterator[SdkBot]:
    bot = SdkBot(InboundActivityTokenValidator(teams.app_id, cloud=cloud_of(teams)))
    app = web.Application()
    app.router.add_post("/api/messages", bot.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    bot.url = teams.messaging_url = f"http://{host}:{port}/api/messages"
    yield bot
    await runner.cleanup()


async def access_token(teams: TeamsStandIn, **form: str) -> tuple[int, dict[str, Any]]:
    """The token endpoint's answer to client credentials (the app's own unless `form` changes them)."""
    sent = {"grant_type": "client_credentials", "client_id": teams.app_id, "client_secret": teams.app_password,
            "scope": "https://api.botframework.com/.default", **form}
    tenant = sent.pop("tenant", teams.tenant_id)
    async with aiohttp.ClientSession() as session, session.post(
            f"{teams.url}/{tenant}/oauth2/v2.0/token", data=sent) as response:
        return response.status, await response.json()


@pytest.fixture
async def api(teams: TeamsStandIn) -> ApiClient:
    """The SDK's Bot Connector client with the app's access token."""
    status, answer = await access_token(teams)
    assert status == 200, answer
    return ApiClient(teams.url, ClientOptions(token=answer["access_token"]))


@dataclass
class RouteOnly:
    """The least `HttpServerAdapter` the SDK's `App` takes: it hands over the messaging route's handler and serves
    nothing itself (`SdkApp` serves it)."""

    handler: Any = None

    def register_route(self, method: str, path: str, handler: Any) -> None:
        self.handler = handler

    def serve_static(self, path: str, directory: str) -> None:
        raise NotImplementedError

    async def start(self, port: int) -> None:
        raise NotImplementedError

    async def stop(self) -> None:
        return None


def token_of(teams: TeamsStandIn) -> Any:
    """The SDK's `token` callable for the stand-in: client credentials traded at its token endpoint."""

    async def token(scope: str | list[str], tenant_id: str | None = None) -> str:
        status, answer = await access_token(teams, scope=str(scope), tenant=tenant_id or "botframework.com")
        assert status == 200, answer
        return str(answer["access_token"])

    return token


@pytest.fixture
async def sdk_app(teams: TeamsStandIn) -> AsyncIterator[App]:
    """The Teams SDK's own `App`, pointed at the stand-in as a worker points it, served on this test's loop."""
    adapter = RouteOnly()
    app = App(client_id=teams.app_id, tenant_id=teams.tenant_id, token=token_of(teams), service_url=teams.url,
              cloud=cloud_of(teams), http_server_adapter=adapter)
    await app.initialize()

    async def messages(request: web.Request) -> web.Response:
        answer = await adapter.handler({"body": await request.json(), "headers": dict(request.headers)})
        body = answer["body"]
        return web.json_response(body, status=answer["status"]) if body is not None else web.Response(
            status=answer["status"])

    server = web.Application()
    server.router.add_post("/teams/messages", messages)
    runner = web.AppRunner(server, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    teams.messaging_url = f"http://{host}:{port}/teams/messages"
    yield app
    await runner.cleanup()

"""The Teams SDK's app on the worker's aiohttp server (bot/teams/adapter.py, bot/teams/app.py): the SDK's own
handling serves `POST /teams/messages` (a request without a valid Bot Framework token: 401), and what it would
answer 500 to (a body that is not JSON, or no activity) is a 400 saying why, changing nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest
from aiohttp import web

from bot.core.teams import TeamsConversation, TeamsMember
from bot.core.teams_settings import TeamsSettings
from bot.store import Store
from bot.teams.app import MESSAGES, TeamsApp, app_options, connector_cloud

APP_ID = "00000000-0000-0000-0000-0000000000a1"
TENANT = "00000000-0000-0000-0000-0000000000c1"


class NoPeople:
    async def learn(self, member: TeamsMember, conversation: TeamsConversation | None) -> None:
        raise AssertionError("nobody is learnt from a refused request")


@pytest.fixture
async def served(store: Store) -> AsyncIterator[str]:
    settings = TeamsSettings.model_validate({"TEAMS_APP_ID": APP_ID, "TEAMS_TENANT_ID": TENANT,
                                             "TEAMS_APP_PASSWORD": "not-used-here"})
    teams = TeamsApp(settings, store=store, people=NoPeople())
    web_app = web.Application()
    teams.adapter.mount(web_app, MESSAGES)
    await teams.start()
    runner = web.AppRunner(web_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    yield f"http://127.0.0.1:{runner.addresses[0][1]}{MESSAGES}"
    await runner.cleanup()


ACTIVITY = {"type": "message", "id": "1", "text": "hi", "channelId": "msteams", "serviceUrl": "http://127.0.0.1:9",
            "from": {"id": "29:someone"}, "conversation": {"id": "a:1", "tenantId": TENANT},
            "recipient": {"id": f"28:{APP_ID}"}}


@pytest.mark.parametrize(("body", "said"), [
    (b"{not json", "not JSON"),
    (b"\xff\xfe", "not JSON"),
    (b"[1, 2]", "not a JSON object"),
    (b'{"text": "hi"}', "no type"),
    (b'{"type": "message", "from": "me"}', "malformed"),
])
async def test_a_body_that_is_no_activity_is_a_400_saying_why(served: str, body: bytes, said: str) -> None:
    async with aiohttp.ClientSession() as http, http.post(served, data=body, headers={
            "Content-Type": "application/json", "Authorization": "Bearer x"}) as answer:
        assert answer.status == 400
        assert said in (await answer.json())["error"]


async def test_an_activity_without_a_valid_token_is_refused_by_the_sdk(served: str) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(served, json=ACTIVITY) as answer:
            assert answer.status == 401
        async with http.post(served, json=ACTIVITY, headers={"Authorization": "Bearer not.a.jwt"}) as answer:
            assert answer.status == 401


def test_the_local_bot_connector_cloud_is_the_contracts_layout() -> None:
    cloud = connector_cloud("http://127.0.0.1:4000/")
    assert cloud.login_endpoint == "http://127.0.0.1:4000"
    assert cloud.token_service_url == "http://127.0.0.1:4000"
    assert cloud.openid_metadata_url == "http://127.0.0.1:4000/v1/.well-known/openidconfiguration"
    assert cloud.token_issuer == "https://api.botframework.com"


def test_the_sdk_app_never_runs_unauthenticated() -> None:
    settings = TeamsSettings.model_validate({"TEAMS_APP_ID": APP_ID, "TEAMS_TENANT_ID": TENANT,
                                             "TEAMS_APP_PASSWORD": "s"})
    from bot.teams.adapter import AiohttpAdapter

    options = app_options(settings, AiohttpAdapter())
    assert options["dangerously_allow_unauthenticated_requests"] is False
    assert options["client_secret"] == "s"
    assert options["messaging_endpoint"] == MESSAGES
    assert options["service_url"] == "https://smba.trafficmanager.net/teams" and options["cloud"].login_endpoint == (
        "https://login.microsoftonline.com")  # Microsoft's, whatever SERVICE_URL or CLOUD the environment says

"""The Teams SDK's app on the worker's aiohttp server (bot/msteams/adapter.py, bot/msteams/app.py): the SDK's own
handling serves `POST /teams/messages` (a request without a valid Bot Framework token: 401), and what it would
answer 500 to (a body that is not JSON, or no activity) is a 400 saying why, changing nothing."""

from __future__ import annotations

import datetime
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import NameOID

from bot.core.msteams import TeamsConversation, TeamsMember
from bot.core.msteams_settings import TeamsSettings
from bot.core.settings import SettingsError
from bot.msteams.app import MESSAGES, TeamsApp, app_options, connector_cloud
from bot.store import Store

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
    from bot.msteams.adapter import AiohttpAdapter

    options = app_options(settings, AiohttpAdapter())
    assert options["dangerously_allow_unauthenticated_requests"] is False
    assert options["client_secret"] == "s"
    assert options["messaging_endpoint"] == MESSAGES
    assert options["service_url"] == "https://smba.trafficmanager.net/teams" and options["cloud"].login_endpoint == (
        "https://login.microsoftonline.com")  # Microsoft's, whatever SERVICE_URL or CLOUD the environment says


def certificate_pem(path: Path, *, with_key: bool = True) -> None:
    """A self-signed certificate (and its private key) as an app registration's, in one PEM."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "agent-approvals-bot")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1)).sign(key, hashes.SHA256()))
    text = cert.public_bytes(serialization.Encoding.PEM)
    if with_key:
        text += key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                  serialization.NoEncryption())
    path.write_bytes(text)


def test_a_certificate_signs_the_bot_in_and_a_bad_one_is_refused_at_start(tmp_path: Path) -> None:
    from bot.msteams.adapter import AiohttpAdapter

    good = tmp_path / "bot.pem"
    certificate_pem(good)
    settings = TeamsSettings.model_validate({"TEAMS_APP_ID": APP_ID, "TEAMS_TENANT_ID": TENANT,
                                             "TEAMS_CERTIFICATE": str(good)})
    options = app_options(settings, AiohttpAdapter())
    assert callable(options["token"]) and "client_secret" not in options  # msal signs in with it, off the loop
    lacking = tmp_path / "cert-only.pem"
    certificate_pem(lacking, with_key=False)
    for path, said in ((lacking, "not a PEM with"), (tmp_path / "missing.pem", "cannot be read")):
        settings = TeamsSettings.model_validate({"TEAMS_APP_ID": APP_ID, "TEAMS_TENANT_ID": TENANT,
                                                 "TEAMS_CERTIFICATE": str(path)})
        with pytest.raises(SettingsError, match=said):
            app_options(settings, AiohttpAdapter())

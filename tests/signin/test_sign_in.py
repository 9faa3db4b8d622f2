"""Sign in with Slack on the bot's pages (bot/signin/), over HTTP against a real worker, the local Slack's OpenID
endpoints and redis-server: a page not signed in sends its person to Slack's authorize page; the session cookie the
callback sets; another person, a person of another team, a forged login or a token for another nonce are refused
(and audited where a person is named); no client configured is a refusal, never an open page; a company's own
provider (OIDC_ISSUER) matches people to Slack users by verified email."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from http.cookies import SimpleCookie
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest

from bot.devslack.model import DevUser
from bot.devslack.server import SlackStandIn
from bot.signin import Cookies, Session
from tests.conftest import ALICE, BOB, Worker, bot_env, start_worker
from tests.support.signin import answer_authorize, sign_in

ORIGIN = "http://localhost:8999"  # where people's browsers open the pages (the worker itself is on 127.0.0.1)
PARTNER = DevUser(id="U0ZED", name="zed", real_name="Zed Partner", team_id="T0PARTNER")  # a Slack Connect partner


async def pages_worker(slack: SlackStandIn, redis_url: str, **extra: str) -> Worker:
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, STEP_UP_URL=ORIGIN,
                                        **extra))
    slack.events_url = worker.url + "/slack/events"
    return worker


@pytest.fixture
async def pages(slack: SlackStandIn, redis_url: str) -> AsyncIterator[Worker]:
    worker = await pages_worker(slack, redis_url)
    yield worker
    await worker.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """One browser: its own cookies (IP hosts allowed), redirects not followed."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def enrol_path(worker: Worker, user: str) -> str:
    return (await worker.services.stepup.link(user)).removeprefix(ORIGIN)


async def refusals(worker: Worker) -> list[dict[str, str]]:
    return [e for e in await worker.services.store.audit.entries() if e["event"] == "refused"]


async def test_a_page_sends_its_person_to_sign_in_and_opens_once_signed_in(
    pages: Worker, slack: SlackStandIn, http: aiohttp.ClientSession,
) -> None:
    path = await enrol_path(pages, ALICE)
    async with http.get(pages.url + path, allow_redirects=False) as opened:
        assert opened.status == 302 and opened.headers["Cache-Control"] == "no-store"
        location = urlsplit(opened.headers["Location"])
        login = SimpleCookie(opened.headers["Set-Cookie"])["aa-login"]
    assert f"{location.scheme}://{location.netloc}" == slack.base_url and location.path == "/openid/connect/authorize"
    query = {k: v[0] for k, v in parse_qs(location.query).items()}
    assert query["response_type"] == "code" and query["scope"] == "openid email profile"
    assert query["client_id"] == slack.client_id and query["login_hint"] == ALICE
    assert query["redirect_uri"] == f"{ORIGIN}/signin/callback" and len(query["state"]) > 30 and query["nonce"]
    assert login["httponly"] and login["samesite"] == "Lax" and login["path"] == "/"
    async with http.post(pages.url + path + "/options", json={}) as asked:  # the page's script: a 401 naming why
        assert asked.status == 401 and (await asked.json())["sign_in"].startswith("/signin/start?")

    called = await answer_authorize(http, pages.url, opened.headers["Location"], person=ALICE)
    assert called.status == 302 and called.headers["Location"] == path
    session = SimpleCookie(called.headers.getall("Set-Cookie")[0])["aa-session"]
    assert session["httponly"] and session["samesite"] == "Lax" and 0 < int(session["max-age"]) <= 15 * 60
    assert ALICE not in session.value  # sealed: nothing of who it is shows
    async with http.get(pages.url + path, allow_redirects=False) as page:
        assert page.status == 200 and "Set up a passkey" in await page.text()
    assert {c.method for c in slack.calls() if c.method.startswith("openid.")} == {
        "openid.connect.token", "openid.connect.userInfo"}


async def test_the_step_up_page_refuses_a_signed_in_person_other_than_the_links(
    pages: Worker, http: aiohttp.ClientSession,
) -> None:
    alices = await enrol_path(pages, ALICE)
    called = await sign_in(http, pages.url, alices, person=BOB)  # Bob signs in on Alice's link
    assert called.status == 302
    async with http.get(pages.url + alices, allow_redirects=False) as page:
        text = await page.text()
        assert page.status == 403 and "This page is for alice, and you are signed in as bob" in text
        assert "Set up a passkey" not in text and "/signin/start?" in text
    async with http.post(pages.url + alices + "/options", json={}) as asked:
        said = await asked.json()
        assert asked.status == 403 and "signed in as bob" in said["error"] and said["sign_in"]
    assert await pages.services.store.passkeys.of(ALICE) == []
    assert [(e["by"], e["reason"]) for e in await refusals(pages)] == [
        (BOB, f"sign-in: the page is for {ALICE}, signed in as {BOB}")] * 2


async def test_a_person_of_another_team_is_refused_and_audited(
    pages: Worker, slack: SlackStandIn, http: aiohttp.ClientSession,
) -> None:
    slack.set_user(PARTNER)
    path = await enrol_path(pages, PARTNER.id)  # a link made for them: signing in does not make them one of ours
    await sign_in(http, pages.url, path)
    async with http.get(pages.url + path, allow_redirects=False) as page:
        text = await page.text()
        assert page.status == 403 and "another Slack organization" in text and "Set up a passkey" not in text
    assert [(e["by"], e["reason"]) for e in await refusals(pages)] == [(PARTNER.id, "outsider: external")]


async def test_a_forged_login_a_stolen_code_and_a_tampered_session_are_refused(
    pages: Worker, slack: SlackStandIn, http: aiohttp.ClientSession,
) -> None:
    path = await enrol_path(pages, ALICE)
    async with http.get(pages.url + path, allow_redirects=False) as opened:
        query = {k: v[0] for k, v in parse_qs(urlsplit(opened.headers["Location"]).query).items()}
    # the state of another login: refused, nothing signed in
    async with http.get(f"{pages.url}/signin/callback?code=x&state=forged", allow_redirects=False) as answer:
        assert answer.status == 400 and "not the one this browser started" in await answer.text()
    # a code Slack gave for another login (its nonce): the id_token does not verify for this one
    code = slack.openid_code(ALICE, nonce="another login", redirect_uri=f"{ORIGIN}/signin/callback")
    async with http.get(f"{pages.url}/signin/callback?code={code}&state={query['state']}",
                        allow_redirects=False) as answer:
        assert answer.status == 403 and "could not be verified" in await answer.text()
    # a session cookie sealed with another key is no session
    forged = Cookies("another signing secret", secure=False)
    http.cookie_jar.update_cookies({forged.session_name: forged.seal_session(
        Session(user=ALICE, team="", name="alice", expires=time.time() + 60))}, response_url=aiohttp.client.URL(
            pages.url))
    async with http.get(pages.url + path, allow_redirects=False) as page:
        assert page.status == 302  # sent to sign in
    assert await pages.services.store.passkeys.of(ALICE) == []


async def test_without_a_client_the_pages_refuse_never_open(slack: SlackStandIn, redis_url: str,
                                                            http: aiohttp.ClientSession) -> None:
    worker = await pages_worker(slack, redis_url, OIDC_CLIENT_ID="", OIDC_CLIENT_SECRET="")
    try:
        assert worker.services.settings.oidc_client_id in (None, "")
        path = await enrol_path(worker, ALICE)
        async with http.get(worker.url + path, allow_redirects=False) as page:
            text = await page.text()
            assert page.status == 503 and "SLACK_CLIENT_ID" in text and "Set up a passkey" not in text
    finally:
        await worker.stop()


async def test_another_provider_matches_people_by_verified_email(slack: SlackStandIn, redis_url: str,
                                                                 http: aiohttp.ClientSession) -> None:
    # the local Slack plays a company's own provider: OIDC_ISSUER set, the person found by email in Slack
    worker = await pages_worker(slack, redis_url, OIDC_ISSUER=slack.base_url)
    try:
        path = await enrol_path(worker, BOB)
        called = await sign_in(http, worker.url, path, person=BOB)
        assert called.status == 302 and called.headers["Location"] == path
        async with http.get(worker.url + path, allow_redirects=False) as page:
            assert page.status == 200 and "Set up a passkey" in await page.text()
        assert [c.args.get("email") for c in slack.calls() if c.method == "users.lookupByEmail"] == [
            "bob@example.com"]
    finally:
        await worker.stop()


def test_over_https_the_cookies_are_host_only_and_secure() -> None:
    cookies = Cookies("secret", secure=True)
    assert cookies.session_name == "__Host-aa-session" and cookies.login_name == "__Host-aa-login"
    assert cookies.attributes(max_age=60) == {"max_age": 60, "path": "/", "httponly": True, "secure": True,
                                              "samesite": "Lax"}
    session = Session(user=ALICE, team="T0", name="alice", expires=time.time() + 60)
    sealed = cookies.seal_session(session)
    assert cookies.open_session(sealed) == session
    assert cookies.open_login(sealed) is None  # a session is not a login (bound to its name)
    assert cookies.open_session(cookies.seal_session(Session(ALICE, "T0", "alice", time.time() - 1))) is None


async def test_sign_out_clears_the_session_and_every_page_offers_it(
    pages: Worker, http: aiohttp.ClientSession,
) -> None:
    """#76.14: `POST /signin/logout` clears the session cookie (the next page asks to sign in again); every page
    carries the form, its CSP lets it post here only; another site's page cannot sign someone out."""
    path = await enrol_path(pages, ALICE)
    await sign_in(http, pages.url, path)
    async with http.get(pages.url + path, allow_redirects=False) as page:
        text = await page.text()
        assert page.status == 200 and 'action="/signin/logout"' in text and 'data-testid="sign-out"' in text
        assert "form-action 'self'" in page.headers["Content-Security-Policy"]
    async with http.get(pages.url + "/reveal/" + "x" * 43, allow_redirects=False) as gone:  # a page that refuses
        assert gone.status == 410 and 'action="/signin/logout"' in await gone.text()
    for hostile in ({"Origin": "https://evil.example"}, {"Sec-Fetch-Site": "cross-site"}):
        async with http.post(pages.url + "/signin/logout", headers=hostile, allow_redirects=False) as refused:
            assert refused.status == 403 and "Set-Cookie" not in refused.headers
    async with http.get(pages.url + path, allow_redirects=False) as still:
        assert still.status == 200  # still signed in
    async with http.post(pages.url + "/signin/logout", headers={"Origin": ORIGIN}, allow_redirects=False) as out:
        assert out.status == 200 and "You are signed out" in await out.text()
        cleared = SimpleCookie()
        for header in out.headers.getall("Set-Cookie"):
            cleared.load(header)
        assert cleared["aa-session"].value == "" and cleared["aa-session"]["max-age"] == "0"
    async with http.get(pages.url + path, allow_redirects=False) as again:
        assert again.status == 302 and "/openid/connect/authorize" in again.headers["Location"]

"""The Review-and-decide page as a worker serves it (issue 88): a real worker with SMTP_URL (the local mail catcher),
the local Slack playing the company's identity provider (OIDC_ISSUER) and redis-server. An e-mail-only person (a
verified email no Slack user of the workspace has) signs in as `email:<address>` and decides through their link,
audited `surface: email`; GET and HEAD decide nothing; a second POST, another signed-in person or a link to another
approval is refused and audited; a Slack user still signs in as themselves."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp
import pytest

from bot.devmail.catcher import MailCatcher
from bot.devslack.model import DevTeam, DevUser
from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, SALES, Worker, bot_env, start_worker
from tests.support.api import Client, tool_ask
from tests.support.signin import answer_authorize

ORIGIN = "http://localhost:8999"  # where people open the pages and links (the worker itself is on 127.0.0.1)
ERIN_ID = "U0OUTERIN"  # erin signs in at the company's provider; the bot's Slack workspace has no such email
ERIN = "email:erin@example.com"


@pytest.fixture
async def mailer(slack: SlackStandIn, redis_url: str, mail: MailCatcher) -> AsyncIterator[Worker]:
    slack.add_team(DevTeam(id="T0OUTER", name="Outer", domain="outer"))  # not installed: Slack cannot see erin
    slack.set_user(DevUser(id=ERIN_ID, name="erin", real_name="Erin Mail", team_id="T0OUTER"))
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, SMTP_URL=mail.smtp_url,
                                        EMAIL_FROM="approvals@example.com", OIDC_ISSUER=slack.base_url,
                                        PUBLIC_URL=ORIGIN, STEP_UP_URL=ORIGIN))
    slack.events_url = worker.url + "/slack/events"
    yield worker
    await worker.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as session:
        yield session


async def asked(worker: Worker, mail: MailCatcher, *, to: str = "erin@example.com", count: int = 1) -> tuple[str, str]:
    """An approval for `to` asked through the API: its id and the path of the link its mail brought."""
    key = await worker.services.store.api_keys.create(f"nightly-{count}", (SALES,), by="test")
    assert key is not None
    status, answer = await Client(worker, key.key).ask(tool_ask())
    assert status == 201 and answer["status"] == "pending", answer
    caught = (await mail.arrived(to, count=count, within=15))[-1]
    assert len(caught.links) == 1 and caught.links[0].startswith(ORIGIN + "/email/" + answer["id"] + "/")
    return answer["id"], caught.links[0].removeprefix(ORIGIN)


async def signed_in(http: aiohttp.ClientSession, worker: Worker, path: str, *, person: str) -> None:
    """The link opened signed out (to the provider, hinting nobody), signed in as `person`, and back to the link."""
    async with http.get(worker.url + path, allow_redirects=False) as opened:
        assert opened.status == 302, await opened.text()
        location = opened.headers["Location"]
    assert urlsplit(location).path == "/openid/connect/authorize"
    called = await answer_authorize(http, worker.url, location, person=person)
    assert called.status == 302 and called.headers["Location"] == path


async def csrf_of(http: aiohttp.ClientSession, url: str) -> str:
    async with http.get(url, allow_redirects=False) as page:
        text = await page.text()
        assert page.status == 200, text
    found = re.search(r'name="csrf" value="([^"]+)"', text)
    assert found is not None
    return found[1]


async def refusals(worker: Worker) -> list[dict[str, str]]:
    return [e for e in await worker.services.store.audit.entries() if e["event"] == "refused"]


@pytest.mark.slow  # a worker and its mail loop
async def test_an_email_only_person_signs_in_and_decides_once_through_their_link(
    mailer: Worker, mail: MailCatcher, http: aiohttp.ClientSession,
) -> None:
    assert await mailer.services.store.settings.set(SALES, "approvers", ERIN, by="operator") is None
    approval, path = await asked(mailer, mail)
    url = mailer.url + path
    await signed_in(http, mailer, path, person=ERIN_ID)
    for method, query in (("GET", ""), ("HEAD", ""), ("GET", "?verb=approved")):  # a scanner, a preview: nothing
        async with http.request(method, url + query, allow_redirects=False) as seen:
            assert seen.status == 200
    record = await mailer.services.store.approvals.get(approval)
    assert record is not None and record.status == "pending"
    token = await csrf_of(http, url)
    async with http.post(url, data={"verb": "approved", "csrf": token}, allow_redirects=False) as done:
        assert done.status == 200 and "Thank you" in await done.text()
    record = await mailer.services.store.approvals.get(approval)
    assert record is not None and record.status == "approved" and record.decided_by == ERIN
    decided = [e for e in await mailer.services.store.audit.entries() if e["event"] == "decision"]
    assert [(e["by"], e.get("surface")) for e in decided] == [(ERIN, "email")]
    async with http.post(url, data={"verb": "approved", "csrf": token}, allow_redirects=False) as again:
        assert again.status == 410
    assert [(r["by"], r["reason"]) for r in await refusals(mailer)] == [(ERIN, "email link: used")]


@pytest.mark.slow  # a worker and its mail loop
async def test_another_signed_in_person_and_another_approvals_link_are_refused_and_audited(
    mailer: Worker, mail: MailCatcher, http: aiohttp.ClientSession,
) -> None:
    assert await mailer.services.store.settings.set(SALES, "approvers", ERIN, by="operator") is None
    first, path = await asked(mailer, mail)
    second, _ = await asked(mailer, mail, count=2)
    await signed_in(http, mailer, path, person=BOB)  # bob is a Slack user: signed in as himself (by email)
    async with http.get(mailer.url + path, allow_redirects=False) as page:
        assert page.status == 403 and "someone else" in await page.text()
    async with http.get(mailer.url + path.replace(first, second), allow_redirects=False) as other:
        assert other.status == 404
    assert [(r["by"], r["approval"], r["reason"], r["surface"]) for r in await refusals(mailer)] == [
        (BOB, first, "email link: wrong_person", "email"), (BOB, second, "email link: wrong_approval", "email")]
    for approval in (first, second):
        record = await mailer.services.store.approvals.get(approval)
        assert record is not None and record.status == "pending"

"""The Review-and-decide page as a worker serves it (issue 88): a real worker with SMTP_URL (the local mail catcher),
the local Slack playing the company's identity provider (OIDC_ISSUER) and redis-server. An e-mail-only person (a
verified email no Slack user of the workspace has) signs in as `email:<address>` and decides through their link,
audited `surface: email`; GET and HEAD decide nothing; a second POST, another signed-in person or a link to another
approval is refused and audited; a Slack user still signs in as themselves."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.devmail.catcher import MailCatcher
from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, SALES, StartPolicyWorker, Worker
from tests.support.api import Client, tool_ask
from tests.support.mail import ERIN, ERIN_ID, ORIGIN, csrf_of, email_env, post
from tests.support.policies import READ_FIRST
from tests.support.signin import browser, signed_in


@pytest.fixture
def mailer(mailing: Worker) -> Worker:
    """A worker serving Slack and e-mail (tests/mail/conftest.py)."""
    return mailing


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with browser() as session:
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


async def refusals(worker: Worker) -> list[dict[str, str]]:
    return [e for e in await worker.services.store.audit.entries() if e["event"] == "refused"]


@pytest.mark.slow  # a worker and its mail loop
async def test_an_email_only_person_signs_in_and_decides_once_through_their_link(
    mailer: Worker, mail: MailCatcher, http: aiohttp.ClientSession,
) -> None:
    assert await mailer.services.store.settings.set(SALES, "approvers", ERIN, by="operator") is None
    approval, path = await asked(mailer, mail)
    url = mailer.url + path
    await signed_in(http, mailer.url, path, person=ERIN_ID)
    for method, query in (("GET", ""), ("HEAD", ""), ("GET", "?verb=approved")):  # a scanner, a preview: nothing
        async with http.request(method, url + query, allow_redirects=False) as seen:
            assert seen.status == 200
    record = await mailer.services.store.approvals.get(approval)
    assert record is not None and record.status == "pending"
    token = await csrf_of(http, url)
    status, said, _ = await post(http, url, "approved", token)
    assert status == 200 and "Thank you" in said
    record = await mailer.services.store.approvals.get(approval)
    assert record is not None and record.status == "approved" and record.decided_by == ERIN
    decided = [e for e in await mailer.services.store.audit.entries() if e["event"] == "decision"]
    assert [(e["by"], e.get("surface")) for e in decided] == [(ERIN, "email")]
    assert (await post(http, url, "approved", token))[0] == 410
    assert [(r["by"], r["reason"]) for r in await refusals(mailer)] == [(ERIN, "email link: used")]


@pytest.mark.slow  # a worker and its mail loop
async def test_another_signed_in_person_and_another_approvals_link_are_refused_and_audited(
    mailer: Worker, mail: MailCatcher, http: aiohttp.ClientSession,
) -> None:
    assert await mailer.services.store.settings.set(SALES, "approvers", ERIN, by="operator") is None
    first, path = await asked(mailer, mail)
    second, _ = await asked(mailer, mail, count=2)
    await signed_in(http, mailer.url, path, person=BOB)  # bob is a Slack user: signed in as himself (by email)
    async with http.get(mailer.url + path, allow_redirects=False) as page:
        assert page.status == 403 and "someone else" in await page.text()
    async with http.get(mailer.url + path.replace(first, second), allow_redirects=False) as other:
        assert other.status == 404
    assert [(r["by"], r["approval"], r["reason"], r["surface"]) for r in await refusals(mailer)] == [
        (BOB, first, "email link: wrong_person", "email"), (BOB, second, "email link: wrong_approval", "email")]
    for approval in (first, second):
        record = await mailer.services.store.approvals.get(approval)
        assert record is not None and record.status == "pending"




@pytest.mark.slow  # a worker and its mail loop
async def test_the_links_page_counts_as_the_details_opened_for_require_details(
    policy_worker: StartPolicyWorker, slack: SlackStandIn, mail: MailCatcher, http: aiohttp.ClientSession,
) -> None:
    worker = await policy_worker({"mail.cedar": READ_FIRST}, **email_env(slack, mail))
    await worker.services.store.settings.set(SALES, "approvers", ERIN, by="operator")
    approval, path = await asked(worker, mail)
    await signed_in(http, worker.url, path, person=ERIN_ID)
    status, said, _ = await post(http, worker.url + path, "approved", await csrf_of(http, worker.url + path))
    assert status == 200 and "Thank you" in said, said  # the page she decided on showed her the whole change
    record = await worker.services.store.approvals.get(approval)
    assert record is not None and record.status == "approved" and record.decided_by == ERIN

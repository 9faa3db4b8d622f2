"""One approval decided from Slack, Teams and e-mail, as people do it (issue 88, "Tested as a user runs it"): a real
worker serving the local Slack, the local Teams and the local mail catcher, the local Slack also playing the
company's identity provider. A quorum of three counts Bob (Slack), Dana (Teams only) and Erin (e-mail only) once
each, Bob's second vote from Teams (the same verified email) not at all; a scanner's GET and HEAD of Erin's link decide
nothing; a link used twice, after its approval expired, by another signed-in person or for another approval is
refused and audited; a freeze refuses an e-mail Approve; no hidden value is in any mail or on the page."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import aiohttp
import pytest

from bot.devmail.catcher import Caught, MailCatcher
from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, SALES
from tests.support.hitl import click, nth_card, until
from tests.support.mail import ERIN, ERIN_ADDRESS, ERIN_ID, ORIGIN, csrf_of, email_env, post
from tests.support.signin import browser, signed_in
from tests.support.teams import APPROVE, DANA_OID, World

pytestmark = pytest.mark.slow  # a worker serving Slack, Teams and e-mail
SECRET = "sk_live_51HqLyjWDarjtT1zdp7dcXYZabcdefghijklmnop"  # a key in the arguments: hidden, never mailed


@pytest.fixture
def world_env(slack: SlackStandIn, mail: MailCatcher) -> dict[str, str]:
    return email_env(slack, mail)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with browser() as session:
        yield session


async def approvers(world: World, who: str, required: int = 1) -> None:
    store = world.worker.services.store
    await store.settings.set(SALES, "approvers", who, by="operator")
    await store.settings.set(SALES, "required_approvals", str(required), by="operator")


async def mailed(world: World, mail: MailCatcher, approval: str) -> tuple[str, Caught]:
    """`approval`'s mail to Erin, once it came: the path of its link, and the mail."""
    def arrived() -> Caught | None:
        found = [m for m in mail.inbox(ERIN_ADDRESS) if any(f"/email/{approval}/" in link for link in m.links)]
        return found[0] if found else None

    caught: Caught = await until(arrived, within=15, what=f"the mail of {approval} to Erin")
    assert len(caught.links) == 1 and caught.links[0].startswith(ORIGIN)
    return caught.links[0].removeprefix(ORIGIN), caught


def hidden_nowhere(caught: Caught) -> None:
    for part in (caught.text, caught.html, caught.subject):
        assert SECRET not in part and SECRET[:12] not in part


async def refusals(world: World) -> list[tuple[str, str, str]]:
    entries = await world.worker.services.store.audit.entries()
    return [(e["by"], e.get("approval", ""), e["reason"]) for e in entries if e["event"] == "refused"]


async def test_a_quorum_of_three_counts_slack_teams_and_email_once_each(world: World, mail: MailCatcher,
                                                                         http: aiohttp.ClientSession) -> None:
    await approvers(world, f"{BOB},teams:{DANA_OID},{ERIN}", required=3)
    approval = await world.ask(tool={"name": "send_email", "arguments": {
        "to": "bob@example.com", "body": f"Use the key {SECRET} for the prices."}})
    path, caught = await mailed(world, mail, approval)
    hidden_nowhere(caught)
    assert "Review and decide" in caught.text and "Review and decide" in caught.html

    await click(world.slack, await nth_card(world.slack, 1), "approval_approve", user=BOB)  # Bob, in Slack
    activity = await world.teams_card(approval)
    await world.execute(activity, world.bob, APPROVE, approval)  # Bob again, in Teams: the same person
    await world.execute(activity, world.dana, APPROVE, approval)  # Dana, Teams only
    store = world.worker.services.store
    record = await store.approvals.get(approval)
    assert record is not None and record.status == "pending" and sorted(record.voters) == sorted(
        [BOB, f"teams:{DANA_OID}"])

    url = world.worker.url + path
    async with aiohttp.ClientSession() as scanner:  # a mail scanner, a link preview: signed out, never deciding
        for method, query in (("GET", ""), ("GET", "?verb=approved&csrf=x")):
            async with scanner.request(method, url + query, allow_redirects=False) as seen:
                assert seen.status == 302 and "/openid/connect/authorize" in seen.headers["Location"]
        async with scanner.head(url, allow_redirects=False) as seen:
            assert seen.status == 401  # (the sign-in answers a request that is not a page's GET so)
    await signed_in(http, world.worker.url, path, person=ERIN_ID)
    async with http.head(url, allow_redirects=False) as seen:
        assert seen.status == 200
    record = await store.approvals.get(approval)
    assert record is not None and record.status == "pending" and len(record.voters) == 2
    async with http.get(url) as page:
        shown = await page.text()
        assert page.status == 200 and SECRET not in shown and SECRET[:12] not in shown

    token = await csrf_of(http, url)
    status, said, _ = await post(http, url, "approved", token)
    assert status == 200 and "Thank you" in said, said
    decision = await world.client.wait(approval)
    assert decision["status"] == "approved", decision
    record = await store.approvals.get(approval)
    assert record is not None and sorted(record.voters) == sorted([BOB, f"teams:{DANA_OID}", ERIN])
    votes = [(e["by"], e.get("surface", "slack")) for e in await store.audit.entries() if e["event"] == "vote"]
    assert (BOB, "slack") in votes and (f"teams:{DANA_OID}", "teams") in votes, votes
    assert [(e["by"], e.get("surface")) for e in await store.audit.entries() if e["event"] == "decision"] == [
        (ERIN, "email")]

    assert (await post(http, url, "approved", token))[0] == 410  # the link used twice
    assert (ERIN, approval, "email link: used") in await refusals(world)
    for later in mail.inbox(ERIN_ADDRESS):
        hidden_nowhere(later)


async def test_links_used_late_by_another_or_for_another_approval_are_refused_and_audited(
    world: World, mail: MailCatcher, http: aiohttp.ClientSession
) -> None:
    await approvers(world, ERIN)
    short = await world.ask(timeout=3)
    short_path, _ = await mailed(world, mail, short)
    other = await world.ask()
    other_path, _ = await mailed(world, mail, other)
    deadline = time.time() + 3
    await signed_in(http, world.worker.url, other_path, person=ERIN_ID)
    swapped = other_path.replace(other, short)  # another approval's link, its id swapped
    async with http.get(world.worker.url + swapped, allow_redirects=False) as page:
        assert page.status == 404
    await until(lambda: time.time() > deadline + 0.5, within=10, what="the short approval's deadline")
    async with http.get(world.worker.url + short_path, allow_redirects=False) as page:
        assert page.status == 410 and "expired" in await page.text()

    async with browser() as bob:  # Bob, signed in as himself (a Slack user, by his email), opens Erin's link
        await signed_in(bob, world.worker.url, other_path, person=BOB)
        async with bob.get(world.worker.url + other_path, allow_redirects=False) as page:
            assert page.status == 403 and "someone else" in await page.text()
    said = await refusals(world)
    for refusal in ((ERIN, short, "email link: wrong_approval"), (ERIN, short, "email link: expired"),
                    (BOB, other, "email link: wrong_person")):
        assert refusal in said, said
    record = await world.worker.services.store.approvals.get(other)
    assert record is not None and record.status == "pending"


async def test_a_freeze_refuses_an_email_approve_and_its_link_still_rejects(
    world: World, mail: MailCatcher, http: aiohttp.ClientSession
) -> None:
    await approvers(world, ERIN)
    approval = await world.ask()
    path, _ = await mailed(world, mail, approval)
    store = world.worker.services.store
    assert await store.freezes.freeze(f"channel:{SALES}", reason="incident 7: <mail> loop & co", by="U0ADMIN")
    await signed_in(http, world.worker.url, path, person=ERIN_ID)
    url = world.worker.url + path
    status, said, _ = await post(http, url, "approved", await csrf_of(http, url))
    # the core's words in plain text, escaped once by the page (never Slack's mrkdwn: no `code`, no &amp;lt;)
    assert status == 409 and "Frozen" in said and "incident 7: &lt;mail&gt; loop &amp; co" in said, said
    assert "`" not in said and "&amp;lt;" not in said, said
    record = await store.approvals.get(approval)
    assert record is not None and record.status == "pending"
    assert any(e["event"] == "refused" and e.get("by") == ERIN and "frozen" in e.get("reason", "")
               for e in await store.audit.entries())
    status, said, _ = await post(http, url, "rejected", await csrf_of(http, url))  # Reject still works
    assert status == 200 and "Thank you" in said, said
    record = await store.approvals.get(approval)
    assert record is not None and record.status == "rejected" and record.decided_by == ERIN

"""A person named by their address who is also a Slack user with that verified email (issue 88): Carol, approver
`email:carol@example.com`, is the Slack user U0CAROL (carol@example.com, verified). Signed in to her mail's link
through Slack as U0CAROL she is the person the link was made for (People: the approver's address and her verified
email name one person), so she decides; her vote counts once in a quorum whichever surface she uses (her Slack click
after it is a duplicate). Someone else signed in (Bob, another email) is still refused (403, audited). Her App Home
lists what waits for her address, and she decides it there."""

from __future__ import annotations

import pytest

from bot.devmail.catcher import Caught, MailCatcher
from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, CAROL, SALES, Worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import click, nth_card, until
from tests.support.homes import open_homes, waiting_in_home
from tests.support.mail import csrf_of, post
from tests.support.signin import browser, signed_in

pytestmark = pytest.mark.slow  # a worker serving Slack and e-mail
CAROL_MAIL = "email:carol@example.com"


def mailed(mail: MailCatcher, approval: str) -> Caught | None:
    found = [m for m in mail.inbox("carol@example.com") if any(f"/email/{approval}/" in link for link in m.links)]
    return found[0] if found else None


async def test_a_slack_user_whose_verified_email_is_the_approvers_address_decides_by_the_link_once(
    mailing: Worker, slack: SlackStandIn, mail: MailCatcher
) -> None:
    store = mailing.services.store
    await store.settings.set(SALES, "approvers", f"{CAROL_MAIL},{BOB}", by="operator")
    await store.settings.set(SALES, "required_approvals", "2", by="operator")
    client = Client(mailing, (await new_key(mailing)).key)
    status, asked = await client.ask(tool_ask())
    assert status == 201, asked
    approval = str(asked["id"])
    caught: Caught = await until(lambda: mailed(mail, approval), within=15, what="Carol's mail")
    path = "/email/" + caught.links[0].split("/email/", 1)[1]
    url = mailing.url + path

    async with browser() as other:  # Bob signed in to Carol's link: not her, refused
        await signed_in(other, mailing.url, path, person=BOB)
        async with other.get(url, allow_redirects=False) as page:
            assert page.status == 403, await page.text()

    async with browser() as http:  # Carol signed in through Slack, as U0CAROL
        await signed_in(http, mailing.url, path, person=CAROL)
        done, said, _ = await post(http, url, "approved", await csrf_of(http, url))
    assert done == 200, said
    record = await store.approvals.get(approval)
    assert record is not None and record.status == "pending" and record.voters == [CAROL]

    card = await nth_card(slack, 1)
    await click(slack, card, "approval_approve", user=CAROL)  # Carol again, in Slack: the same person, no second vote
    record = await store.approvals.get(approval)
    assert record is not None and record.status == "pending" and record.voters == [CAROL]

    await click(slack, card, "approval_approve", user=BOB)
    decision = await client.wait(approval)
    assert decision["status"] == "approved", decision
    record = await store.approvals.get(approval)
    assert record is not None and sorted(record.voters) == sorted([CAROL, BOB])
    votes = [(e["by"], e.get("surface", "slack")) for e in await store.audit.entries() if e["event"] == "vote"]
    assert votes == [(CAROL, "email"), (BOB, "slack")], votes  # Carol once
    refused = [(e["by"], e["reason"]) for e in await store.audit.entries() if e["event"] == "refused"]
    assert (BOB, "email link: wrong_person") in refused and not [r for r in refused if r[0] == CAROL], refused


async def test_a_slack_users_home_lists_what_waits_for_their_address_and_decides_it(
    mailing: Worker, slack: SlackStandIn
) -> None:
    store = mailing.services.store
    await store.settings.set(SALES, "approvers", CAROL_MAIL, by="operator")
    await open_homes(slack, CAROL, BOB)
    client = Client(mailing, (await new_key(mailing)).key)
    status, asked = await client.ask(tool_ask())
    assert status == 201, asked
    approval = str(asked["id"])
    await slack.wait_for(lambda: approval in waiting_in_home(slack, CAROL), description="Carol's Home lists it")
    assert approval not in waiting_in_home(slack, BOB)  # not his address

    result = await slack.click_view(user=CAROL, action_id="approval_approve", value=approval)
    assert result.status == 200
    decision = await client.wait(approval)
    assert (decision["status"], decision["decided_by"]) == ("approved", CAROL), decision
    await slack.wait_for(lambda: approval not in waiting_in_home(slack, CAROL), description="gone from her Home")

"""Slack failing while an approval opens (issue 88, "a Slack outage delays no e-mail"): a real worker serving the
local Slack and the local mail catcher, no Teams, Erin an e-mail-only approver. The local Slack answering
chat.postMessage HTTP 503, an approval with Erin among its approvers is not cancelled: her mail comes at once and the
approval waits; Slack back, its card is posted by Slack's own due work (the outbox), once, and Erin's decision by
e-mail resolves it. An approval with Slack approvers alone is cancelled as before (nobody could see it)."""

from __future__ import annotations

import json

import pytest

from bot.core.records import ApprovalRecord
from bot.devmail.catcher import Caught, MailCatcher
from bot.devslack.model import RecordedCall
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import APPROVALS, BOB, SALES, Worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import until
from tests.support.mail import ERIN, ERIN_ADDRESS, ERIN_ID, csrf_of, post
from tests.support.signin import browser, signed_in

pytestmark = pytest.mark.slow  # a worker serving Slack and e-mail
POSTS = "chat.postMessage"


def cards_of(slack: SlackStandIn, approval: str) -> list[str]:
    """The cards of `approval` in #approvals (their ts), thread replies not counted."""
    return [str(m["ts"]) for m in slack.messages(APPROVALS)
            if not m.get("thread_ts") and approval in json.dumps(m.get("blocks"))]


def posted(slack: SlackStandIn, approval: str) -> list[RecordedCall]:
    """The posts of `approval`'s card Slack took (thread replies not counted)."""
    return [c for c in slack.calls(POSTS) if c.ok and not c.args.get("thread_ts") and approval in json.dumps(c.args)]


def mails(mail: MailCatcher, approval: str) -> list[Caught]:
    return [m for m in mail.inbox(ERIN_ADDRESS) if any(f"/email/{approval}/" in link for link in m.links)]


async def test_slack_failing_an_approval_with_an_email_approver_waits_and_its_card_comes_once_slack_is_back(
    mailing: Worker, slack: SlackStandIn, mail: MailCatcher
) -> None:
    store = mailing.services.store
    await store.settings.set(SALES, "approvers", f"{BOB},{ERIN}", by="operator")
    client = Client(mailing, (await new_key(mailing)).key)
    slack.fail(method=POSTS, status=503, count=1_000_000)  # Slack down: every post answered HTTP 503
    status, asked = await client.ask(tool_ask())
    assert status == 201, asked
    approval = str(asked["id"])
    [opened] = await until(lambda: mails(mail, approval), within=15, what="the opening mail while Slack fails")
    record = await store.approvals.get(approval)
    assert record is not None and record.status == "pending" and not record.card_ts
    assert await store.outbox.at(approval) is not None  # its card owed: Slack's due work posts it
    assert cards_of(slack, approval) == []

    slack.heal(POSTS)  # Slack answers again: the card posted by the outbox, once
    [ts] = await until(lambda: cards_of(slack, approval), within=40, what="the card once Slack is back")
    record = await until(lambda: _carded(store, approval), within=10, what="the card noted")
    assert record.card_ts == ts and record.status == "pending"
    await until(lambda: _not_due(store, approval), within=20, what="the outbox emptied")
    assert len(cards_of(slack, approval)) == 1 and len(mails(mail, approval)) == 1

    path = opened.links[0].split("/email/", 1)[1]
    async with browser() as http:
        await signed_in(http, mailing.url, f"/email/{path}", person=ERIN_ID)
        url = f"{mailing.url}/email/{path}"
        done, said, _ = await post(http, url, "approved", await csrf_of(http, url))
    assert done == 200, said
    decision = await client.wait(approval)
    assert decision["status"] == "approved" and decision["decided_by"] == ERIN, decision
    assert len(posted(slack, approval)) == 1  # one card posted in all


async def test_slack_failing_an_approval_with_slack_approvers_alone_is_cancelled(
    mailing: Worker, slack: SlackStandIn
) -> None:
    store = mailing.services.store
    await store.settings.set(SALES, "approvers", BOB, by="operator")
    client = Client(mailing, (await new_key(mailing)).key)
    slack.fail(method=POSTS, status=503, count=1_000_000)
    status, asked = await client.ask(tool_ask())
    assert status == 502 and asked["error"]["code"] == "slack_refused", asked  # as before: nobody could see it
    entries = await store.audit.entries()
    assert "card not posted" in json.dumps([e for e in entries if e.get("by") == "system"]), entries
    assert slack.messages(APPROVALS) == []


async def _carded(store: Store, approval: str) -> ApprovalRecord | None:
    record = await store.approvals.get(approval)
    return record if record is not None and record.card_ts else None


async def _not_due(store: Store, approval: str) -> bool:
    return await store.outbox.at(approval) is None

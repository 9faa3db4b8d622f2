"""A decision told by e-mail where the ask asks for it (issue 88): an ask's `notify` (`email:<address>`, as approvers
name e-mail people) is checked (400 naming the field, nothing stored; 400 too on a plane that sends no e-mail), kept
on the approval, and its decision, on any surface, is mailed to those people only (bot/email/surface.py on
`ApprovalDecided`: a click in Slack, a timeout; bot/templates/email/decided.*), hidden values as their masks, retried
through the e-mail due work when the mail server does not take it."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from typing import Any

import pytest
from agent_approvals import ApprovalsClient

from bot.approvals.events import ApprovalDecided
from bot.devmail.catcher import MailCatcher
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import APPROVALS, BOB, Worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import audit_events, click, nth_card, until
from tests.support.mail import email_env, surface_of
from tests.support.records import approval
from tests.support.teams import World

DAVE = "dave@example.com"
SECRET = "sk_live_51HqLyjWDarjtT1zdp7dcXYZabcdefghijklmnop"  # a key in the arguments: hidden, never mailed


@pytest.mark.parametrize("notify", [
    f"email:{DAVE}",  # not a list
    ["U0BOB"],  # a Slack person: told on Slack already
    ["slack:U0BOB"],
    ["email:dave"],
    [f"email:dave,{DAVE}"],  # two in one
    ["email:<dave@example.com>"],
    [5],
    [f"email:{i}{DAVE}" for i in range(21)],
])
async def test_a_bad_notify_is_400_naming_it_and_stores_nothing(api: Worker, slack: SlackStandIn, notify: Any) -> None:
    client = Client(api, (await new_key(api)).key)
    status, answer = await client.ask(tool_ask(notify=notify))
    assert status == 400, answer
    assert answer["error"]["field"] == "notify" and "email:<address>" in answer["error"]["message"], answer
    assert slack.messages(APPROVALS) == [] and await audit_events(api, "requested") == []


async def test_notify_on_a_plane_that_sends_no_email_is_400_naming_smtp_url(api: Worker, slack: SlackStandIn) -> None:
    client = Client(api, (await new_key(api)).key)
    status, answer = await client.ask(tool_ask(notify=[f"email:{DAVE}"]))
    assert status == 400 and answer["error"]["field"] == "notify" and "SMTP_URL" in answer["error"]["message"]
    assert slack.messages(APPROVALS) == [] and await audit_events(api, "requested") == []


async def decided(store: Store, approval_id: str = "a1b2c3d4-0001", **fields: Any) -> Any:
    made: dict[str, Any] = {"approvers": ("U0BOB", "email:erin@example.com"), "status": "approved",
                            "decided_by": "U0BOB", "decided_at": time.time()}
    record = replace(approval(approval_id), **{**made, **fields})
    assert await store.approvals.create(record) == "ok"
    return record


async def test_a_decision_is_mailed_to_whom_the_ask_named_only(store: Store, mail: MailCatcher) -> None:
    surface, background = surface_of(store, mail.smtp_url)
    told = await decided(store, notify=(f"email:{DAVE}",), proposal='send_email({"key": "sk_live_…(hidden)"})')
    surface.listener(ApprovalDecided(told))
    [got] = await mail.arrived(DAVE)
    assert got.subject.startswith("Approved: ") and "Approved by U0BOB on " in got.text and got.links == ()
    assert "sk_live_…(hidden)" in got.text and "<script" not in got.html  # the call as the opened mail shows it
    surface.listener(ApprovalDecided(await decided(store, "a1b2c3d4-0002")))  # an ask that named nobody
    surface.listener(ApprovalDecided(told))  # told twice (another worker's event too): mailed once
    await background.drain()
    assert await _not_due(store, told.id)
    assert len(mail.inbox(DAVE)) == 1 and mail.inbox("erin@example.com") == []  # an approver is not told so


async def test_a_decision_the_mail_server_did_not_take_is_sent_by_the_due_work(store: Store,
                                                                               mail: MailCatcher) -> None:
    mail.refusing = True
    surface, _ = surface_of(store, mail.smtp_url, retries=(0.2, 0.2))
    told = await decided(store, notify=(f"email:{DAVE}",), status="rejected", feedback="Not <b>now</b>")
    surface.listener(ApprovalDecided(told))
    await until(lambda: store.email_due.at(told.id), what="due again at its retry time")
    mail.refusing = False
    await until(lambda: _drained(store, surface, told.id), within=15, what="sent by the due work")
    [got] = mail.inbox(DAVE)
    assert got.subject.startswith("Rejected: ") and "Reason: Not <b>now</b>" in got.text
    assert "Not &lt;b&gt;now&lt;/b&gt;" in got.html  # escaped in the HTML part


async def _not_due(store: Store, approval_id: str) -> bool:
    return await store.email_due.at(approval_id) is None


async def _drained(store: Store, surface: Any, approval_id: str) -> bool:
    await surface.drain()
    return await _not_due(store, approval_id)


@pytest.fixture
def world_env(slack: SlackStandIn, mail: MailCatcher) -> dict[str, str]:
    return email_env(slack, mail)


@pytest.mark.slow  # a worker serving Slack, Teams and e-mail
async def test_a_slack_decision_is_mailed_to_the_people_the_ask_named(world: World, mail: MailCatcher) -> None:
    approval_id = await world.ask(notify=[f"email:{DAVE.upper()}"], tool={"name": "send_email", "arguments": {
        "to": "bob@example.com", "body": f"Use the key {SECRET} for the prices."}})
    record = await world.worker.services.store.approvals.get(approval_id)
    assert record is not None and record.notify == (f"email:{DAVE}",)
    await click(world.slack, await nth_card(world.slack, 1), "approval_approve", user=BOB)
    decision = await world.client.wait(approval_id)
    assert decision["status"] == "approved", decision
    [got] = await mail.arrived(DAVE, within=15)
    assert got.subject.startswith("Approved: ") and approval_id in got.text
    assert SECRET not in json.dumps([got.text, got.html, got.subject]) and SECRET[:12] not in got.text + got.html


@pytest.mark.slow  # a worker serving Slack, Teams and e-mail
async def test_a_timeout_is_mailed_to_the_people_the_ask_named(world: World, mail: MailCatcher) -> None:
    approval_id = await world.ask(notify=[f"email:{DAVE}"], timeout=1)
    decision = await world.client.wait(approval_id)
    assert decision["status"] == "timed_out", decision
    [got] = await mail.arrived(DAVE, within=15)
    assert got.subject.startswith("Timed out: ") and "Timed out on " in got.text and approval_id in got.text


@pytest.mark.slow  # a worker serving Slack, Teams and e-mail
async def test_the_python_client_asks_with_notify_and_the_decision_is_mailed(world: World, mail: MailCatcher) -> None:
    """The package's own client, as a program calls it: `notify` is an ask's option like `why` or `agent`."""
    async with ApprovalsClient(world.worker.url, world.client.key, title="client: notify") as client:
        asked = await client.request_tool("send_email", {"to": "bob@example.com", "body": "Prices go up."},
                                          notify=[f"email:{DAVE}"])
        await click(world.slack, await nth_card(world.slack, 1), "approval_approve", user=BOB)
        decision = await client.wait(asked.id)
    assert decision.approved, decision
    [got] = await mail.arrived(DAVE, within=15)
    assert got.subject.startswith("Approved: ") and asked.id in got.text

"""Change tickets against a real worker (its HTTP server, real Redis, the local Slack) and the ticket systems' local
stand-ins (tests/support/tickets.py): a channel's `ticket jira` or `ticket servicenow` opens one change per approval
as it opens, the card names it, and the decision closes it with who and when; the ticket system down delays no
decision, and the ticket is opened and closed once it is back, once."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import OTHER_TEAM
from bot.devslack.server import SlackStandIn
from bot.store import Store
from bot.store.tickets import TicketRecord
from tests.conftest import BOB, SALES, Worker, bot_env, start_worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.cluster import Cluster
from tests.support.hitl import click, current, decided, nth_card, reject, text_of, until
from tests.support.policies import StartPolicyWorker, refund
from tests.support.tenants import APPROVE, DAN, ERIN, OTHER_CHANNEL, card_in, key_of, several_worker, store_of
from tests.support.tenants import ask as ask_in
from tests.support.tickets import JiraStandIn, ServiceNowStandIn, serving

pytestmark = pytest.mark.slow  # a worker serving Slack and a ticket system's stand-in
FAST = {"TICKET_RETRIES": "1s,1s,2s", "TICKET_TIMEOUT": "2"}


@pytest.fixture
async def jira() -> AsyncIterator[JiraStandIn]:
    standin = JiraStandIn()
    async with serving(standin):
        yield standin


@pytest.fixture
async def servicenow() -> AsyncIterator[ServiceNowStandIn]:
    standin = ServiceNowStandIn()
    async with serving(standin):
        yield standin


async def ticketing(slack: SlackStandIn, redis_url: str, env: dict[str, str], *, system: str) -> tuple[Worker, Client]:
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, **FAST, **env))
    slack.events_url = worker.url + "/slack/events"
    await worker.services.store.settings.set(SALES, "ticket", system, by="operator")
    return worker, Client(worker, (await new_key(worker)).key)


def counted(worker: Worker, system: str, step: str, outcome: str) -> float:
    found = worker.services.metrics.registry.get_sample_value(
        "hitl_tickets_total", {"system": system, "step": step, "outcome": outcome})
    return found or 0.0


def _now(slack: SlackStandIn, card: dict[str, Any]) -> str:
    """The card's text as #approvals shows it now."""
    return text_of(current(slack, card))


async def out_of_due_work(worker: Worker, approval: str) -> bool:
    return await worker.services.store.tickets_due.at(approval) is None


async def closed_in(store: Store, approval: str) -> bool:
    ticket = await store.tickets.get(approval)
    return ticket is not None and ticket.state == "closed"


async def ask(client: Client) -> str:
    status, asked = await client.ask(tool_ask())
    assert status == 201 and asked["status"] == "pending", asked
    return str(asked["id"])


async def test_jira_gets_one_change_per_approval_named_on_its_card_and_closed_with_the_decision(
    slack: SlackStandIn, redis_url: str, jira: JiraStandIn
) -> None:
    worker, client = await ticketing(slack, redis_url, jira.env(), system="jira")
    try:
        first, second = await ask(client), await ask(client)
        await until(lambda: len(jira.issues) == 2, what="a change for each approval")
        by_label = {i["fields"]["labels"][0]: key for key, i in jira.issues.items()}
        assert set(by_label) == {f"approval-{first}", f"approval-{second}"}
        key = by_label[f"approval-{first}"]
        assert first in jira.text_of(key) and "send_email" in jira.issues[key]["fields"]["summary"]
        card = await nth_card(slack, 1)
        assert first in json.dumps(card)
        await until(lambda: key in _now(slack, card), what="the card naming its change")

        await click(slack, card, "approval_approve", user=BOB)
        await until(lambda: jira.issues[key]["status"] == "Done", what="the change closed")
        closing = jira.text_of(key)
        assert f"Decision: approved by {BOB}" in closing and "UTC" in closing
        assert len(jira.issues[key]["comments"]) == 1 and len(jira.issues) == 2
        other = by_label[f"approval-{second}"]
        assert jira.issues[other]["status"] == "To Do"  # still waiting for its decision
        await until(lambda: counted(worker, "jira", "open", "done") == 2 and counted(worker, "jira", "close", "done")
                    == 1, what="the opens and the close counted")
        ticket = await worker.services.store.tickets.get(first)
        assert ticket is not None and ticket.state == "closed" and ticket.key == key
    finally:
        await worker.stop()


async def test_servicenow_gets_one_change_request_closed_with_the_rejection(
    slack: SlackStandIn, redis_url: str, servicenow: ServiceNowStandIn
) -> None:
    worker, client = await ticketing(slack, redis_url, servicenow.env(oauth=True), system="servicenow")
    try:
        approval = await ask(client)
        [change] = await until(lambda: servicenow.by_correlation(approval), what="the change request")
        assert change["number"].startswith("CHG") and "send_email" in change["short_description"]
        card = await nth_card(slack, 1)
        await until(lambda: change["number"] in _now(slack, card), what="the card naming its change")
        await reject(slack, card, user=BOB, reason="not this week")
        await until(lambda: change["state"] == "4", what="the change canceled")
        assert change["close_code"] == "unsuccessful"
        assert f"Decision: rejected by {BOB}" in change["close_notes"] and "not this week" in change["close_notes"]
        assert len(servicenow.changes) == 1
    finally:
        await worker.stop()


REFUNDS_TICKETED = '''
@id("refunds-ticketed")
@outcome("ask")
@ticket("servicenow")
forbid (principal, action == Action::"refund", resource);
'''


async def test_a_policy_routes_its_asks_to_a_ticket_system_whatever_the_channel_says(
    slack: SlackStandIn, policy_worker: StartPolicyWorker, servicenow: ServiceNowStandIn
) -> None:
    worker = await policy_worker({"refunds.cedar": REFUNDS_TICKETED}, **FAST, **servicenow.env())
    client = Client(worker, (await new_key(worker)).key)  # (#sales' `ticket` is off)
    status, asked = await client.ask(refund(1000))
    assert status == 201 and asked["status"] == "pending", asked
    [change] = await until(lambda: servicenow.by_correlation(asked["id"]), what="the policy's change request")
    status, other = await client.ask(tool_ask())  # no policy asks about it: no ticket
    assert status == 201 and other["status"] == "pending", other
    card = await nth_card(slack, 1)
    await click(slack, card, "approval_approve", user=BOB)
    await until(lambda: change["state"] == "3", what="the change closed")
    assert change["close_code"] == "successful" and len(servicenow.changes) == 1
    assert await worker.services.store.tickets.get(other["id"]) is None


async def test_the_ticket_system_down_delays_no_decision_and_its_ticket_comes_once_back(
    slack: SlackStandIn, redis_url: str, jira: JiraStandIn
) -> None:
    jira.down()
    worker, client = await ticketing(slack, redis_url, jira.env(), system="jira")
    try:
        approval = await ask(client)
        card = await nth_card(slack, 1)  # the card, at once
        waiting = asyncio.create_task(client.wait(approval, wait=10))
        await asyncio.sleep(0)
        await click(slack, card, "approval_approve", user=BOB)
        answer = await asyncio.wait_for(waiting, 10)
        assert answer["status"] == "approved"  # decided while Jira answers nothing but 503
        await decided(slack, card)
        await until(lambda: counted(worker, "jira", "open", "retry") >= 1, what="the failure counted, due again")
        assert jira.issues == {}

        jira.up()
        await until(lambda: len(jira.issues) == 1 and next(iter(jira.issues.values()))["status"] == "Done",
                    within=20, what="the change opened and closed once Jira is back")
        [issue] = jira.issues.values()
        assert f"approval-{approval}" in issue["fields"]["labels"] and len(issue["comments"]) == 1
        await until(lambda: out_of_due_work(worker, approval), what="out of the due work")
        await until(lambda: issue["key"] in _now(slack, card), what="the decided card naming its change")
    finally:
        await worker.stop()


async def test_a_ticket_system_that_never_comes_back_is_given_up_audited_and_counted(
    slack: SlackStandIn, redis_url: str, jira: JiraStandIn
) -> None:
    jira.down()
    worker, client = await ticketing(slack, redis_url, jira.env(), system="jira")
    try:
        approval = await ask(client)
        await until(lambda: counted(worker, "jira", "open", "failed") == 1, within=20, what="the ticket given up")
        assert counted(worker, "jira", "open", "retry") == 3  # TICKET_RETRIES: three retries, then given up
        entries = [e for e in await worker.services.store.audit.entries() if e["event"] == "ticket_given_up"]
        assert [e["approval"] for e in entries] == [approval] and entries[0]["reason"] == "503"
        assert jira.issues == {} and await out_of_due_work(worker, approval)
    finally:
        await worker.stop()


async def test_a_worker_killed_between_opening_the_change_and_keeping_its_key_leaves_one_change(
    slack: SlackStandIn, cluster: Cluster, store: Store, jira: JiraStandIn
) -> None:
    await store.settings.set(SALES, "ticket", "jira", by="operator")
    made = await store.api_keys.create("nightly", [SALES], by="test")
    assert made is not None
    jira.hold_create()  # Jira makes the issue, and its answer waits: the worker is killed before it reads it
    first = await cluster.start(**FAST, **jira.env())
    slack.events_url = first.events
    approval = await ask(Client(first, made.key))
    await asyncio.wait_for(jira.creating.wait(), 15)
    first.kill()
    jira.release()
    assert len(jira.issues) == 1 and (await store.tickets.get(approval)) is not None

    second = await cluster.start(**FAST, **jira.env())
    slack.events_url = second.events
    [key] = jira.issues
    ticket = await until(lambda: _kept(store, approval), within=30, what="the orphan found and its key kept")
    assert ticket.key == key and len(jira.issues) == 1  # found by its label, not opened again
    card = await nth_card(slack, 1)
    await click(slack, card, "approval_approve", user=BOB)
    await until(lambda: jira.issues[key]["status"] == "Done", within=20, what="the change closed")
    assert len(jira.issues) == 1 and len(jira.issues[key]["comments"]) == 1
    assert [c for c in jira.calls if c == ("POST", "/rest/api/3/issue")] == [("POST", "/rest/api/3/issue")]


async def _kept(store: Store, approval: str) -> TicketRecord | None:
    found = await store.tickets.get(approval)
    return found if found is not None and found.state != "wanted" else None


async def test_another_workspaces_approval_gets_its_change_from_its_own_desk(
    slack: SlackStandIn, redis_url: str, tmp_path: Path, jira: JiraStandIn
) -> None:
    worker = await several_worker(slack, redis_url, tmp_path, **FAST, **jira.env())
    try:
        other = store_of(worker, OTHER_TEAM)
        await other.settings.set(OTHER_CHANNEL, "ticket", "jira", by="operator")
        approval = await ask_in(await key_of(worker, "other", OTHER_CHANNEL, WorkspaceRef(OTHER_TEAM)), ERIN)
        await until(lambda: len(jira.issues) == 1, what="the other workspace's change")
        [key] = jira.issues
        assert jira.issues[key]["fields"]["labels"] == [f"approval-{approval}"]
        card = await card_in(slack, OTHER_CHANNEL, approval)
        assert (await slack.click(user=DAN, channel=OTHER_CHANNEL, ts=card["ts"], action_id=APPROVE)).status == 200
        await until(lambda: jira.issues[key]["status"] == "Done", what="the change closed")
        await until(lambda: closed_in(other, approval), what="its ticket noted closed in its workspace's data")
        assert await worker.services.store.tickets.get(approval) is None  # the tenant's own data, not home's
    finally:
        await worker.stop()


async def test_a_worker_that_starts_opens_the_changes_no_worker_was_told_of(
    slack: SlackStandIn, redis_url: str, jira: JiraStandIn
) -> None:
    untold, client = await ticketing(slack, redis_url, {}, system="jira")  # no JIRA_URL: no desk heard it open
    try:
        approval = await ask(client)
        record = await untold.services.store.approvals.get(approval)
        assert record is not None and record.ticket_route == "jira"  # its route, kept as it opened
        assert await untold.services.store.tickets.get(approval) is None and jira.issues == {}
    finally:
        await untold.stop()
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, **FAST, **jira.env()))
    try:
        await until(lambda: len(jira.issues) == 1, what="the change opened at the start")
        [issue] = jira.issues.values()
        assert issue["fields"]["labels"] == [f"approval-{approval}"]
    finally:
        await worker.stop()

"""On-call schedules as approvers (issue 90), as a user runs it: a real worker (the Bolt app over signed HTTP), the
local Slack, redis-server and the local on-call provider (bot/devoncall/, a real HTTP server speaking PagerDuty's
REST API v2): an ask to `oncall:payments` reaches whoever is on call now; the schedule hands over between the ask and
the escalation, and the escalation goes to the new person; the provider down sends the approval to the fallback
approvers, said on the card, audited and counted, and never to nobody."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.devoncall.server import OnCallStandIn
from bot.devslack.server import SlackStandIn
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    CAROL,
    SALES,
    StartPolicyWorker,
    Worker,
    block_texts,
    card_of,
)
from tests.support.api import Client, new_key, tool_ask
from tests.support.flow import start_run
from tests.support.hitl import audit_events, finished, until
from tests.support.homes import approval_id_of, say
from tests.support.oncall import TOKEN, oncall_worker, payments_on_call

pytestmark = pytest.mark.slow  # a worker, the local Slack and an HTTP provider per test



@pytest.fixture
def oncall() -> Iterator[OnCallStandIn]:
    with payments_on_call("bob@example.com") as standin:
        yield standin


@pytest.fixture
async def worker(slack: SlackStandIn, redis_url: str, model_config: Path,
                 oncall: OnCallStandIn) -> AsyncIterator[Worker]:
    bot = await oncall_worker(slack, redis_url, oncall, model_config=model_config)
    await bot.services.store.redis.delete(bot.services.store.keys.oncall("payments"))
    yield bot
    await bot.stop()


async def pending_card(slack: SlackStandIn) -> dict[str, Any]:
    card: dict[str, Any] = await slack.wait_for(lambda: (c := card_of(slack, pending=True)) and c[-1], timeout=10)
    return card


def escalations(slack: SlackStandIn, card: dict[str, Any]) -> list[str]:
    return [m.get("text", "") for m in slack.messages(APPROVALS)
            if m.get("thread_ts") == card["ts"] and m["ts"] != card["ts"] and "Escalated" in m.get("text", "")]


async def answered(slack: SlackStandIn, user: str, card: dict[str, Any], needle: str) -> str:
    seen = len(slack.ephemerals(user))
    result = await slack.click(user=user, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    assert result.status == 200
    found: str = await slack.wait_for(
        lambda: next((e["text"] for e in slack.ephemerals(user)[seen:] if needle in e["text"]), None),
        description=f"an answer to {user} saying {needle!r}")
    return found


async def metrics(worker: Worker) -> str:
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/metrics") as response:
        return await response.text()


async def test_the_ask_reaches_who_is_on_call_and_the_escalation_who_is_on_call_then(
    slack: SlackStandIn, worker: Worker, oncall: OnCallStandIn
) -> None:
    store = worker.services.store
    await store.settings.set(SALES, "admins", ALICE, by="operator")
    assert "oncall:payments" in await say(slack, "config approvers oncall:payments")
    await say(slack, "config timeout never")
    assert "oncall:payments" in await say(slack, "config escalate_to oncall:payments")
    assert "now 2s" in await say(slack, "config escalate_after 2s")
    run_id = await start_run(slack)
    card = await pending_card(slack)
    approval_id = approval_id_of(card)
    approval = await store.approvals.get(approval_id)
    assert approval is not None and approval.approvers == (BOB,) and approval.oncall == ("payments",)
    assert f"Who may decide: <@{BOB}>" in block_texts(card)
    assert "could not be read" not in block_texts(card)
    await answered(slack, CAROL, card, f"Only <@{BOB}> may decide")  # not on call: refused
    oncall.hand_over("payments", ["carol@example.com"])  # the schedule changes hands before the escalation
    await until(lambda: _gone(worker), within=5, what="the kept answer's minute (1 s here) over")
    await worker.services.nudger.sweep(now=time.time() + 2)
    told = await slack.wait_for(lambda: escalations(slack, card), description="the escalation in the thread")
    assert f"<@{CAROL}>" in told[0]
    escalated = await store.approvals.get(approval_id)
    assert escalated is not None and CAROL in escalated.approvers and escalated.escalated_at
    (entry,) = await audit_events(worker, "escalated")
    assert CAROL in entry["to"].split(",")
    await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    assert (await finished(worker, run_id)).status == "completed"
    decision = (await audit_events(worker, "decision"))[-1]
    assert decision["by"] == CAROL
    assert 'hitl_oncall_lookups_total{outcome="ok",provider="pagerduty"}' in await metrics(worker)
    assert TOKEN not in str(await store.audit.entries())


async def _gone(worker: Worker) -> bool:
    return await worker.services.store.oncall.get("payments") is None


async def test_the_provider_down_sends_it_to_the_fallback_approvers_said_on_the_card(
    slack: SlackStandIn, worker: Worker, oncall: OnCallStandIn
) -> None:
    store = worker.services.store
    await store.settings.set(SALES, "admins", ALICE, by="operator")
    await say(slack, "config approvers oncall:payments")
    assert f"<@{CAROL}>" in await say(slack, "config oncall_fallback @carol")
    oncall.failing = "down"
    run_id = await start_run(slack)
    card = await pending_card(slack)
    approval = await store.approvals.get(approval_id_of(card))
    assert approval is not None and approval.approvers == (CAROL,)  # never nobody (`anyone`)
    assert approval.oncall_unread == ("payments",) and approval.oncall_fallback == (CAROL,)
    assert (f"On-call schedule payments could not be read: sent to the fallback approvers <@{CAROL}>"
            in block_texts(card))
    (unread,) = await audit_events(worker, "oncall_unread")
    assert unread["schedules"] == "payments" and unread["fallback"] == CAROL and unread["step"] == "ask"
    await answered(slack, BOB, card, f"Only <@{CAROL}> may decide")  # bob's turn is not known: not his
    await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    assert (await finished(worker, run_id)).status == "completed"
    assert 'hitl_oncall_lookups_total{outcome="unavailable",provider="pagerduty"} 1.0' in await metrics(worker)


async def test_the_provider_down_at_the_escalation_sends_it_to_the_fallback_approvers(
    slack: SlackStandIn, worker: Worker, oncall: OnCallStandIn
) -> None:
    store = worker.services.store
    await store.settings.set(SALES, "admins", ALICE, by="operator")
    await say(slack, "config approvers oncall:payments")
    await say(slack, "config escalate_to oncall:payments")
    await say(slack, "config escalate_after 2s")
    await say(slack, "config oncall_fallback @carol")
    await start_run(slack)
    card = await pending_card(slack)
    approval_id = approval_id_of(card)
    oncall.failing = "down"
    await until(lambda: _gone(worker), within=5, what="the kept answer's minute (1 s here) over")
    await worker.services.nudger.sweep(now=time.time() + 2)
    told = await slack.wait_for(lambda: escalations(slack, card), description="the escalation in the thread")
    assert f"<@{CAROL}>" in told[0]
    escalated = await store.approvals.get(approval_id)
    assert escalated is not None and set(escalated.approvers) == {BOB, CAROL}
    assert escalated.oncall_unread == ("payments",) and escalated.oncall_fallback == (CAROL,)
    (unread,) = await audit_events(worker, "oncall_unread")
    assert unread["step"] == "escalation" and unread["fallback"] == CAROL
    await slack.wait_for(lambda: "could not be read" in block_texts(
        next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"])), description="the card says so")


async def test_no_fallback_named_leaves_nobody_able_to_approve(
    slack: SlackStandIn, worker: Worker, oncall: OnCallStandIn
) -> None:
    store = worker.services.store
    await say(slack, "config approvers oncall:payments")
    oncall.failing = "malformed"
    await start_run(slack)
    card = await pending_card(slack)
    approval = await store.approvals.get(approval_id_of(card))
    assert approval is not None and approval.approvers == ("oncall:payments",)  # nobody decides as it
    assert "no fallback approvers are named" in block_texts(card)
    await answered(slack, BOB, card, "may decide")
    still = await store.approvals.get(approval.id)
    assert still is not None and still.pending


ON_CALL_POLICY = '''
@id("emails-ask-on-call")
@outcome("ask")
@approvers("oncall:payments")
forbid (principal, action == Action::"send_email", resource);
'''


async def test_a_policy_names_who_is_on_call(
    policy_worker: StartPolicyWorker, slack: SlackStandIn, oncall: OnCallStandIn
) -> None:
    worker = await policy_worker({"emails.cedar": ON_CALL_POLICY}, ONCALL_PROVIDER="opsgenie",
                                 ONCALL_URL=oncall.base_url, ONCALL_TOKEN=TOKEN)
    await worker.services.store.redis.delete(worker.services.store.keys.oncall("payments"))
    client = Client(worker, (await new_key(worker, "mailer")).key)
    status, asked = await client.ask(tool_ask())
    assert status == 201 and asked["status"] == "pending", asked
    approval = await worker.services.store.approvals.get(asked["id"])
    assert approval is not None and approval.approvers == (BOB,)
    card = await pending_card(slack)
    assert f"Who may decide: <@{BOB}>" in block_texts(card)
    assert any("/v2/schedules/payments/on-calls" in call for call in oncall.calls)

"""A route's `oncall:` step (issue 90, items 3 and 2 together), as a user runs it: a real worker (the Bolt app over
signed HTTP), the local Slack, redis-server and the local on-call provider (bot/devoncall/, PagerDuty's REST API v2).
The channel's approvers are Bob, its route `slack; oncall:payments after 1s`: after a second whoever is on call now
(Carol) is DMed the card and may decide it, once (a double click decides once); the requester on call is reached
but still may not decide her own ask (the decision's own rules hold). The provider down at that step: the route's
fallback approvers (the channel's `oncall_fallback`) get it and may decide, and the card says so; none named either:
the card says the step was unavailable, never nobody silently."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest

from bot.devoncall.server import OnCallStandIn
from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, APPROVALS, BOB, CAROL, Worker
from tests.support.hitl import audit_events, until
from tests.support.oncall import TOKEN, oncall_worker, payments_on_call
from tests.support.reach import dm_cards, route_asked, steps_kept

pytestmark = pytest.mark.slow  # a worker, the local Slack and an HTTP provider per test

ROUTE = "slack; oncall:payments after 1s"


@pytest.fixture
def oncall() -> Iterator[OnCallStandIn]:
    with payments_on_call("carol@example.com") as standin:
        yield standin


@pytest.fixture
async def worker(slack: SlackStandIn, redis_url: str, oncall: OnCallStandIn) -> AsyncIterator[Worker]:
    bot = await oncall_worker(slack, redis_url, oncall)
    yield bot
    await bot.stop()


async def step_said(worker: Worker, approval: str) -> dict[str, Any] | None:
    items = await steps_kept(worker, approval)
    return items[1] if len(items) == 2 else None


async def click(slack: SlackStandIn, person: str, card: dict[str, Any]) -> str:
    """`person` clicks Approve on their DM'd card: the answer they were told privately ("" for none)."""
    seen = len(slack.ephemerals(person))
    try:
        result = await slack.click(user=person, channel=slack.dm_channel(person), ts=str(card["ts"]),
                                   action_id="approval_approve")
    except ValueError as exc:  # the card redrawn decided already: no button left to click
        assert "has no button" in str(exc)
        return ""
    assert result.status == 200
    return " ".join(str(e.get("text", "")) for e in slack.ephemerals(person)[seen:])


async def decisions(worker: Worker, approval: str) -> list[dict[str, str]]:
    return [e for e in await audit_events(worker, "decision") if e.get("approval") == approval]


async def test_the_person_on_call_reached_by_the_step_decides_once(
    slack: SlackStandIn, worker: Worker, oncall: OnCallStandIn
) -> None:
    approval = await route_asked(worker, ROUTE)
    store = worker.services.store
    opened = await store.approvals.get(approval)
    assert opened is not None and opened.approvers == (BOB,)
    [card] = await until(lambda: dm_cards(slack, approval, CAROL), within=15, what="the on-call step's DM to Carol")
    record = await store.approvals.get(approval)
    assert record is not None and record.created_at + 1 <= float(card["ts"])  # at its step's time
    item = await until(lambda: step_said(worker, approval), within=10, what="the on-call step kept")
    assert (item["surface"], item["outcome"], item["people"]) == ("slack", "sent", [CAROL])
    record = await store.approvals.get(approval)
    assert record is not None and record.approvers == (BOB, CAROL)  # whom the step reached may decide
    await until(lambda: "(oncall:payments: on call now)" in str(slack.messages(APPROVALS)), within=10,
                what="the step said on the card")
    await asyncio.gather(click(slack, CAROL, card), click(slack, CAROL, card))  # a double click: decided once

    async def approved() -> bool:
        found = await store.approvals.get(approval)
        return found is not None and found.status == "approved"

    await until(approved, within=10, what="approved by Carol, on call")
    [decision] = await until(lambda: decisions(worker, approval), within=10, what="the decision audited")
    assert decision["by"] == CAROL
    final = await store.approvals.get(approval)
    assert final is not None and final.status == "approved" and len(await decisions(worker, approval)) == 1
    assert TOKEN not in str(await store.audit.entries())


async def test_the_requester_on_call_is_reached_but_may_not_decide_her_own_ask(
    slack: SlackStandIn, worker: Worker, oncall: OnCallStandIn
) -> None:
    oncall.hand_over("payments", ["alice@example.com"])
    approval = await route_asked(worker, ROUTE)
    store = worker.services.store
    record = await store.approvals.get(approval)
    assert record is not None and record.requester == ALICE
    item = await until(lambda: step_said(worker, approval), within=15, what="the on-call step kept")
    assert item["people"] == [ALICE]
    [card] = await until(lambda: dm_cards(slack, approval, ALICE), within=10, what="Alice's DM")
    told = await click(slack, ALICE, card)
    found = await store.approvals.get(approval)
    assert found is not None and found.status == "pending" and not await decisions(worker, approval), told


async def test_the_provider_down_at_the_step_reaches_the_fallback_approvers_said_on_the_card(
    slack: SlackStandIn, worker: Worker, oncall: OnCallStandIn
) -> None:
    oncall.failing = "down"
    approval = await route_asked(worker, ROUTE, oncall_fallback=CAROL)
    store = worker.services.store
    item = await until(lambda: step_said(worker, approval), within=15, what="the on-call step kept")
    assert (item["outcome"], item["people"], item.get("fallback")) == ("sent", [CAROL], True)
    [card] = await until(lambda: dm_cards(slack, approval, CAROL), within=10, what="the fallback's DM")
    said = "(oncall:payments: the on-call provider cannot say who is on call now; the fallback approvers)"
    await until(lambda: said in str(slack.messages(APPROVALS)), within=10, what="the fallback said on the card")
    [entry] = [e for e in await audit_events(worker, "reached") if e.get("approval") == approval and e["step"] == "2"]
    assert entry["fallback"] == "yes" and entry["people"] == CAROL
    await click(slack, CAROL, card)

    async def approved() -> bool:
        found = await store.approvals.get(approval)
        return found is not None and found.status == "approved"

    await until(approved, within=10, what="approved by the fallback approver")
    [decision] = await until(lambda: decisions(worker, approval), within=10, what="the decision audited")
    assert decision["by"] == CAROL


async def test_the_provider_down_and_no_fallback_named_is_said_unavailable_and_lets_nobody_in(
    slack: SlackStandIn, worker: Worker, oncall: OnCallStandIn
) -> None:
    oncall.failing = "down"
    approval = await route_asked(worker, ROUTE)
    item = await until(lambda: step_said(worker, approval), within=15, what="the on-call step kept")
    assert item["outcome"] == "unavailable" and not item["people"]
    assert "no fallback approvers are named" in item["why"]
    await until(lambda: "no fallback approvers are named" in str(slack.messages(APPROVALS)), within=10,
                what="said on the card")
    found = await worker.services.store.approvals.get(approval)
    assert found is not None and found.approvers == (BOB,) and found.pending

"""Service levels (#80): an approval within, at risk, then breached, as a user runs it.

Real parts: redis-server, the Bolt app over signed HTTP (a worker with every part: the nudger, the cards, the Homes,
`/metrics`), the Approvals API and Cedar policies; Slack is the stand-in, which checks every Block Kit payload as
Slack does. The clock is moved as the reminders' tests move it: the nudger swept at a time ahead (`sweep(now=)`), never
by waiting."""

from __future__ import annotations

import time
from typing import Any

import pytest

from bot.devslack.blockkit import validate_blocks
from bot.devslack.server import SlackStandIn
from bot.slack.blocks import HOME_PAGE_SIZE
from tests.conftest import ALICE, APPROVALS, BOB, CAROL, SALES, Worker, block_texts, name_admins
from tests.support.api import Client, new_key, tool_ask
from tests.support.flow import start_run
from tests.support.hitl import audit_events, click, finished, nth_card, until
from tests.support.homes import approval_id_of, home_blocks, open_homes, say
from tests.support.metrics_table import sample, scrape
from tests.support.policies import StartPolicyWorker, refund

FAST_REFUNDS = '''
@id("refunds-fast")
@outcome("ask")
@sla("5m")
@reason("refunds are answered within 5 minutes")
forbid (principal, action == Action::"refund", resource);
'''


def card_now(slack: SlackStandIn, ts: str) -> dict[str, Any]:
    return next(m for m in slack.messages(APPROVALS) if m["ts"] == ts)


async def card_saying(slack: SlackStandIn, ts: str, words: str) -> dict[str, Any]:
    """The card once it says `words` (redrawn by the nudger's step), its blocks valid as Slack checks them."""
    card: dict[str, Any] = await slack.wait_for(
        lambda: words in block_texts(card_now(slack, ts)) and card_now(slack, ts),
        description=f"the card saying {words!r}",
    )
    assert validate_blocks(card["blocks"]) is None
    return card


async def states(worker: Worker) -> dict[str, float]:
    metrics = await scrape(worker)
    return {state: sample(metrics, f'hitl_sla_approvals{{state="{state}"}}') for state in ("within", "at_risk",
                                                                                          "breached")}


async def test_an_approval_within_then_at_risk_then_breached_on_its_card_status_metrics_and_audit_once(
    slack: SlackStandIn, worker: Worker
) -> None:
    await name_admins(worker, ALICE)
    await say(slack, "config approvers @bob")
    await say(slack, "config timeout 1h")
    await say(slack, "config escalate_to @carol")
    said = await say(slack, "config escalate_at at_risk")  # the escalation starts when it is at risk
    assert "now at_risk" in said and "needs an `sla`" in said
    said = await say(slack, "config sla 10m")
    assert "now 10m" in said and "warning" not in said
    run_id = await start_run(slack)
    card = await nth_card(slack, 1)
    approval_id = approval_id_of(card)
    store, nudger = worker.services.store, worker.services.nudger
    approval = await store.approvals.get(approval_id)
    assert approval is not None and approval.sla_seconds == 600 and approval.escalate_after == 480
    assert "Service level 10m: within" in block_texts(card) and validate_blocks(card["blocks"]) is None
    assert await states(worker) == {"within": 1, "at_risk": 0, "breached": 0}
    assert "service level 10m: *within*" in await say(slack, "status")

    # 8 minutes on (80 %): at risk, and escalated to carol at once
    await nudger.sweep(now=approval.created_at + 481)
    await card_saying(slack, card["ts"], "At risk")
    at_risk = await audit_events(worker, "sla_at_risk")
    assert [(e["approval"], e["channel"], e["policy"], e["sla_seconds"], e["waited_seconds"]) for e in at_risk] == [
        (approval_id, SALES, "", "600", "481")]
    assert [e["to"] for e in await audit_events(worker, "escalated")] == [CAROL]
    assert await states(worker) == {"within": 0, "at_risk": 1, "breached": 0}
    assert "*at risk*" in await say(slack, "status")
    now = await store.approvals.get(approval_id)
    assert now is not None and CAROL in now.approvers and now.sla_state == "at_risk"

    # 10 minutes on: breached, audited once however many sweeps come after
    await nudger.sweep(now=approval.created_at + 601)
    breached_card = await card_saying(slack, card["ts"], "Service level breached")
    assert "At risk" not in block_texts(breached_card)
    await nudger.sweep(now=approval.created_at + 1200)
    breached = await audit_events(worker, "sla_breached")
    assert [(e["approval"], e["sla_seconds"], e["waited_seconds"]) for e in breached] == [(approval_id, "600", "601")]
    assert len(await audit_events(worker, "sla_at_risk")) == 1
    assert await states(worker) == {"within": 0, "at_risk": 0, "breached": 1}
    assert sample(await scrape(worker), "hitl_sla_breaches_total") == 1
    assert "*breached*" in await say(slack, "status")

    await click(slack, card, "approval_approve", user=CAROL)  # escalated: carol may decide
    assert (await finished(worker, run_id)).status == "completed"
    assert await states(worker) == {"within": 0, "at_risk": 0, "breached": 0}
    assert await nudger.sweep(now=approval.created_at + 3000) == 0
    assert len(await audit_events(worker, "sla_breached")) == 1


def home_order(slack: SlackStandIn, user: str) -> list[str]:
    """The approvals a person's Home lists, top to bottom (by their Approve buttons)."""
    return [str(e["value"]) for b in home_blocks(slack, user) if b.get("type") == "actions"
            for e in b.get("elements") or [] if e.get("action_id") == "approval_approve"]


async def test_a_policys_sla_is_a_floor_and_the_inbox_lists_the_breached_first(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker = await policy_worker({"refunds.cedar": FAST_REFUNDS})
    await say(slack, "config approvers @bob")
    await say(slack, "config timeout 2h")
    await say(slack, "config sla 1h")
    client = Client(worker, (await new_key(worker, "support-bot")).key)
    status, email = await client.ask(tool_ask())  # the older one: the channel's hour
    assert status in (200, 201) and email["status"] == "pending", email
    status, money = await client.ask(refund(1000))  # the newer one: the policy's 5 minutes
    assert status in (200, 201) and money["status"] == "pending", money
    store = worker.services.store
    older, newer = await store.approvals.get(email["id"]), await store.approvals.get(money["id"])
    assert older is not None and newer is not None
    assert (older.sla_seconds, newer.sla_seconds) == (3600, 300)  # the shorter wins
    await say(slack, "config sla 1m")  # a channel's later setting changes no approval already asked
    await open_homes(slack, BOB)
    await until(lambda: home_order(slack, BOB) == [older.id, newer.id], what="the Home, oldest first")
    refund_card = await nth_card(slack, 2)
    assert "Service level 5m: within" in block_texts(refund_card)

    await worker.services.nudger.sweep(now=newer.created_at + 301)
    await card_saying(slack, refund_card["ts"], "Service level breached")
    await until(lambda: home_order(slack, BOB) == [newer.id, older.id], what="the breached one first in the Home")
    assert "Service level breached" in block_texts({"blocks": home_blocks(slack, BOB)})
    (entry,) = await audit_events(worker, "sla_breached")
    assert (entry["approval"], entry["policy"], entry["sla_seconds"]) == (newer.id, "refunds-fast", "300")
    assert not await audit_events(worker, "sla_at_risk") or all(
        e["approval"] == newer.id for e in await audit_events(worker, "sla_at_risk"))
    assert time.time() - older.created_at < 0.8 * 3600  # the older one is still within


async def test_a_shorter_sla_brings_an_escalation_at_risk_sooner_so_only_an_admin_sets_it(
    slack: SlackStandIn, worker: Worker
) -> None:
    settings = worker.services.store.settings
    for key, value in (("approvers", BOB), ("escalate_to", CAROL), ("escalate_at", "at_risk"), ("sla", "3600")):
        await settings.set(SALES, key, value, by="operator")  # as an operator's ADMIN_USERS would
    reply = await say(slack, "config sla 5m", user=BOB)  # no admins named: anyone may change what narrows
    assert "widens who may decide" in reply and "Setting unchanged" in reply
    refused = (await audit_events(worker, "refused"))[-1]
    assert (refused["by"], refused["setting"], refused["reason"]) == (BOB, "sla", "needs an admin")
    assert "now 2h" in await say(slack, "config sla 2h", user=BOB)  # a longer one brings nothing sooner


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_the_homes_first_page_lists_a_breached_approval_first_across_the_whole_inbox(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker = await policy_worker({"refunds.cedar": FAST_REFUNDS})
    await say(slack, "config approvers @bob")
    await say(slack, "config timeout 2h")
    await say(slack, "config sla 1h")
    client = Client(worker, (await new_key(worker, "support-bot")).key)
    older = []
    for _ in range(HOME_PAGE_SIZE):  # a page of approvals asked before it, within their hour
        status, email = await client.ask(tool_ask())
        assert status in (200, 201) and email["status"] == "pending", email
        older.append(email["id"])
    status, money = await client.ask(refund(1000))  # the newest: the policy's 5 minutes, on the second page by time
    assert status in (200, 201) and money["status"] == "pending", money
    await open_homes(slack, BOB)
    await until(lambda: home_order(slack, BOB) == older, what="the first page, oldest first")
    newer = await worker.services.store.approvals.get(money["id"])
    assert newer is not None

    await worker.services.nudger.sweep(now=newer.created_at + 301)
    await until(lambda: home_order(slack, BOB) == [newer.id, *older[:-1]],
                what=f"the breached one first ({newer.id}, {older})")
    await click(slack, await nth_card(slack, HOME_PAGE_SIZE + 1), "approval_approve", user=BOB)
    await until(lambda: home_order(slack, BOB) == older, what="once decided, gone from the first page")

"""Trusting what the policies decide (#42), end to end (a real worker, Redis, the Slack stand-in): a policy that
cannot be evaluated asks a person, never allows; a policy in shadow (`@mode("shadow")`, or all of POLICY_DIR's under
POLICY_MODE=shadow) changes no decision, its verdict is audited (`policy_shadow`) and `/agent policy` shows it."""

from __future__ import annotations

import json
from typing import Any

from bot.devslack.blockkit import validate_blocks
from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, SALES, Worker, block_texts
from tests.support.api import Client, new_key
from tests.support.hitl import audit_events, nth_card, until
from tests.support.policies import StartPolicyWorker, refund

SMALL = '''@id("small-refunds")
permit (principal, action == Action::"refund", resource)
when { context.args.amount_cents < 100000 };
'''
NO_VIP_REFUNDS = '''
@id("no-vip-refunds")
forbid (principal, action == Action::"refund", resource)
when { context.args.customer.vip };
'''
NOT_ORDER_A1 = '''
@id("not-order-a1")
@mode("shadow")
@reason("order {args.order} is disputed")
forbid (principal, action == Action::"refund", resource)
when { context.args.order == "A-1" };
'''


async def test_a_policy_that_cannot_be_evaluated_asks_a_person_and_never_allows(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker = await policy_worker({"refunds.cedar": SMALL + NO_VIP_REFUNDS})
    client = Client(worker, (await new_key(worker, "support-bot")).key)
    _, vip = await client.ask(refund(500, tool={"name": "refund", "arguments": {
        "amount_cents": 500, "customer": {"vip": False}}}))
    assert vip["status"] == "approved", vip  # both policies could be evaluated: the permit allows
    _, asked = await client.ask(refund(500))  # no customer: the forbid cannot be evaluated
    assert asked["status"] == "pending", asked
    card = await nth_card(slack, 1)
    assert "could not be evaluated" in json.dumps(card["blocks"])
    stored = await worker.services.store.approvals.get(asked["id"])
    assert stored is not None and stored.status == "pending" and "no-vip-refunds" in stored.policy_reason
    _, no_amount = await client.ask({**refund(0), "tool": {"name": "refund", "arguments": {"order": "A-2"}}})
    assert no_amount["status"] == "pending", no_amount  # the permit cannot be evaluated: not allowed
    await nth_card(slack, 2)


async def test_a_shadow_policy_changes_nothing_and_agent_policy_shows_what_it_would_have(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker = await policy_worker({"refunds.cedar": SMALL + NOT_ORDER_A1})
    client = Client(worker, (await new_key(worker, "support-bot")).key)
    _, answer = await client.ask(refund(500))
    assert answer["status"] == "approved" and answer["decided_by"] == "policy", answer  # as without it
    entry = await shadow_of(worker, answer["id"])
    assert (entry["outcome"], entry["would"], entry["reason"]) == ("allow", "deny", "order A-1 is disputed")
    assert json.loads(entry["policy"]) == {"bundle": worker.services.approvals.policies.bundle.hash,
                                           "ids": ["not-order-a1"]}
    text = await policy_reply(slack)
    assert "mode *enforce*" in text and "• `not-order-a1` refuses · _shadow_ · refunds.cedar:5" in text
    assert "• `small-refunds` allows · refunds.cedar:1 · decided once" in text
    assert "1 ask: 1 refused at once." in text
    assert "approved at once; would have been refused at once by `not-order-a1`: order A-1 is disputed" in text


async def test_policy_mode_shadow_decides_nothing_and_audits_what_it_would_have(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker = await policy_worker({"refunds.cedar": SMALL}, POLICY_MODE="shadow")
    client = Client(worker, (await new_key(worker, "support-bot")).key)
    _, answer = await client.ask(refund(500))
    assert answer["status"] == "pending", answer  # a person decides, as without policies
    await nth_card(slack, 1)
    entry = await shadow_of(worker, answer["id"])
    assert (entry["outcome"], entry["would"]) == ("none", "allow")
    text = await policy_reply(slack)
    assert "mode *shadow*" in text and "POLICY_MODE is shadow" in text
    assert "• `small-refunds` allows · _shadow_ · refunds.cedar:1 · decided 0 times" in text
    assert "left to the rules, the mode and people; would have been approved at once by `small-refunds`" in text


async def shadow_of(worker: Worker, approval: str) -> dict[str, str]:
    async def found() -> dict[str, str] | None:
        entries = [e for e in await audit_events(worker, "policy_shadow") if e["approval"] == approval]
        return entries[0] if entries else None

    entry: dict[str, str] = await until(found, what="the policy_shadow entry")
    return entry


async def policy_reply(slack: SlackStandIn) -> str:
    """`/agent policy` as anyone in #sales sees it: an ephemeral reply, valid Block Kit."""
    result = await slack.send_command(user=ALICE, channel=SALES, text="policy")
    assert result.status == 200 and isinstance(result.json, dict), result
    body: dict[str, Any] = result.json
    assert body.get("response_type", "ephemeral") == "ephemeral"
    assert validate_blocks(body["blocks"]) is None
    return block_texts(body)

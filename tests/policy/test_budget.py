"""The refund budget of the issue, end to end through the Approvals API (a real worker, Redis, the Slack stand-in):
refunds up to $500 per agent in 24 h are allowed at once; beyond, two approvers from finance decide on a card that
says why; a rejected or withdrawn refund gives its amount back; 30 concurrent asks never overspend the budget."""

from __future__ import annotations

import asyncio
import json

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB
from tests.support.api import Client, new_key
from tests.support.hitl import audit_events, click, nth_card, reject
from tests.support.policies import REFUND_WINDOWS, REFUNDS, StartPolicyWorker, refund


async def test_refunds_within_budget_are_allowed_and_beyond_it_finance_decides_with_the_reason_on_the_card(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker = await policy_worker({"refunds.cedar": REFUNDS, "policy.yaml": REFUND_WINDOWS})
    client = Client(worker, (await new_key(worker, "support-bot")).key)
    status, first = await client.ask(refund(35000))
    assert status in (200, 201) and first["status"] == "approved" and first["decided_by"] == "policy", first
    stored = await worker.services.store.approvals.get(first["id"])
    assert stored is not None and json.loads(stored.policy)["ids"] == ["refunds-within-budget"]
    assert json.loads(stored.policy)["bundle"] == worker.services.approvals.policies.bundle.hash
    status, second = await client.ask(refund(20000))
    assert second["status"] == "pending", second
    card = await nth_card(slack, 1)
    text = json.dumps(card["blocks"])
    assert "refunds-over-budget" in text and "would exceed $500 in 24 h (spent $350)" in text, text
    pending = await worker.services.store.approvals.get(second["id"])
    assert pending is not None and pending.approvers == ("S0FINANCE",) and pending.required_approvals == 2
    # another agent has its own budget
    other = Client(worker, (await new_key(worker, "billing-bot")).key)
    status, theirs = await other.ask(refund(40000))
    assert theirs["status"] == "approved", theirs


async def test_a_rejected_refund_gives_its_amount_back(policy_worker: StartPolicyWorker, slack: SlackStandIn) -> None:
    worker = await policy_worker({"refunds.cedar": REFUNDS, "policy.yaml": REFUND_WINDOWS})
    client = Client(worker, (await new_key(worker, "support-bot")).key)
    _, first = await client.ask(refund(45000))
    assert first["status"] == "approved"
    _, asked = await client.ask(refund(10000))
    assert asked["status"] == "pending"
    status, _, _ = await client.call("DELETE", f"/api/v1/approvals/{asked['id']}")
    assert status in (200, 202, 204), status
    _, third = await client.ask(refund(5000))
    assert third["status"] == "approved", third  # 450 + 50: the withdrawn 100 no longer counts


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_thirty_concurrent_asks_never_overspend_the_budget(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker = await policy_worker({"refunds.cedar": REFUNDS, "policy.yaml": REFUND_WINDOWS})
    client = Client(worker, (await new_key(worker, "support-bot", per_minute=1000)).key)
    answers = await asyncio.gather(*(client.ask(refund(4000 + i)) for i in range(30)))
    allowed = [answer for status, answer in answers if answer.get("status") == "approved"]
    pending = [answer for status, answer in answers if answer.get("status") == "pending"]
    assert len(allowed) + len(pending) == 30, answers
    amounts = []
    for answer in allowed:
        record = await worker.services.store.approvals.get(answer["id"])
        assert record is not None
        amounts.append(json.loads(record.arguments)["amount_cents"])
    assert sum(amounts) <= 50000, amounts
    assert len(allowed) >= 11, len(allowed)  # the budget is used, not refused wholesale (12 x ~$40 fit)
    store = worker.services.store
    window = sorted(await store.redis.keys(f"{store.keys.prefix}:window:*"))
    assert window[1:] == [window[0] + ":sums"]  # one agent, one action: one window (and its sums)
    held = await store.redis.zrange(window[0], 0, -1)
    assert sorted(int(member.split()[1]) for member in held) == sorted(4000 + i for i in range(30))
    buckets = await store.redis.hgetall(window[1])  # its per-minute, hour and day sums: what it holds, each
    for level in "mhd":
        assert sum(int(v) for k, v in buckets.items() if k.startswith(level)) == sum(4000 + i for i in range(30))


async def test_finance_approving_over_the_budget_keeps_the_amount_spent(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker = await policy_worker({"refunds.cedar": REFUNDS.replace('@quorum("2")', '@quorum("1")').replace(
        '@approvers("S0FINANCE")', f'@approvers("{BOB}")'), "policy.yaml": REFUND_WINDOWS})
    client = Client(worker, (await new_key(worker, "support-bot")).key)
    _, first = await client.ask(refund(60000))
    assert first["status"] == "pending"
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    answer = await client.wait(first["id"])
    assert answer["status"] == "approved"
    _, second = await client.ask(refund(100))
    assert second["status"] == "pending", second  # $600 spent: even $1 more asks
    card = await nth_card(slack, 2)
    assert "spent $600" in json.dumps(card["blocks"])


DEPLOYS = '''
@id("three-deploys-an-hour")
permit (principal, action == Action::"deploy", resource) when { context.window.deploys_1h < 3 };

@id("more-deploys-ask")
@outcome("ask")
@reason("{window.deploys_1h} deploys in the last hour")
forbid (principal, action == Action::"deploy", resource) when { context.window.deploys_1h >= 3 };
'''


async def test_a_count_window_allows_so_many_calls_and_a_refused_one_does_not_count(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    worker = await policy_worker({"deploys.cedar": DEPLOYS, "policy.yaml": "windows:\n  deploys_1h: {count: true,"
                                  " per: [principal], over: 1h, actions: [deploy]}\n"})
    client = Client(worker, (await new_key(worker, "ci-bot")).key)

    def deploy(n: int) -> dict[str, object]:
        return {"kind": "tool", "title": "Deploy", "tool": {"name": "deploy", "arguments": {"build": n}}}

    answers = [(await client.ask(deploy(n)))[1] for n in range(4)]
    assert [a["status"] for a in answers] == ["approved", "approved", "approved", "pending"], answers
    assert "3 deploys in the last hour" in json.dumps((await nth_card(slack, 1))["blocks"])
    await reject(slack, await nth_card(slack, 1), user=BOB, reason="not now")
    _, fifth = await client.ask(deploy(5))  # the rejected 4th no longer counts: 3, not 4
    assert fifth["status"] == "pending", fifth
    assert "3 deploys in the last hour" in json.dumps((await nth_card(slack, 2))["blocks"])


async def test_a_budget_counts_the_calls_a_programs_allow_list_let_through(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    """#64: `POST /api/v1/audit/allowed` once asked the policies beside the decision chain, so its calls were never
    counted: a $500 budget let $1,250 through (eight allow-listed $100 refunds, then a $450 ask approved at once).
    It walks the same chain now, to a "record as allowed" end that counts the call in the windows it was judged by:
    the sixth $100 is over the budget (a person decides: 409 `ask_a_person`, nothing recorded), and so is the $450."""
    worker = await policy_worker({"refunds.cedar": REFUNDS, "policy.yaml": REFUND_WINDOWS})
    client = Client(worker, (await new_key(worker, "support-bot", per_minute=1000)).key)
    answers = []
    for n in range(8):
        body = {"tool": {"name": "refund", "arguments": {"order": f"A-{n}", "amount_cents": 10000}},
                "allowed_by": "--allow refund"}
        status, answer, _ = await client.call("POST", "/api/v1/audit/allowed", body=body)
        answers.append((status, answer.get("status") or answer["error"]["code"]))
    assert answers == [(201, "allowed")] * 5 + [(409, "ask_a_person")] * 3, answers
    recorded = await audit_events(worker, "allowed")
    assert len(recorded) == 5 and all("refunds-within-budget" in e["policy"] for e in recorded), recorded
    _, asked = await client.ask(refund(45000))
    assert asked["status"] == "pending", asked  # over the budget: finance decides, on a card
    text = json.dumps((await nth_card(slack, 1))["blocks"])
    assert "would exceed $500 in 24 h (spent $500)" in text, text

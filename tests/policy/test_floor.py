"""A policy is a floor no channel setting lowers (#63): a plain member cannot claim a channel's admins (only
ADMIN_USERS or an existing admin names them), and even with the channel's settings lowered by a real admin
(`step_up never`, `allow_self_approval true`, `required_approvals 1`), a finance approver who asked cannot approve
their own refund that a policy routes to finance with @step_up, and the others' Approve still needs a passkey.
Real Cedar policies (POLICY_DIR), real Redis, the real Bolt app over signed HTTP, the Slack stand-in."""

from __future__ import annotations

import time
from pathlib import Path

from agent_approvals.approver import ApprovalRequest

from bot.approvals.deciders.policies import routed, step_up_of
from bot.approvals.opening import new_approval
from bot.core.records import ChannelSettings, RunRecord
from bot.devslack.server import SlackStandIn
from bot.policy.decide import PolicyVerdict
from tests.conftest import ALICE, BOB, CAROL, SALES, block_texts
from tests.support.api import Client, new_key
from tests.support.hitl import audit_events, nth_card
from tests.support.homes import say
from tests.support.policies import refund, write_bundle
from tests.support.signing import signing_worker
from tests.support.stepup import ORIGIN, approve

FINANCE_POLICY = """
@id("big-refunds-to-finance")
@outcome("ask")
@step_up
@approvers("S0FINANCE")
@reason("a refund of {args.amount_cents|usd} needs finance and a passkey")
forbid (principal, action == Action::"refund", resource)
when { context.args.amount_cents > 500000 };
"""


async def test_a_member_cannot_lower_a_policys_floor_nor_claim_admin(
        slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    folder = write_bundle(tmp_path / "policies", {"refunds.cedar": FINANCE_POLICY})
    worker = await signing_worker(slack, redis_url, tmp_path / "keys.json", STEP_UP_URL=ORIGIN, ADMIN_USERS=CAROL,
                                  POLICY_DIR=str(folder))
    try:
        store = worker.services.store
        client = Client(worker, (await new_key(worker)).key)
        status, before = await client.ask(refund(900_000, requester=BOB))  # asked under the channel's defaults
        assert status == 201, before

        # a plain member of a channel with no admins cannot make themselves its admin, nor lower anything
        claimed = await say(slack, "config admins @alice", user=ALICE)
        assert "may name this channel's admins" in claimed and "ADMIN_USERS" in claimed, claimed
        assert f"<@{CAROL}>" in claimed and "/agent config admins @you" not in claimed, claimed
        for lowering in ("step_up never", "allow_self_approval true"):
            assert "only an admin" in await say(slack, f"config {lowering}", user=ALICE)
        read = await store.settings.get(SALES, default_timeout=600)
        assert (read.admins, read.step_up, read.allow_self_approval) == ((), "high-risk", False)
        refused = [(e["by"], e["setting"], e["reason"]) for e in await audit_events(worker, "refused")]
        assert refused[0] == (ALICE, "admins", "names admins: not an admin"), refused

        # a real admin lowers every channel setting there is
        for lowering in ("step_up never", "allow_self_approval true", "required_approvals 1"):
            assert "is now" in await say(slack, f"config {lowering}", user=CAROL)
        status, after = await client.ask(refund(900_000, requester=BOB))  # asked under the lowered settings
        assert status == 201, after
        record = await store.approvals.get(after["id"])
        assert record is not None and record.step_up == "policy" and not record.allow_self_approval
        assert record.approvers == ("S0FINANCE",) and record.required_approvals == 1

        # at decide time: the finance approver who asked cannot approve it; the other one needs their passkey
        for n, asked in ((1, before), (2, after)):
            card = await nth_card(slack, n)
            assert "big-refunds-to-finance" in block_texts(card)
            told = await approve(slack, BOB, card)
            assert "You asked for this, so you cannot decide it" in told, told
            assert "needs your passkey" in await approve(slack, CAROL, card)
            pending = await store.approvals.get(str(asked["id"]))
            assert pending is not None and pending.status == "pending"
        selves = [e for e in await audit_events(worker, "refused") if e.get("reason") == "self"]
        assert {(e["by"], e["approval"]) for e in selves} == {(BOB, before["id"]), (BOB, after["id"])}
        assert not await audit_events(worker, "decision")

        # an existing admin names others; a named admin may too
        assert f"now <@{ALICE}>" in await say(slack, "config admins @alice", user=CAROL)
        assert "is now" in await say(slack, "config admins @alice @bob", user=ALICE)
    finally:
        await worker.stop()


async def test_nobody_claims_the_first_admin_without_admin_users(slack: SlackStandIn, redis_url: str,
                                                                tmp_path: Path) -> None:
    worker = await signing_worker(slack, redis_url, tmp_path / "keys.json")
    try:
        said = await say(slack, "config admins @bob", user=ALICE)
        assert said.startswith("Nobody may name this channel's admins yet") and "ADMIN_USERS is not set" in said
        assert (await worker.services.store.settings.get(SALES, default_timeout=600)).admins == ()
        refused = [(e["by"], e["setting"], e["value"]) for e in await audit_events(worker, "refused")]
        assert refused == [(ALICE, "admins", BOB)]
    finally:
        await worker.stop()


def test_the_policys_quorum_step_up_and_requester_rule_are_a_floor() -> None:
    """The routing itself (pure): the larger quorum, the policy's step-up, never the requester, only its approvers
    (no escalation), and a person's decision (no approving timeout)."""
    request = ApprovalRequest(approval_id="a1", kind="tool_call", proposal="", author="agent",
                              tool_name="refund", arguments="{}")
    lowered = ChannelSettings(timeout=600, required_approvals=3, allow_self_approval=True, step_up="never",
                              timeout_outcome="approve", timeout_approves_tools=True, escalate_to=(CAROL,),
                              escalate_after=60)
    run = RunRecord(id="r1", requester=BOB, channel=SALES, task="refund", created_at=time.time())
    approval = new_approval(request, run=run, owner="w", settings=lowered, default_channel="C0APPROVALS")
    ruling = PolicyVerdict(outcome="ask", ids=("p",), reason="finance", approvers=("S0FINANCE",), quorum=2,
                           step_up=True)
    assert (approval.timeout_outcome, approval.escalate_to) == ("approve", (CAROL,))  # the channel's, unrouted
    floor = routed(approval, ruling, floor=True)
    assert (floor.required_approvals, floor.allow_self_approval, floor.approvers) == (3, 0, ("S0FINANCE",))
    assert (floor.timeout_outcome, floor.escalate_after, floor.escalate_to) == ("reject", 0, ())  # nobody else
    assert step_up_of(ruling, lowered) == "policy"

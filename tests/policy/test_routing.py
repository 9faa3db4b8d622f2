"""Where a policy's ask goes, and what people are told (#51.8, #51.9): a user group that Slack does not know is
found when the bundle loads (`policy check` with Slack, a worker's `policy_warning`) and a click on its card gets
a clear answer, never a 500; a policy that cannot be evaluated routes its card to its own approvers and quorum (the
channel's admins when it names none), not to the channel's approvers. Real worker, Redis, signed Slack payloads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, APPROVALS, BOB, BOT_TOKEN, CAROL, SALES
from tests.support.api import Client, new_key
from tests.support.hitl import audit_events, nth_card, until
from tests.support.homes import approval_id_of, home_text, open_homes
from tests.support.policies import (
    REFUND_WINDOWS,
    REFUNDS,
    StartPolicyWorker,
    policy_cli,
    quick_reloads,
    refund,
    write_bundle,
)

TYPO = '''
@id("refunds-to-finance")
@outcome("ask")
@approvers("S0FINANSE")
@reason("refunds go to finance")
forbid (principal, action == Action::"refund", resource);
'''


async def test_a_user_group_slack_does_not_know_is_found_at_load_and_a_click_is_told(
    policy_worker: StartPolicyWorker, slack: SlackStandIn, tmp_path: Path
) -> None:
    folder = write_bundle(tmp_path / "typo", {"refunds.cedar": TYPO})
    checked = await policy_cli("check", "--dir", str(folder), SLACK_BOT_TOKEN=BOT_TOKEN, SLACK_API_URL=slack.api_url)
    assert checked.returncode == 1, (checked.stdout, checked.stderr)
    assert ("error: @approvers names user group S0FINANSE, which Slack does not know (policy refunds-to-finance)"
            in checked.stderr), checked.stderr
    unchecked = await policy_cli("check", "--dir", str(folder))
    assert unchecked.returncode == 0 and "user groups not checked with Slack (set SLACK_BOT_TOKEN" in (
        unchecked.stdout)

    worker = await policy_worker({"refunds.cedar": TYPO})
    warned = await until(lambda: audit_events(worker, "policy_warning"), what="the worker's policy warning")
    assert "user group S0FINANSE, which Slack does not know (policy refunds-to-finance)" in warned[0]["warning"]
    assert "S0FINANSE" in worker.services.approvals.policies.warning
    _, asked = await Client(worker, (await new_key(worker, "support-bot")).key).ask(refund(500))
    assert asked["status"] == "pending", asked
    card = await nth_card(slack, 1)
    clicked = await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    assert clicked.status == 200  # once a 500 (no_such_subteam), and the approval could not be decided
    told = await slack.wait_for(lambda: [e["text"] for e in slack.ephemerals(BOB)])
    assert "Slack knows no user group S0FINANSE: ask an admin to fix the approvers" in told[0], told
    approval = await worker.services.store.approvals.get(approval_id_of(card))
    assert approval is not None and approval.pending


ADMIN = ALICE
BROKEN = '''
@id("finance-typo")
@outcome("ask")
@approvers("U0CAROL")
@quorum("1")
@reason("big refunds go to finance")
forbid (principal, action == Action::"refund", resource)
when { context.args.amount_cents > "10000" };
'''


async def test_a_policy_that_cannot_be_evaluated_routes_to_its_own_approvers_or_the_admins(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    """#51.9: a finance policy with a type error once put its card before the channel's approvers (anyone)."""
    worker = await policy_worker({"refunds.cedar": BROKEN})
    client = Client(worker, (await new_key(worker, "support-bot")).key)
    _, asked = await client.ask(refund(500))
    assert asked["status"] == "pending", asked
    pending = await worker.services.store.approvals.get(asked["id"])
    assert pending is not None and pending.approvers == (CAROL,), pending
    assert "a policy could not be evaluated, so a person decides" in pending.policy_reason
    card = await nth_card(slack, 1)
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    assert "Only <@U0CAROL> may decide" in (await slack.wait_for(lambda: [e["text"] for e in slack.ephemerals(BOB)]))[0]

    # naming no approvers, it goes to the channel's named admins
    await worker.services.store.settings.set(SALES, "admins", ADMIN, by=ADMIN)
    no_one = await policy_worker({"refunds.cedar": BROKEN.replace('@approvers("U0CAROL")\n', "")})
    _, second = await Client(no_one, (await new_key(no_one, "support-bot-2")).key).ask(refund(600))
    routed = await no_one.services.store.approvals.get(second["id"])
    assert routed is not None and routed.approvers == (ADMIN,), routed


@pytest.mark.slow
async def test_what_people_are_shown_of_a_routed_quorum(policy_worker: StartPolicyWorker, slack: SlackStandIn) -> None:
    """#51.10 and #51.15: the API's answer names the policies and the bundle that routed an approval, and every
    person whose vote counted; the decision's audit entry names them too; the App Home entry shows the policy's
    reason and who may decide, as the card does; a vote that did not decide shows in the voter's "Recently decided";
    the rule form of a routed card says what the rule will not do."""
    worker = await policy_worker({"refunds.cedar": REFUNDS, "policy.yaml": REFUND_WINDOWS})
    client = Client(worker, (await new_key(worker, "support-bot")).key)
    assert (await client.ask(refund(35000)))[1]["status"] == "approved"
    _, asked = await client.ask(refund(20000))
    routed = await client.wait(asked["id"], wait=0)
    assert routed["policy"]["ids"] == ["refunds-over-budget"], routed
    assert routed["policy"]["bundle"] == worker.services.approvals.policies.bundle.hash
    assert "would exceed $500 in 24 h (spent $350)" in routed["policy"]["reason"]

    await open_homes(slack, BOB)
    await slack.wait_for(lambda: "Policy refunds-over-budget" in home_text(slack, BOB))
    shown = home_text(slack, BOB)
    assert "would exceed $500 in 24 h" in shown and "Who may decide: <!subteam^S0FINANCE>" in shown, shown

    card = await nth_card(slack, 1)
    await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approve_always")
    modal = await slack.wait_for(lambda: slack.open_views(CAROL) and slack.open_views(CAROL)[-1])
    assert "A policy routed this call" in json.dumps(modal["view"]), modal
    await slack.close_view(user=CAROL, view_id=modal["id"])

    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")  # 1 of 2
    await slack.wait_for(lambda: "your approval counted, *1 of 2 approvals*" in home_text(slack, BOB))
    await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    decided = await client.wait(asked["id"])
    assert decided["status"] == "approved" and decided["approved_by"] == [BOB, CAROL], decided
    assert decided["decided_by"] == CAROL and decided["policy"]["ids"] == ["refunds-over-budget"]
    entry = [e for e in await audit_events(worker, "decision") if e.get("voters")]
    assert len(entry) == 1 and entry[0]["voters"] == f"{BOB},{CAROL}", entry


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_agent_policy_says_when_the_folder_does_not_load(
    policy_worker: StartPolicyWorker, slack: SlackStandIn
) -> None:
    """#51.10: the last good bundle stays in force, and `/agent policy` says so: since when, and the error."""
    worker = await policy_worker({"refunds.cedar": REFUNDS, "policy.yaml": REFUND_WINDOWS})
    engine = quick_reloads(worker.services.approvals.policies)
    (Path(engine.bundle.directory) / "refunds.cedar").write_text(REFUNDS + "\nforbid (principal, action, resource")
    await until(lambda: engine.failed, within=15, what="the broken folder noticed")
    result = await slack.send_command(user=ALICE, channel=SALES, text="policy")
    said = json.dumps(result.json)
    assert "The files in the folder do not load" in said and "the last good bundle above stays in force" in said
    assert "refunds.cedar" in said and engine.bundle.hash[:12] in said

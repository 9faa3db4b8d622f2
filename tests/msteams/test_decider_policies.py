"""Policies about who decides, as a user runs them (issue 81: "policies (`principal` carries the surface) apply
unchanged"): a real worker serving Slack and Teams with the policy page's example in its POLICY_DIR (a refund over
$10,000 is approved in Slack), a program asking through the Approvals API. A Teams approver's Approve of a big refund
is refused (the card back with the policy's words and their Reject, the audit naming them, the surface and the
policy), the same person's Approve in Slack counts, a Teams Reject still counts, a small refund's Teams Approve counts;
a policy refusing a Slack click says so ephemerally, in words that stay inert; a policy that cannot be evaluated
refuses an Approve (Cedar's error said and audited), never a Reject; a shadow one refuses nothing and audits what it
would have refused; one added while an approval waits applies to its next vote, the votes counted before stay."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.conftest import BOB, SALES
from tests.support.hitl import audit_events, click, nth_card, until
from tests.support.policies import BIG_REFUNDS_IN_SLACK, quick_reloads
from tests.support.teams import APPROVE, World, shown_notice, verbs

POLICY = "big-refunds-decided-in-slack"
WORDS = f"Policy {POLICY}: a refund over $10,000 is approved in Slack, where step-up and attestations are"
UNDER_REVIEW = '''
@id("orders-under-review")
@reason("order {args.order} is under review: nobody approves its refund")
forbid (principal is Person, action == Action::"refund", resource)
when { context.vote == "approve" && context.args.order like "REVIEW-*" };

@id("trial-no-teams-refunds")
@mode("shadow")
@reason("on trial: refunds approved in Slack only")
forbid (principal is Person, action == Action::"refund", resource)
when { principal.surface == "teams" && context.args.order like "TRIAL-*" };
'''


EMAIL_IN_SLACK = '''
@id("emails-approved-in-slack")
@reason("email is approved in Slack")
forbid (principal is Person, action == Action::"send_email", resource)
when { principal.surface == "teams" && context.vote == "approve" };
'''


@pytest.fixture
def world_policies() -> dict[str, str]:
    return {"deciders.cedar": BIG_REFUNDS_IN_SLACK + UNDER_REVIEW}


async def refund(world: World, cents: int, order: str = "A-1") -> str:
    return await world.ask(title=f"Refund order {order}",
                           tool={"name": "refund", "arguments": {"order": order, "amount_cents": cents}})


async def refusals(world: World, approval: str) -> list[dict[str, str]]:
    return [e for e in await audit_events(world.worker, "refused") if e.get("approval") == approval]


async def status_of(world: World, approval: str) -> tuple[str, list[str]]:
    got = await world.worker.services.store.approvals.get(approval)
    assert got is not None
    return got.status, got.voters


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_big_refund_approved_in_teams_is_refused_and_counts_from_slack(world: World) -> None:
    approval = await refund(world, 2_000_000)
    activity = await world.teams_card(approval)
    for who, person in ((world.dana, world.dana_person), (world.bob, BOB)):  # Teams only, and Bob (Slack too)
        body = await world.execute(activity, who, APPROVE, approval)
        assert shown_notice(body["value"]) == f"{WORDS}. Nothing changed."
        assert "reject" in verbs(body["value"])  # their Reject stays
        assert await status_of(world, approval) == ("pending", [])
        [entry] = [e for e in await refusals(world, approval) if e["by"] == person]
        assert (entry["action"], entry["surface"], entry["policies"], entry["vote"]) == (
            "vote", "teams", POLICY, "approve")
        assert entry["reason"] == WORDS and POLICY in entry["policy"]
    await click(world.slack, await nth_card(world.slack, 1), "approval_approve", user=BOB)  # Bob, in Slack
    assert await status_of(world, approval) == ("approved", [])
    decision = [e for e in await audit_events(world.worker, "decision") if e.get("approval") == approval]
    assert decision[-1]["by"] == BOB and decision[-1]["surface"] == "slack"  # every person's decision names it


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_teams_reject_of_a_big_refund_and_a_small_refunds_teams_approve_count(world: World) -> None:
    big = await refund(world, 2_000_000)
    activity = await world.teams_card(big)
    await world.execute(activity, world.dana, "reject", big, reason="not this quarter")
    assert (await status_of(world, big))[0] == "rejected"
    small = await refund(world, 1_000_000)  # $10,000 exactly: not over
    activity = await world.teams_card(small)
    body = await world.execute(activity, world.dana, APPROVE, small)
    assert shown_notice(body["value"]) == ""
    assert (await status_of(world, small))[0] == "approved"
    assert await refusals(world, big) == await refusals(world, small) == []


async def test_a_policy_refusing_a_slack_click_says_so_ephemerally(world: World) -> None:
    approval = await refund(world, 5000, order="REVIEW-<!channel>")
    before = len(world.slack.ephemerals(BOB))
    await click(world.slack, await nth_card(world.slack, 1), "approval_approve", user=BOB)

    def told() -> list[dict[str, Any]]:
        return world.slack.ephemerals(BOB)[before:]

    [said] = await world.slack.wait_for(told, description="Bob's answer")
    assert said["text"] == ("Policy orders-under-review: order REVIEW-&lt;!channel&gt; is under review: nobody"
                            " approves its refund. Nothing changed.")
    assert await status_of(world, approval) == ("pending", [])
    [entry] = await refusals(world, approval)
    assert (entry["by"], entry["surface"], entry["policies"]) == (BOB, "slack", "orders-under-review")


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_an_evaluation_error_refuses_a_teams_approve_but_not_its_reject(world: World) -> None:
    approval = await world.ask(title="Refund order A-2", tool={"name": "refund", "arguments": {"order": "A-2"}})
    activity = await world.teams_card(approval)
    body = await world.execute(activity, world.dana, APPROVE, approval)  # no amount_cents: the policy cannot say
    said = shown_notice(body["value"])
    assert said.startswith(f"Policy {POLICY}: could not be evaluated (") and "amount_cents" in said
    assert await status_of(world, approval) == ("pending", [])
    [entry] = await refusals(world, approval)
    assert entry["by"] == world.dana_person and "amount_cents" in entry["error"]
    await world.execute(activity, world.dana, "reject", approval, reason="no amount given")
    assert (await status_of(world, approval))[0] == "rejected"


async def test_a_shadow_decider_policy_refuses_nothing_and_audits_what_it_would(world: World) -> None:
    approval = await refund(world, 5000, order="TRIAL-1")
    activity = await world.teams_card(approval)
    await world.execute(activity, world.dana, APPROVE, approval)
    assert (await status_of(world, approval))[0] == "approved"
    [shadow] = [e for e in await audit_events(world.worker, "policy_shadow") if e.get("approval") == approval]
    assert (shadow["by"], shadow["would"], shadow["surface"], shadow["vote"]) == (
        world.dana_person, "refuse", "teams", "approve")
    assert "trial-no-teams-refunds" in shadow["policy"] and await refusals(world, approval) == []


async def test_a_vote_without_a_surface_by_a_person_only_in_teams_is_asked_as_teams(world: World) -> None:
    """The step-up page's vote (bot/stepup/votes.py: `decide(..., card=None)`, no surface passed) by a person known only
    in Teams is asked as a Teams vote: the policy refuses it there too."""
    approval = await refund(world, 2_000_000)
    decisions = world.worker.services.approvals.decisions  # no surface kept (an old link): the person's own
    result = await decisions.decide(world.dana_person, decisions.surface_said(world.dana_person, ""), "approve",
                                    approval_id=approval)
    assert result.status == "policy" and result.refused == WORDS
    assert await status_of(world, approval) == ("pending", [])
    [entry] = await refusals(world, approval)
    assert (entry["by"], entry["surface"]) == (world.dana_person, "teams")


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_policy_added_while_an_approval_waits_applies_to_its_next_vote(world: World) -> None:
    store = world.worker.services.store
    assert await store.settings.set(SALES, "required_approvals", "2", by="operator") is None
    approval = await world.ask()  # an email: no policy about who decides names it yet
    activity = await world.teams_card(approval)
    await world.execute(activity, world.dana, APPROVE, approval)
    assert await status_of(world, approval) == ("pending", [world.dana_person])  # Dana's vote counted
    engine = quick_reloads(world.worker.services.approvals.policies)
    (Path(engine.bundle.directory) / "email.cedar").write_text(EMAIL_IN_SLACK)
    await until(lambda: "emails-approved-in-slack" in engine.bundle.policies, within=15, what="the new bundle")
    body = await world.execute(activity, world.bob, APPROVE, approval)  # Bob's, in Teams: refused now
    said = shown_notice(body["value"])
    assert said == "Policy emails-approved-in-slack: email is approved in Slack. Nothing changed."
    assert await status_of(world, approval) == ("pending", [world.dana_person])  # the vote counted before stays
    await click(world.slack, await nth_card(world.slack, 1), "approval_approve", user=BOB)
    assert await status_of(world, approval) == ("approved", [world.dana_person, BOB])

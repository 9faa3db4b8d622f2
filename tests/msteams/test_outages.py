"""Slack and Teams never hold each other (issue 81's closing gap, bot/msteams/delivery.py): while the local Slack
refuses
`chat.update` and `chat.postMessage`, the Teams card follows the approval core's events, a Teams approver votes and
decides on it, it shows the decision and the program gets it; Slack back, its card catches up through its outbox,
once. A copy claimed by a worker that died before posting it is posted by the due set once the claim ran out.

Real parts: redis-server, a worker serving Slack and Teams (the `world`), the local Bot Connector, the Approvals API;
Slack is the stand-in."""

from __future__ import annotations

import json

import pytest
from agent_approvals.approver import ApprovalRequest

from bot.approvals import ApprovalOpened
from bot.approvals.opening import Opened
from tests.conftest import APPROVALS, BOB, SALES
from tests.support.api import tool_ask
from tests.support.hitl import nth_card, until
from tests.support.teams import APPROVE, World, cards

SLACK_DOWN = ("chat.update", "chat.postMessage")


def slack_down(world: World) -> None:
    for method in SLACK_DOWN:
        world.slack.fail(method=method, status=503, count=1_000_000)


def slack_back(world: World) -> None:
    for method in SLACK_DOWN:
        world.slack.heal(method)


def absent(caplog: pytest.LogCaptureFixture, approval: str) -> bool:
    """Whether a drawing of `approval`'s Teams copies found the app not in the conversation (and so left it)."""
    return any(approval in r.getMessage() and "not in its Teams conversation" in r.getMessage()
               for r in caplog.records)


def shows(world: World, activity: str, *said: str) -> bool:
    card = json.dumps(world.card_now(activity))
    return all(s in card for s in said)


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_while_slack_is_down_a_teams_approver_decides_and_slack_catches_up_once(world: World) -> None:
    store = world.worker.services.store
    assert await store.settings.set(SALES, "required_approvals", "2", by="operator") is None
    approval = await world.ask()
    slack_card = await nth_card(world.slack, 1)
    activity = await world.teams_card(approval)
    slack_down(world)
    await world.execute(activity, world.bob, APPROVE, approval)  # Bob's vote, in Teams
    await until(lambda: shows(world, activity, "1 of 2"), within=15, what="the vote on the Teams card")
    await world.execute(activity, world.dana, APPROVE, approval)  # Dana's, the second: approved
    await until(lambda: shows(world, activity, "Approved") and "refresh" not in world.card_now(activity),
                within=15, what="the decision on the Teams card")
    decision = await world.client.wait(approval)
    assert decision["status"] == "approved"
    assert not [c for c in world.slack.calls("chat.update") if c.ok]  # Slack took nothing meanwhile
    shown = next(m for m in world.slack.messages(APPROVALS) if m["ts"] == slack_card["ts"])
    assert any(b.get("type") == "actions" for b in shown["blocks"])  # still drawn pending there
    slack_back(world)

    def slack_decided() -> bool:
        now = next(m for m in world.slack.messages(APPROVALS) if m["ts"] == slack_card["ts"])
        return not any(b.get("type") == "actions" for b in now["blocks"]) and "Approved" in json.dumps(now)

    await until(slack_decided, within=30, what="the Slack card drawn decided by its outbox")
    posted = [c for c in world.slack.calls("chat.postMessage") if c.ok and approval in json.dumps(c.args)
              and c.args.get("channel") == APPROVALS and not c.args.get("thread_ts")]
    assert len(posted) == 1  # one Slack card, drawn decided in place
    assert len(cards(world.teams, world.channel)) == 1  # one Teams card, drawn in place

    async def settled() -> bool:  # (due while a drawing runs, then out: every copy shows the decision)
        return await store.teams_due.at(approval) is None

    await until(settled, what="nothing left due in Teams")
    assert shows(world, activity, "Approved") and len(cards(world.teams, world.channel)) == 1


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_an_approval_opened_pending_gets_its_teams_card_from_the_opening_itself(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    store = world.worker.services.store
    kept = await store.msteams.conversation(world.channel)
    assert kept is not None
    await store.msteams.forget_conversation(world.channel)  # the app not there while the approval opens
    status, asked = await world.client.ask(tool_ask())
    assert status == 201, asked
    approval = str(asked["id"])
    await nth_card(world.slack, 1)
    slack_down(world)  # no redraw of the Slack card draws the Teams copies meanwhile
    await until(lambda: absent(caplog, approval), what="its Teams card found no conversation")
    assert cards(world.teams, world.channel) == []
    await store.msteams.keep_conversation(kept)
    record = await store.approvals.get(approval)
    assert record is not None
    run = await store.runs.get(record.run_id)
    assert run is not None
    # a program's retry of its ask: the approval pending, said opened, whatever Slack did with its card
    request = ApprovalRequest(approval_id=approval, proposal=record.proposal, author="program")
    world.worker.services.approvals.events.publish(ApprovalOpened(run, request, Opened("exists", approval)))
    activity = await world.teams_card(approval)
    assert set(world.card_now(activity)["refresh"]["userIds"]) == {world.bob, world.dana}  # pending, theirs


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_copy_claimed_by_a_worker_that_died_is_posted_once_its_claim_ran_out_while_slack_is_down(
    world: World
) -> None:
    store = world.worker.services.store
    assert await store.settings.set(SALES, "required_approvals", "2", by="operator") is None
    kept = await store.msteams.conversation(world.channel)
    assert kept is not None
    await store.msteams.forget_conversation(world.channel)  # no Teams card at first
    approval = await world.ask()
    slack_card = await nth_card(world.slack, 1)
    # what a worker killed between its claim and its post leaves: a live claim, no card
    assert await store.msteams.claim_copy(approval, world.channel, lease=3) == "claimed"
    slack_down(world)
    await store.msteams.keep_conversation(kept)
    clicked = await world.slack.click(user=BOB, channel=APPROVALS, ts=slack_card["ts"], action_id="approval_approve")
    assert clicked.status == 200  # Bob's vote, in Slack: the core counts it, Slack's redraw is refused

    async def counted() -> bool:
        got = await store.approvals.get(approval)
        return got is not None and got.voters == [BOB]

    await until(counted, what="Bob's vote counted")
    assert cards(world.teams, world.channel) == []
    activity = await world.teams_card(approval)  # posted by the due set's drain once the claim ran out
    await until(lambda: shows(world, activity, "1 of 2"), within=15, what="the vote on it")
    assert len(cards(world.teams, world.channel)) == 1

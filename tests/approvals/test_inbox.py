"""The reviewer's inbox (#14): App Home, approvals by direct message, batch decisions, a reason with a reject.

Real parts: redis-server, the Bolt app over signed HTTP (in-process workers, and worker processes for
kill -9), AutoGen teams on a scripted model; Slack is the stand-in, driven by the events Slack sends
(`app_home_opened`, `block_actions` from a view or a DM, `view_submission`).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from agent_approvals.approver import ApprovalRequest

from bot.approvals.opening import new_approval
from bot.core.records import ApprovalRecord
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    CAROL,
    SALES,
    Worker,
    block_texts,
    bot_env,
    card_of,
    has_buttons,
    name_admins,
    start_worker,
)
from tests.support.cluster import Cluster, run_status
from tests.support.flow import start_run
from tests.support.hitl import finished
from tests.support.homes import approval_id_of, dm_cards, home_blocks, home_text, open_homes, say, waiting_in_home

ONCALL = "S0ONCALL"


# ------------------------------------------------------------------------------------------- helpers


async def reject_with(slack: SlackStandIn, user: str, reason: str, **click: Any) -> Any:
    """Click Reject (on a card: channel and ts; in a Home: value), then submit the reason modal."""
    before = {v["id"] for v in slack.open_views(user)}
    if "ts" in click:
        await slack.click(user=user, action_id="approval_reject", **click)
    else:
        await slack.click_view(user=user, action_id="approval_reject", **click)
    view = await slack.wait_for(lambda: next((v for v in slack.open_views(user) if v["id"] not in before), None))
    assert view["view"]["callback_id"] == "approval_reject_modal"
    return await slack.submit_view(user=user, view_id=view["id"], values={"reason": {"reason_input": reason}})


# ------------------------------------------------------------------------------------------- App Home
@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_pending_approval_shows_in_the_home_of_exactly_who_may_decide_it(
    slack: SlackStandIn, worker: Worker
) -> None:
    await name_admins(worker, ALICE)  # (widening approvers back to anyone needs an admin)
    await say(slack, "config approvers @bob")
    await open_homes(slack, ALICE, BOB, CAROL)
    assert "Nothing waits for you" in home_text(slack, BOB)
    run_id = await start_run(slack)
    card = await slack.wait_for(lambda: (c := card_of(slack, pending=True)) and c[-1])
    approval_id = approval_id_of(card)
    await slack.wait_for(lambda: approval_id in waiting_in_home(slack, BOB), description="bob's Home lists it")
    shown = home_text(slack, BOB)
    assert "10% discount" in shown and f"<@{ALICE}>" in shown and f"<#{SALES}>" in shown  # task, who, where
    assert "Times out" in shown or "times out" in shown  # and its deadline
    assert approval_id not in waiting_in_home(slack, CAROL)  # not an approver
    assert approval_id not in waiting_in_home(slack, ALICE)  # the requester (no self-approval)
    await slack.wait_for(lambda: run_id in home_text(slack, ALICE), description="alice's runs list it")

    # with `anyone`, every person who may decide sees it: carol too, never the requester
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    await finished(worker, run_id)
    await slack.wait_for(lambda: "completed" in home_text(slack, ALICE), description="her run's status, current")
    assert "now anyone" in await say(slack, "config approvers anyone", user=ALICE)
    await start_run(slack)
    second = await slack.wait_for(lambda: (c := card_of(slack, pending=True)) and c[-1]["ts"] != card["ts"] and c[-1])
    second_id = approval_id_of(second)
    await slack.wait_for(
        lambda: second_id in waiting_in_home(slack, CAROL) and second_id in waiting_in_home(slack, BOB)
    )
    assert second_id not in waiting_in_home(slack, ALICE)
    await slack.wait_for(lambda: approval_id in home_text(slack, BOB) or run_id in home_text(slack, BOB))
    assert "Recently decided by you" in home_text(slack, BOB)


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_deciding_from_the_home_resumes_the_agent_and_redraws_every_copy(
    slack: SlackStandIn, worker: Worker
) -> None:
    await say(slack, "config approvers @bob @carol")
    assert "`deliver` of this channel is now both" in await say(slack, "config deliver both")
    await open_homes(slack, BOB, CAROL)
    run_id = await start_run(slack)
    card = await slack.wait_for(lambda: (c := card_of(slack, pending=True)) and c[-1])
    approval_id = approval_id_of(card)
    for person in (BOB, CAROL):  # a copy in each approver's DM with the bot, with live buttons
        await slack.wait_for(lambda p=person: [m for m in dm_cards(slack, p) if has_buttons(m)])  # type: ignore[misc]
        assert approval_id_of(dm_cards(slack, person)[-1]) == approval_id
    assert not dm_cards(slack, ALICE)  # the requester gets none
    await slack.wait_for(lambda: approval_id in waiting_in_home(slack, CAROL) & waiting_in_home(slack, BOB))

    result = await slack.click_view(user=BOB, action_id="approval_approve", value=approval_id)
    assert result.status == 200
    run = await finished(worker, run_id)
    assert run.status == "completed"  # the agent resumed
    await slack.wait_for(lambda: not has_buttons(next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"])))
    now = next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"])
    assert f"*Approved* by <@{BOB}>" in block_texts(now)
    for person in (BOB, CAROL):  # no copy keeps live buttons
        await slack.wait_for(lambda p=person: not any(has_buttons(m) for m in dm_cards(slack, p)))  # type: ignore[misc]
        assert f"*Approved* by <@{BOB}>" in block_texts(dm_cards(slack, person)[-1])
    await slack.wait_for(lambda: approval_id not in waiting_in_home(slack, CAROL) | waiting_in_home(slack, BOB))
    await slack.wait_for(lambda: run_id in home_text(slack, BOB))  # under "Recently decided by you"
    decisions = [e for e in await worker.services.store.audit.entries() if e["event"] == "decision"]
    assert [(d["outcome"], d["by"]) for d in decisions] == [("approved", BOB)]


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_decision_on_the_channel_card_redraws_the_dms_and_homes(slack: SlackStandIn, worker: Worker) -> None:
    await say(slack, "config approvers @bob @carol")
    await say(slack, "config deliver both")
    await open_homes(slack, BOB, CAROL)
    await start_run(slack)
    card = await slack.wait_for(lambda: (c := card_of(slack, pending=True)) and c[-1])
    approval_id = approval_id_of(card)
    await slack.wait_for(lambda: approval_id in waiting_in_home(slack, BOB) and len(dm_cards(slack, CAROL)) == 1)
    await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    for person in (BOB, CAROL):
        await slack.wait_for(lambda p=person: not any(has_buttons(m) for m in dm_cards(slack, p)))  # type: ignore[misc]
    await slack.wait_for(lambda: not waiting_in_home(slack, BOB) and not waiting_in_home(slack, CAROL))


@pytest.mark.slow
async def test_deliver_dm_sends_the_card_to_each_approver_only(slack: SlackStandIn, worker: Worker) -> None:
    await say(slack, "config approvers @bob @carol")
    await say(slack, "config deliver dm")
    run_id = await start_run(slack)
    await slack.wait_for(lambda: dm_cards(slack, BOB) and dm_cards(slack, CAROL))
    assert not card_of(slack)  # nothing in #approvals
    copy = dm_cards(slack, CAROL)[-1]
    await slack.click(user=CAROL, channel=slack.dm_channel(CAROL), ts=copy["ts"], action_id="approval_approve")
    assert (await finished(worker, run_id)).status == "completed"
    await slack.wait_for(lambda: not any(has_buttons(m) for p in (BOB, CAROL) for m in dm_cards(slack, p)))


async def test_deliver_dm_reaches_the_members_of_a_named_group(slack: SlackStandIn, worker: Worker) -> None:
    slack.set_usergroup("S0APPROVERS", [BOB, CAROL])
    assert "now <!subteam^S0APPROVERS>" in await say(slack, "config approvers @approvers")
    await say(slack, "config deliver dm")
    await start_run(slack)
    await slack.wait_for(lambda: dm_cards(slack, BOB) and dm_cards(slack, CAROL))
    assert approval_id_of(dm_cards(slack, BOB)[-1]) == approval_id_of(dm_cards(slack, CAROL)[-1])
    assert not dm_cards(slack, ALICE) and not card_of(slack)  # not the requester; nothing in #approvals


async def test_dm_delivery_needs_named_approvers(slack: SlackStandIn, worker: Worker) -> None:
    await name_admins(worker, ALICE)
    reply = await say(slack, "config deliver dm")
    assert "approvers is `anyone`" in reply and "Setting unchanged" in reply
    assert (await worker.services.store.settings.get(SALES, default_timeout=600)).deliver == "channel"
    await say(slack, "config approvers @bob")
    assert "now dm" in await say(slack, "config deliver dm")
    reply = await say(slack, "config approvers anyone")
    assert "deliver is `dm`" in reply and "Setting unchanged" in reply
    assert "Bad deliver" in await say(slack, "config deliver pigeon")


@pytest.mark.slow
async def test_two_people_deciding_at_once_from_two_surfaces_give_one_decision(
    slack: SlackStandIn, worker: Worker
) -> None:
    await say(slack, "config approvers @bob @carol")
    await say(slack, "config deliver both")
    await open_homes(slack, BOB)
    run_id = await start_run(slack)
    await slack.wait_for(lambda: dm_cards(slack, CAROL))
    copy = dm_cards(slack, CAROL)[-1]
    approval_id = approval_id_of(copy)
    await slack.wait_for(lambda: approval_id in waiting_in_home(slack, BOB))
    # carol has the reject modal open (from her DM) when both submit at the same instant
    await slack.click(user=CAROL, channel=slack.dm_channel(CAROL), ts=copy["ts"], action_id="approval_reject")
    modal = await slack.wait_for(lambda: slack.open_views(CAROL) and slack.open_views(CAROL)[-1])
    home_click, submitted = await asyncio.gather(
        slack.click_view(user=BOB, action_id="approval_approve", value=approval_id),
        slack.submit_view(user=CAROL, view_id=modal["id"], values={"reason": {"reason_input": "not today"}}),
    )
    assert home_click.status == 200 and submitted.status == 200
    run = await finished(worker, run_id)
    decisions = [e for e in await worker.services.store.audit.entries() if e["event"] == "decision"]
    assert len(decisions) == 1  # one decision, whoever won
    winner = decisions[0]
    assert run.status == ("completed" if winner["outcome"] == "approved" else "rejected")
    if winner["by"] == BOB:  # carol's modal stays open and says why nothing was sent
        assert submitted.json and "already approved" in json.dumps(submitted.json)


async def test_reject_opens_a_modal_and_the_reason_reaches_the_agent_the_card_and_the_audit(
    slack: SlackStandIn, worker: Worker
) -> None:
    run_id = await start_run(slack)
    card = await slack.wait_for(lambda: (c := card_of(slack, pending=True)) and c[-1])
    reason = "Wrong vendor <!channel> *really*"
    answer = await reject_with(slack, BOB, reason, channel=APPROVALS, ts=card["ts"])
    assert answer.status == 200 and not answer.body.strip()  # the modal closes
    assert (await finished(worker, run_id)).status == "rejected"
    await slack.wait_for(lambda: not has_buttons(next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"])))
    shown = block_texts(next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"]))
    assert "Wrong vendor &lt;!channel&gt; *really*" in shown and "<!channel>" not in shown  # shown, inert
    decision = next(e for e in await worker.services.store.audit.entries() if e["event"] == "decision")
    assert decision["outcome"] == "rejected" and decision["feedback"] == reason
    approval = await worker.services.store.approvals.get(approval_id_of(card))
    assert approval is not None and approval.decision().reply_text() == f"REJECT\n{reason}"  # what the agent gets

    # without a reason: rejected all the same
    run_id = await start_run(slack)
    second = await slack.wait_for(lambda: (c := card_of(slack, pending=True)) and c[-1]["ts"] != card["ts"] and c[-1])
    await reject_with(slack, CAROL, "", channel=APPROVALS, ts=second["ts"])
    assert (await finished(worker, run_id)).status == "rejected"
    approval = await worker.services.store.approvals.get(approval_id_of(second))
    assert approval is not None and approval.status == "rejected" and approval.decision().reply_text() == "REJECT"


async def test_reject_from_the_revise_modal_still_works(slack: SlackStandIn, worker: Worker) -> None:
    run_id = await start_run(slack)
    card = await slack.wait_for(lambda: (c := card_of(slack, pending=True)) and c[-1])
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
    view = await slack.wait_for(lambda: slack.open_views(BOB) and slack.open_views(BOB)[-1])
    await slack.submit_view(user=BOB, view_id=view["id"], values={"feedback": {"feedback_input": "reject: too pushy"}})
    assert (await finished(worker, run_id)).status == "rejected"
    approval = await worker.services.store.approvals.get(approval_id_of(card))
    assert approval is not None and approval.feedback == "too pushy"


@pytest.mark.slow
async def test_a_refused_click_in_the_home_is_answered_in_a_modal(slack: SlackStandIn, worker: Worker) -> None:
    await open_homes(slack, BOB)
    run_id = await start_run(slack)
    card = await slack.wait_for(lambda: (c := card_of(slack, pending=True)) and c[-1])
    approval_id = approval_id_of(card)
    await slack.wait_for(lambda: approval_id in waiting_in_home(slack, BOB))
    held = slack.hold("views.publish")  # bob's Home keeps showing the buttons (a redraw in flight)
    await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    await finished(worker, run_id)
    result = await slack.click_view(user=BOB, action_id="approval_approve", value=approval_id)
    assert result.status == 200
    notice = await slack.wait_for(lambda: slack.open_views(BOB) and slack.open_views(BOB)[-1])
    assert "already approved" in block_texts(notice["view"]) and f"<@{CAROL}>" in block_texts(notice["view"])
    held.release()
    await slack.wait_for(lambda: approval_id not in waiting_in_home(slack, BOB))
    decisions = [e for e in await worker.services.store.audit.entries() if e["event"] == "decision"]
    assert [d["by"] for d in decisions] == [CAROL]


# ------------------------------------------------------------------------------------------- many approvals
async def extra_approvals(
    worker: Worker, run_id: str, count: int, *, approvers: tuple[str, ...] = (), first: int = 0
) -> list[ApprovalRecord]:
    """`count` more pending approvals in a run, opened through the service as a run's own are (as if
    its agent asked about several tool calls at once), each with its card."""
    services = worker.services
    run = await services.store.runs.get(run_id)
    assert run is not None
    settings = await services.approvals.channel_settings(run.channel)
    opened = []
    for n in range(first, first + count):
        request = ApprovalRequest(
            approval_id=f"x{run_id}-{n:03d}",
            proposal=json.dumps({"to": f"customer{n}@example.com", "subject": "Prices"}),
            author="assistant",
            kind="tool_call",
            tool_name="send_email",
            arguments=json.dumps({"to": f"customer{n}@example.com", "subject": "Prices"}, indent=2),
        )
        approval = new_approval(
            request, run=run, owner=services.worker_id, settings=settings, default_channel=APPROVALS
        )
        if approvers:
            approval = replace(approval, approvers=approvers)
        assert await services.store.approvals.create(approval) == "ok"
        await services.approvals.delivery.post_card(approval)
        opened.append(approval)
    return opened


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_batch_approve_of_20_across_3_runs_with_one_not_allowed(
    slack: SlackStandIn, redis_url: str, model_config: Path
) -> None:
    worker = await start_worker(
        bot_env(slack=slack, redis_url=redis_url, model_config=model_config, USERGROUP_CACHE_SECONDS="0")
    )
    slack.events_url = worker.url + "/slack/events"
    try:
        slack.set_usergroup(ONCALL, [BOB, CAROL])
        await open_homes(slack, BOB)
        runs = [await start_run(slack) for _ in range(3)]
        await slack.wait_for(lambda: len(card_of(slack, pending=True)) == 3)
        real = [approval_id_of(c) for c in card_of(slack, pending=True)]
        extra = [
            *await extra_approvals(worker, runs[0], 6),
            *await extra_approvals(worker, runs[1], 6),
            *await extra_approvals(worker, runs[2], 4),
            *await extra_approvals(worker, runs[2], 1, approvers=(ONCALL,), first=4),
        ]
        only_oncall = extra[-1].id  # bob may decide it as a member of the on-call group
        wanted = real + [a.id for a in extra]
        assert len(wanted) == 20
        await slack.wait_for(lambda: len(card_of(slack, pending=True)) == 20)
        await slack.wait_for(lambda: len(waiting_in_home(slack, BOB)) == 10)

        await slack.click_view(user=BOB, action_id="home_batch", value="batch")
        chooser = await slack.wait_for(lambda: slack.open_views(BOB) and slack.open_views(BOB)[-1])
        assert chooser["view"]["callback_id"] == "home_batch_modal"
        reviewed = await slack.submit_view(
            user=BOB,
            view_id=chooser["id"],
            values={
                "batch_select": {"batch_select_input": wanted},
                "batch_outcome": {"batch_outcome_input": "approved"},
            },
        )
        assert reviewed.status == 200
        confirm = await slack.wait_for(
            lambda: (v := slack.open_views(BOB)) and v[-1]["view"].get("callback_id") == "home_batch_confirm" and v[-1]
        )
        listed = block_texts(confirm["view"])
        for approval in extra:  # every tool call's whole arguments are in the confirmation
            assert json.loads(approval.arguments)["to"] in listed
        assert "Approve 20" in json.dumps(confirm["view"].get("submit"))
        # between the review and the confirmation, bob leaves the on-call group: the one approval only
        # that group may decide is refused by the decide step, the others are decided
        slack.set_usergroup(ONCALL, [CAROL])
        # a double click on the confirmation's button: one batch decided, the other told it was used
        done, twice = await asyncio.gather(
            slack.submit_view(user=BOB, view_id=confirm["id"], values={}),
            slack.submit_view(user=BOB, view_id=confirm["id"], values={}),
        )
        assert done.status == twice.status == 200
        assert "already used" in done.body + twice.body
        result = await slack.wait_for(
            lambda: (v := slack.open_views(BOB)) and v[-1]["view"].get("callback_id") != "home_batch_confirm" and v[-1]
        )
        said = block_texts(result["view"])
        assert "Approved 19" in said or "19" in said
        assert "may decide this approval" in said  # which one was refused, and why
        store = worker.services.store
        decided = await store.approvals.get_many(wanted)
        assert sorted(a.id for a in decided if a.status == "approved") == sorted(set(wanted) - {only_oncall})
        assert next(a for a in decided if a.id == only_oncall).pending
        for run_id in runs:  # the agents waiting on the three cards resumed
            await finished(worker, run_id)
        decisions = [e for e in await store.audit.entries() if e["event"] == "decision" and e["by"] == BOB]
        assert len(decisions) == 19  # each decided on its own, once
        assert [e["event"] for e in await store.audit.entries() if e["event"] == "batch"] == ["batch"]
    finally:
        await worker.stop()


async def test_a_batch_form_with_bad_choices_says_why_and_decides_nothing(slack: SlackStandIn, worker: Worker) -> None:
    await open_homes(slack, BOB)
    run_id = await start_run(slack)
    await slack.wait_for(lambda: card_of(slack, pending=True))
    extra = await extra_approvals(worker, run_id, 2)
    await slack.wait_for(lambda: len(waiting_in_home(slack, BOB)) == 3)
    await slack.click_view(user=BOB, action_id="home_batch", value="batch")
    chooser = await slack.wait_for(lambda: slack.open_views(BOB) and slack.open_views(BOB)[-1])
    values = {
        "batch_select": {"batch_select_input": [a.id for a in extra]},
        "batch_outcome": {"batch_outcome_input": "approved"},
        "batch_reason": {"batch_reason_input": "because"},
    }
    answer = await slack.submit_view(user=BOB, view_id=chooser["id"], values=values)
    assert answer.json == {
        "response_action": "errors",
        "errors": {"batch_reason": "A reason goes with Reject only: clear it, or choose Reject."},
    }
    assert all(a.pending for a in await worker.services.store.approvals.get_many(a.id for a in extra))
    assert slack.open_views(BOB)[-1]["view"]["callback_id"] == "home_batch_modal"  # the form stays, as filled


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_home_with_many_approvals_pages_within_slacks_limits(slack: SlackStandIn, worker: Worker) -> None:
    await open_homes(slack, BOB)
    run_id = await start_run(slack)
    await slack.wait_for(lambda: card_of(slack, pending=True))
    await extra_approvals(worker, run_id, 34)
    await slack.wait_for(lambda: len(waiting_in_home(slack, BOB)) == 10, timeout=30)  # (redraws are budgeted)
    # opened again: drawn as Redis holds it now (what is checked here is the paging). Not a lost redraw: once a
    # draw has shown a full page, the approvals opened after it change only its count, which waits for the next
    # draw (`HomeService.affected`); how many were open at that draw depends on the machine's load
    await open_homes(slack, BOB)
    await slack.wait_for(lambda: "of 35" in home_text(slack, BOB), timeout=30)
    assert len(home_blocks(slack, BOB)) <= 100
    first_page = waiting_in_home(slack, BOB)
    await slack.click_view(user=BOB, action_id="home_page", value="1")
    await slack.wait_for(lambda: waiting_in_home(slack, BOB) and not waiting_in_home(slack, BOB) & first_page)
    assert "11" in home_text(slack, BOB) and len(home_blocks(slack, BOB)) <= 100


# ------------------------------------------------------------------------------------------- kill -9
@pytest.mark.slow
async def test_kill_9_between_the_decision_and_the_redraws_still_ends_with_every_copy_correct(
    cluster: Cluster, slack: SlackStandIn, store: Store
) -> None:
    first = await cluster.start()
    second = await cluster.start()
    slack.events_url = first.events
    await say(slack, "config approvers @bob @carol")
    await say(slack, "config deliver both")
    await open_homes(slack, BOB, CAROL)
    run_id = await start_run(slack)
    card = await slack.wait_for(lambda: (c := card_of(slack, pending=True)) and c[-1], timeout=20)
    approval_id = approval_id_of(card)
    await slack.wait_for(lambda: approval_id in waiting_in_home(slack, CAROL) and len(dm_cards(slack, CAROL)) == 1)
    held = slack.hold("chat.update")  # the decider's first redraw never gets through
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    await asyncio.wait_for(held.arrived.wait(), timeout=10)
    first.kill()  # between the decision (in Redis) and every redraw
    slack.events_url = second.events
    await run_status(store, run_id, "completed", within=40)
    await slack.wait_for(
        lambda: (
            not has_buttons(next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"]))
            and not any(has_buttons(m) for p in (BOB, CAROL) for m in dm_cards(slack, p))
            and approval_id not in waiting_in_home(slack, CAROL)
        ),
        timeout=40,
        description="every copy redrawn by the surviving worker",
    )
    assert f"*Approved* by <@{BOB}>" in block_texts(dm_cards(slack, CAROL)[-1])
    held.release()

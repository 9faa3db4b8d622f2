"""Nobody forgets (#15): reminders, escalation, delegation while away, waits that never expire.

Real parts: redis-server, the Bolt app over signed HTTP (in-process workers, and worker processes for
kill -9), AutoGen teams on a scripted model; Slack is the stand-in. Reminders are timed in seconds
here; that nothing more comes after a decision is shown by sweeping at a time far ahead (`sweep(now=)`)
rather than by waiting.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest

from bot.devslack.model import DevUser, default_users
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    BOT_TOKEN,
    CAROL,
    SALES,
    SIGNING_SECRET,
    Worker,
    block_texts,
    card_of,
    name_admins,
)
from tests.support.cluster import Cluster, run_status
from tests.support.flow import start_run
from tests.support.hitl import audit_events, decided, finished, until
from tests.support.homes import approval_id_of, dm_cards, home_text, open_homes, say, waiting_in_home

DAVE, ERIN = "U0DAVE", "U0ERIN"
ONCALL = "S0ONCALL"


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    """The stand-in with dave (an on-call backup, or a delegate) and erin, who was deactivated."""
    users = (
        *default_users(),
        DevUser(id=DAVE, name="dave", real_name="Dave Example"),
        DevUser(id=ERIN, name="erin", real_name="Erin Example", deleted=True),
    )
    standin = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN, users=users)
    await standin.start()
    yield standin
    await standin.stop()


def thread(slack: SlackStandIn, card: dict[str, Any], channel: str = APPROVALS) -> list[dict[str, Any]]:
    return [m for m in slack.messages(channel) if m.get("thread_ts") == card["ts"] and m["ts"] != card["ts"]]


def reminders(slack: SlackStandIn, card: dict[str, Any], channel: str = APPROVALS) -> list[str]:
    return [m.get("text", "") for m in thread(slack, card, channel) if "Reminder" in m.get("text", "")]


def escalations(slack: SlackStandIn, card: dict[str, Any]) -> list[str]:
    return [m.get("text", "") for m in thread(slack, card) if "Escalated" in m.get("text", "")]


async def pending_card(slack: SlackStandIn, *, within: float = 10) -> dict[str, Any]:
    card: dict[str, Any] = await slack.wait_for(lambda: (c := card_of(slack, pending=True)) and c[-1], timeout=within)
    return card


def current(slack: SlackStandIn, card: dict[str, Any]) -> dict[str, Any]:
    return next(m for m in slack.messages(card["channel"] if "channel" in card else APPROVALS) if m["ts"] == card["ts"])


async def click(slack: SlackStandIn, user: str, card: dict[str, Any], action: str = "approval_approve") -> None:
    result = await slack.click(user=user, channel=APPROVALS, ts=card["ts"], action_id=action)
    assert result.status == 200


async def answer(slack: SlackStandIn, user: str, card: dict[str, Any], needle: str) -> str:
    """Click Approve and wait for the ephemeral answer saying `needle`."""
    seen = len(slack.ephemerals(user))
    await click(slack, user, card)
    found: str = await slack.wait_for(
        lambda: next((e["text"] for e in slack.ephemerals(user)[seen:] if needle in e["text"]), None),
        description=f"an answer to {user} saying {needle!r}",
    )
    return found


# ------------------------------------------------------------------------------------------- reminders
async def second_reminder_now(worker: Worker, approval_id: str, *, voted: str) -> None:
    """Once `voted`'s vote is counted, a sweep as if the 4 s step were due (the worker's own sweeps, and their
    claims, still run: a step is told once whoever tells it)."""

    async def counted() -> bool:
        approval = await worker.services.store.approvals.get(approval_id)
        return approval is not None and voted in approval.voters

    await until(counted, what=f"{voted}'s vote counted")
    await worker.services.nudger.sweep(now=time.time() + 3.5)


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_reminders_mention_who_may_still_decide_and_stop_at_the_decision(
    slack: SlackStandIn, worker: Worker
) -> None:
    await say(slack, "config approvers @bob @carol")
    await say(slack, "config required_approvals 2")
    assert "now 1s, 4s, 8s" in await say(slack, "config remind 1s,4s,8s")
    run_id = await start_run(slack)
    card = await pending_card(slack)
    first = await slack.wait_for(lambda: reminders(slack, card), description="the first reminder")
    assert "Reminder 1 of 3" in first[0] and f"<@{BOB}>" in first[0] and f"<@{CAROL}>" in first[0]
    assert f"<@{ALICE}>" not in first[0]  # never the requester
    assert "0 of 2 approvals" in first[0] and "times out in" in first[0]
    await click(slack, BOB, card)  # a vote, between the first reminder and the second
    await second_reminder_now(worker, approval_id_of(card), voted=BOB)
    second = await slack.wait_for(lambda: len(reminders(slack, card)) == 2 and reminders(slack, card)[1])
    assert "Reminder 2 of 3" in second and f"<@{CAROL}>" in second
    assert f"<@{BOB}>" not in second  # he voted already
    await click(slack, CAROL, card)
    assert (await finished(worker, run_id)).status == "completed"
    approval_id = approval_id_of(card)
    store = worker.services.store
    assert await store.redis.zscore(store.keys.nudges, approval_id) is None
    assert await worker.services.nudger.sweep(now=time.time() + 3600) == 0  # however late: nothing more
    assert len(reminders(slack, card)) == 2
    told = await audit_events(worker, "reminded")
    assert [(e["approval"], e["step"]) for e in told] == [(approval_id, "1"), (approval_id, "2")]
    assert told[1]["mentioned"] == CAROL


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_reminders_reach_the_direct_messages_of_who_got_the_card_there(
    slack: SlackStandIn, worker: Worker
) -> None:
    await say(slack, "config approvers @bob @carol")
    await say(slack, "config required_approvals 2")
    await say(slack, "config deliver both")
    await say(slack, "config remind 1s,4s")
    await start_run(slack)
    card = await pending_card(slack)
    copies = {p: await slack.wait_for(lambda p=p: dm_cards(slack, p)) for p in (BOB, CAROL)}  # type: ignore[misc]
    for person in (BOB, CAROL):  # each in the thread of their own copy, mentioning them alone
        dm = slack.dm_channel(person)
        told = await slack.wait_for(lambda d=dm, p=person: reminders(slack, copies[p][-1], d))  # type: ignore[misc]
        assert f"<@{person}>" in told[0] and "Reminder 1 of 2" in told[0]
    assert f"<@{BOB}>" in reminders(slack, card)[0] and f"<@{CAROL}>" in reminders(slack, card)[0]
    await click(slack, BOB, card)  # his vote: the second reminder is for carol alone, and not in his DM
    await second_reminder_now(worker, approval_id_of(card), voted=BOB)
    await slack.wait_for(lambda: len(reminders(slack, copies[CAROL][-1], slack.dm_channel(CAROL))) == 2)
    await slack.wait_for(lambda: len(reminders(slack, card)) == 2)
    assert len(reminders(slack, copies[BOB][-1], slack.dm_channel(BOB))) == 1
    assert f"<@{BOB}>" not in reminders(slack, card)[1]


async def test_no_reminder_for_a_cancelled_run(slack: SlackStandIn, worker: Worker) -> None:
    await say(slack, "config remind 3s")
    run_id = await start_run(slack)
    card = await pending_card(slack)
    await say(slack, f"cancel {run_id}")
    assert (await finished(worker, run_id)).status == "cancelled"
    assert await worker.services.nudger.sweep(now=time.time() + 3600) == 0
    assert not reminders(slack, card) and not await audit_events(worker, "reminded")


async def test_a_reminder_posted_by_a_nudger_that_died_before_noting_it_is_not_posted_again(
    slack: SlackStandIn, worker: Worker
) -> None:
    await say(slack, "config remind 30s")
    await start_run(slack)
    card = await pending_card(slack)
    approval_id = approval_id_of(card)
    store, later = worker.services.store, time.time() + 31
    # a nudger claims it, posts its reminder (as ours would, with the step in its metadata), then dies
    assert await store.nudges.claim_due(later) == [approval_id]
    (taken,) = await store.nudges.open([approval_id], now=later)
    assert taken.nudged == 0
    await worker.services.slack.chat_postMessage(
        channel=APPROVALS,
        thread_ts=card["ts"],
        text=":alarm_clock: *Reminder*: (posted by a worker that died)",
        metadata={"event_type": "hitl_nudge", "event_payload": {"approval": approval_id, "step": "remind-1"}},
    )
    assert await worker.services.nudger.sweep(now=later + 5) == 0  # its lease holds: nobody else takes it
    assert await worker.services.nudger.sweep(now=later + 11) == 1  # the lease ended: told, not posted again
    assert len(reminders(slack, card)) == 1
    approval = await store.approvals.get(approval_id)
    assert approval is not None and approval.nudged == 1 and not approval.telling
    assert [e["step"] for e in await audit_events(worker, "reminded")] == ["1"]


async def test_a_claim_made_late_in_a_long_sweep_still_holds_its_lease(slack: SlackStandIn, worker: Worker) -> None:
    await worker.services.nudger.stop()  # this test claims by hand
    await say(slack, "config remind 1s")
    await start_run(slack)
    approval_id = approval_id_of(await pending_card(slack))
    store = worker.services.store
    approval = await store.approvals.get(approval_id)
    assert approval is not None
    due = time.time() - 2.5  # its reminder came due 2.5 s ago (brought forward): a sweep that began then still goes
    await store.redis.zadd(store.keys.nudges, {approval_id: due})
    # the sweep read its `now` when it began: a batch it claims this late must still hold its whole lease
    assert await store.nudges.claim_due(due, lease=1) == [approval_id]
    assert await store.nudges.claim_due(time.time(), lease=1) == []  # so no other worker posts it again


# ------------------------------------------------------------------------------------------- escalation
@pytest.mark.slow
async def test_escalation_lets_the_backup_decide_only_after_escalate_after(
    slack: SlackStandIn, worker: Worker
) -> None:
    await name_admins(worker, ALICE)
    await say(slack, "config approvers @bob")
    assert "never time out" in await say(slack, "config timeout never")
    assert "now 2s" in await say(slack, "config escalate_after 2s")
    assert f"now <@{DAVE}>" in await say(slack, "config escalate_to @dave")
    await open_homes(slack, DAVE)
    run_id = await start_run(slack)
    card = await pending_card(slack)
    approval_id = approval_id_of(card)
    assert "Never times out" in block_texts(card)
    assert approval_id not in waiting_in_home(slack, DAVE)
    await answer(slack, DAVE, card, f"Only <@{BOB}> may decide this approval")  # too early for dave
    assert (await worker.services.store.approvals.get(approval_id)).pending  # type: ignore[union-attr]
    await worker.services.nudger.sweep(now=time.time() + 2)  # 2 s later, as the nudger's own sweep would be
    told = await slack.wait_for(lambda: escalations(slack, card), description="the escalation in the thread")
    assert f"Escalated* to <@{DAVE}> after 2s" in told[0]
    await slack.wait_for(lambda: "Escalated to" in block_texts(current(slack, card)), description="the card says so")
    await slack.wait_for(lambda: approval_id in waiting_in_home(slack, DAVE), description="dave's Home lists it")
    assert "Escalated to" in home_text(slack, DAVE)
    await click(slack, DAVE, card)
    assert (await finished(worker, run_id)).status == "completed"
    decision = (await audit_events(worker, "decision"))[-1]
    assert decision["by"] == DAVE
    (escalated,) = await audit_events(worker, "escalated")
    assert escalated["to"] == DAVE and escalated["approval"] == approval_id
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/metrics") as response:
        metrics = await response.text()  # time to decision, by channel and outcome
    assert f'hitl_decision_latency_seconds_count{{channel="{SALES}",outcome="approved"}} 1.0' in metrics


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_quorum_counts_each_person_once_whichever_list_let_them_in(
    slack: SlackStandIn, worker: Worker
) -> None:
    slack.set_usergroup(ONCALL, [CAROL, DAVE])
    await name_admins(worker, ALICE)
    await say(slack, "config approvers @bob @carol")
    await say(slack, "config required_approvals 2")
    await say(slack, "config escalate_after 1s")
    assert f"now <!subteam^{ONCALL}>" in await say(slack, "config escalate_to @oncall")
    run_id = await start_run(slack)
    card = await pending_card(slack)
    await click(slack, CAROL, card)  # as an approver
    await slack.wait_for(lambda: escalations(slack, card))
    await answer(slack, CAROL, card, "already counts")  # again, now also as on-call: she counts once
    await click(slack, DAVE, card)  # let in by the escalation
    assert (await finished(worker, run_id)).status == "completed"
    votes = await audit_events(worker, "vote")
    assert [v["by"] for v in votes] == [CAROL, DAVE]


# ------------------------------------------------------------------------------------------- delegation
@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_delegate_decides_for_an_away_approver_in_a_quorum_counted_once(
    slack: SlackStandIn, worker: Worker, store: Store
) -> None:
    await say(slack, "config approvers @bob @carol")
    await say(slack, "config required_approvals 2")
    await say(slack, "config remind 1s")
    assert "You are not away" in await say(slack, "away", user=CAROL)
    reply = await say(slack, "away until 2h delegate @dave", user=CAROL)
    assert "You are away until" in reply and f"<@{DAVE}> may decide for you" in reply
    assert f"You decide for <@{CAROL}>" in await say(slack, "away", user=DAVE)
    run_id = await start_run(slack)
    card = await pending_card(slack)
    nudge = (await slack.wait_for(lambda: reminders(slack, card)))[0]
    assert f"<@{DAVE}> (for <@{CAROL}>)" in nudge and f"<@{BOB}>" in nudge  # carol, away, is not mentioned
    assert f"<@{CAROL}> " not in nudge.replace(f"(for <@{CAROL}>)", "")
    await click(slack, DAVE, card)  # dave for carol
    await answer(slack, DAVE, card, "already counts")
    await answer(slack, CAROL, card, "already counts")  # carol's own vote is the one dave cast
    await slack.wait_for(lambda: f"<@{DAVE}> for <@{CAROL}>" in block_texts(current(slack, card)))
    await click(slack, BOB, card)
    assert (await finished(worker, run_id)).status == "completed"
    votes = await audit_events(worker, "vote")
    assert [(v["by"], v["for"]) for v in votes] == [(DAVE, CAROL), (BOB, "")]
    decided = block_texts(current(slack, card))
    assert f"<@{DAVE}> for <@{CAROL}>" in decided and f"<@{BOB}>" in decided
    # it ends by itself at its date, and with `away off`
    assert await store.away.principals(DAVE, now=time.time() + 3 * 3600) == []
    assert "no longer away" in await say(slack, "away off", user=CAROL)
    assert await store.away.principals(DAVE, now=time.time()) == []


async def test_a_delegate_never_decides_their_own_run_and_a_single_decision_says_for_whom(
    slack: SlackStandIn, worker: Worker
) -> None:
    await say(slack, "config approvers @bob")
    await say(slack, "away until 1d delegate @alice", user=BOB)  # alice may decide for bob...
    run_id = await start_run(slack)  # ...but not on her own run
    card = await pending_card(slack)
    await answer(slack, ALICE, card, "cannot decide")
    refused = await audit_events(worker, "refused")
    assert refused and refused[-1]["by"] == ALICE and refused[-1]["reason"] == "self"
    await say(slack, "away until 1d delegate @carol", user=BOB)  # carol now
    await click(slack, CAROL, card)
    assert (await finished(worker, run_id)).status == "completed"
    assert f"by <@{CAROL}> for <@{BOB}>" in block_texts(await decided(slack, card))
    decision = (await audit_events(worker, "decision"))[-1]
    assert decision["by"] == CAROL and decision["for"] == BOB


# ------------------------------------------------------------------------------------------- bad input
async def test_bad_settings_and_away_forms_are_refused_with_the_valid_forms(
    slack: SlackStandIn, worker: Worker
) -> None:
    store = worker.services.store
    for text, expected in (
        ("config remind 0s", "out of range"),
        ("config remind 5m,1m", "not increasing"),
        ("config remind soon", "not a duration"),
        ("config escalate_after 0s", "out of range"),
        ("config escalate_to @nobody", "Bad escalate_to"),
        ("config timeout forever", "or `never`"),
    ):
        reply = await say(slack, text)
        assert expected in reply and "Setting unchanged" in reply, (text, reply)
    reply = await say(slack, "config escalate_to @dave @erin")
    assert f"<@{ERIN}> is deactivated" in reply and "Setting unchanged" in reply
    settings = await store.settings.get(SALES, default_timeout=600)
    assert settings.remind == () and settings.escalate_to == () and settings.escalate_after == 0
    # durations past the timeout are set, with a warning
    await say(slack, "config timeout 10m")
    reply = await say(slack, "config remind 5m,15m")
    assert "now 5m, 15m" in reply and "will never be sent: 15m" in reply
    reply = await say(slack, "config escalate_after 1h")
    assert "now 1h" in reply and "will never happen" in reply and "Nobody is named" in reply
    # away
    for text, expected in (
        ("away until 2020-01-01", "in the past"),
        ("away until 2h delegate @alice", "yourself"),
        ("away until 2h delegate @erin", "is deactivated"),
        ("away until 2h delegate bob", "Bad delegate"),
        ("away until tomorrow", "Usage"),
        ("away until 100d", "out of range"),
        ("away until 2026-02-30", "Bad date"),
        ("away sometime", "Usage"),
    ):
        reply = await say(slack, text)
        assert expected in reply, (text, reply)
    assert await store.away.get(ALICE, now=time.time()) is None  # nothing changed
    refused = [e for e in await audit_events(worker, "refused") if e.get("delegate")]
    assert [e["delegate"] for e in refused] == [ALICE, ERIN]


async def test_only_an_admin_may_widen_who_decides_by_escalation(slack: SlackStandIn, worker: Worker) -> None:
    await say(slack, "config approvers @bob", user=BOB)  # narrowing: anyone may, while no admins are named
    reply = await say(slack, "config escalate_to @dave", user=BOB)
    assert "widens who may decide" in reply and "Setting unchanged" in reply
    refused = (await audit_events(worker, "refused"))[-1]
    assert refused["by"] == BOB and refused["setting"] == "escalate_to" and refused["reason"] == "needs an admin"
    await name_admins(worker, ALICE)
    assert f"now <@{DAVE}>" in await say(slack, "config escalate_to @dave", user=ALICE)
    assert "Only <@U0ALICE> may change" in await say(slack, "config escalate_after 5m", user=BOB)


# ------------------------------------------------------------------------------------------- timeout never
async def test_waits_that_never_expire_show_their_age_in_status_home_and_metrics(
    slack: SlackStandIn, worker: Worker
) -> None:
    await name_admins(worker, ALICE)
    await say(slack, "config approvers @bob")
    reply = await say(slack, "config timeout never")
    assert "never time out" in reply and "reminders are the only nudge" in reply and "remind 1h,4h" in reply
    await open_homes(slack, BOB)
    await start_run(slack)
    card = await pending_card(slack)
    approval = await worker.services.store.approvals.get(approval_id_of(card))
    assert approval is not None and approval.never_times_out and approval.deadline == 0
    store = worker.services.store
    assert await store.redis.zscore(store.keys.deadlines, approval.id) is None  # no timeout will fire
    status = await say(slack, "status")
    assert "waiting" in status and "never times out" in status
    await slack.wait_for(lambda: approval.id in waiting_in_home(slack, BOB))
    assert "Never times out" in home_text(slack, BOB)
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/metrics") as response:
        metrics = await response.text()
    assert f'hitl_oldest_waiting_seconds{{channel="{SALES}"}}' in metrics
    assert f'hitl_waiting_approvals{{channel="{SALES}"}} 1.0' in metrics


# ------------------------------------------------------------------------------------------- kill -9
@pytest.mark.slow
async def test_every_reminder_once_across_kill_9_and_a_restart(
    cluster: Cluster, slack: SlackStandIn, store: Store
) -> None:
    first = await cluster.start()
    second = await cluster.start()
    slack.events_url = first.events  # the first worker starts the run: it owns it
    await say(slack, "config approvers @bob")
    await say(slack, "config timeout never")
    await say(slack, "config remind 2s,6s,14s")
    run_id = await start_run(slack)
    card = await pending_card(slack, within=20)
    await slack.wait_for(lambda: len(reminders(slack, card)) == 1, timeout=10)
    first.kill()  # the owner, between two reminders
    slack.events_url = second.events
    await slack.wait_for(lambda: len(reminders(slack, card)) == 2, timeout=15, description="the survivor's reminder")
    second.kill()  # every worker gone: the approval waits in Redis alone
    third = await cluster.start()
    slack.events_url = third.events
    await slack.wait_for(lambda: len(reminders(slack, card)) == 3, timeout=20, description="after the restart")
    assert [r.split("*")[1] for r in reminders(slack, card)] == [f"Reminder {n} of 3" for n in (1, 2, 3)]
    assert (await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")).status == 200
    await run_status(store, run_id, "completed", within=40)
    told = [e for e in await store.audit.entries() if e["event"] == "reminded"]
    assert sorted(e["step"] for e in told) == ["1", "2", "3"]  # each once
    assert len(reminders(slack, card)) == 3


# ------------------------------------------------------------------------------------------- /agent report (#17)
async def test_agent_report_gives_this_channels_headline_numbers(slack: SlackStandIn, worker: Worker) -> None:
    assert "No decisions in this period" in await say(slack, "report")
    run_id = await start_run(slack)
    card = await pending_card(slack)
    await click(slack, BOB, card)
    assert (await finished(worker, run_id)).status == "completed"
    reply = await say(slack, "report")
    assert f"Approvals in <#{SALES}>, last 7 days" in reply
    assert "1 decision: 1 approved, 0 rejected" in reply and "Timeout rate: 0% (0 of 1)" in reply
    assert f"Busiest approver: <@{BOB}>" in reply and "Waiting now: 0" in reply
    other = await say(slack, "report", channel="C0GENERAL")  # another channel: its own numbers
    assert "<#C0GENERAL>" in other and "No decisions in this period" in other

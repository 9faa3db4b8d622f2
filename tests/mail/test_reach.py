"""A route that moves across surfaces (issue 90, item 3), as a user runs it: a real worker serving the local Slack and
the local mail catcher, the channel's `reach` set to `slack; email after 2s`. The Slack step DMs Bob his card at the
ask, the e-mail step mails him (his verified address) after two seconds and not before, in that order, each said on
the card and audited once; an approval decided before a step's time sends nothing after; a second worker started
alongside sends no step twice; a worker killed (kill -9, a real process) between two steps leaves the next one to
the next worker, sent once."""

from __future__ import annotations

import time

import pytest

from bot.core.reach import reached_items
from bot.devmail.catcher import MailCatcher
from bot.devslack.server import SlackStandIn
from bot.report.entries import entry_time
from bot.report.oversight import compute_oversight
from bot.store import Store
from tests.conftest import APPROVALS, BOB, SALES, Worker, bot_env, start_worker
from tests.support.api import Client, tool_ask
from tests.support.cluster import Cluster
from tests.support.hitl import click, nth_card, until
from tests.support.mail import email_env
from tests.support.reach import approved, dm_cards, mails, no_step_left, route_asked, steps_kept

pytestmark = pytest.mark.slow  # a worker serving Slack and e-mail (two, in one test)


async def test_a_route_reaches_slack_then_email_after_its_time_once_and_says_it_on_the_card(
    mailing: Worker, slack: SlackStandIn, mail: MailCatcher, redis_url: str
) -> None:
    other = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None,
                                       **email_env(slack, mail)))
    try:
        approval = await route_asked(mailing, "slack; email after 2s")
        store = mailing.services.store
        record = await store.approvals.get(approval)
        assert record is not None and record.reach_route == "slack; email after 2s"
        await until(lambda: dm_cards(slack, approval), within=10, what="the Slack step's DM to Bob")
        if time.time() < record.created_at + 1.8:  # (the DM came first: the mail is not there yet)
            assert not mails(mail, approval)
        [caught] = await until(lambda: mails(mail, approval), within=15, what="the e-mail step's mail")
        arrived = time.time()
        assert arrived >= record.created_at + 2  # not before its step's time
        assert "Review and decide" in caught.text

        async def both_said() -> list[dict[str, object]] | None:
            items = await steps_kept(mailing, approval)
            return items if len(items) == 2 else None

        items = await until(both_said, within=10, what="both steps kept on the approval")
        assert [(i["step"], i["surface"], i["outcome"], i["people"]) for i in items] == [
            (1, "slack", "sent", [BOB]), (2, "email", "sent", [BOB])]
        assert float(str(items[0]["at"])) <= float(str(items[1]["at"]))
        assert float(str(items[1]["at"])) >= record.created_at + 2

        def said_on_card() -> bool:
            text = str(slack.messages(APPROVALS))
            return "Sent in Slack to" in text and "Sent by e-mail to" in text

        await until(said_on_card, within=10, what="the steps on the card")
        await until(lambda: no_step_left(mailing, approval), within=10, what="the route done")
        entries = [e for e in await store.audit.entries() if e["event"] == "reached" and e["approval"] == approval]
        assert [(e["step"], e["surface"], e["outcome"]) for e in entries] == [("1", "slack", "sent"),
                                                                               ("2", "email", "sent")]
        assert len(mails(mail, approval)) == 1 and len(dm_cards(slack, approval)) == 1  # once, two workers

        # Bob decides from his DM: the oversight report's reach figures are the audit's
        dm = dm_cards(slack, approval)[0]
        done = await slack.click(user=BOB, channel=slack.dm_channel(BOB), ts=str(dm["ts"]),
                                 action_id="approval_approve")
        assert done.status == 200
        await until(lambda: approved(mailing, approval), within=10, what="approved from the DM")
        log = await store.audit.entries()
        figures = compute_oversight(log, since=record.created_at - 1, until=time.time() + 1).reach
        [asked_at] = [entry_time(e) for e in log if e["event"] == "requested" and e.get("approval") == approval]
        [decision] = [e for e in log if e["event"] == "decision" and e.get("approval") == approval]
        decided_at = entry_time(decision)
        assert asked_at is not None and decided_at is not None and decision["surface"] == "slack"
        [surface] = figures.surfaces
        assert (surface.label, surface.decided, surface.p50_ms) == ("slack", 1, round((decided_at - asked_at) * 1000))
        assert [(s.label, s.decided) for s in figures.steps] == [("1 · slack", 1), ("2 · email", 1)]
        step_at = {e["step"]: entry_time(e) for e in entries}
        assert [s.p50_ms for s in figures.steps] == [round((decided_at - float(step_at[n] or 0)) * 1000)
                                                     for n in ("1", "2")]
    finally:
        await other.stop()


async def test_a_decision_before_a_step_stops_the_route(mailing: Worker, slack: SlackStandIn,
                                                        mail: MailCatcher) -> None:
    approval = await route_asked(mailing, "slack; email after 3s")
    await until(lambda: dm_cards(slack, approval), within=10, what="the Slack step's DM to Bob")
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    store = mailing.services.store

    await until(lambda: approved(mailing, approval), within=10, what="approved")
    await until(lambda: no_step_left(mailing, approval), within=15, what="the route's due entry gone")
    record = await store.approvals.get(approval)
    assert record is not None and time.time() >= record.created_at + 3  # (gone only once its time came)
    assert record.reach_done == 1 and len(reached_items(record.reached)) == 1
    assert not mails(mail, approval)


async def test_a_worker_killed_between_steps_leaves_the_next_step_to_another_once(
    cluster: Cluster, slack: SlackStandIn, mail: MailCatcher, store: Store
) -> None:
    env = email_env(slack, mail)
    first = await cluster.start(**env)
    await store.settings.set(SALES, "approvers", BOB, by="operator")
    await store.settings.set(SALES, "reach", "slack; email after 6s", by="operator")
    made = await store.api_keys.create("nightly", (SALES,), by="test")
    assert made is not None
    status, answer = await Client(first, made.key).ask(tool_ask())
    assert status == 201, answer
    approval = str(answer["id"])
    await until(lambda: dm_cards(slack, approval), within=15, what="the Slack step, by the first worker")
    await until(lambda: _steps_audited(store, approval, 1), within=10, what="the Slack step done")
    assert not mails(mail, approval)
    first.kill()  # kill -9, between the two steps
    await cluster.start(**env)
    [caught] = await until(lambda: mails(mail, approval), within=40, what="the e-mail step, by the next worker")
    assert "Review and decide" in caught.text
    await until(lambda: _steps_audited(store, approval, 2), within=10, what="both steps audited")
    record = await store.approvals.get(approval)
    assert record is not None and time.time() >= record.created_at + 6
    assert [(i["step"], i["surface"]) for i in reached_items(record.reached)] == [(1, "slack"), (2, "email")]
    entries = [e for e in await store.audit.entries() if e["event"] == "reached" and e["approval"] == approval]
    assert [(e["step"], e["surface"]) for e in entries] == [("1", "slack"), ("2", "email")]  # each once
    assert len(mails(mail, approval)) == 1 and len(dm_cards(slack, approval)) == 1


async def _steps_audited(store: Store, approval: str, count: int) -> bool:
    entries = [e for e in await store.audit.entries() if e["event"] == "reached" and e["approval"] == approval]
    return len(entries) >= count

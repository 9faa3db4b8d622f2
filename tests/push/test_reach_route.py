"""A route across surfaces with push (issue 90, items 3 and 1 together), as a user runs it: a real worker serving the
local Slack, the local mail catcher and the local push service, the channel's `reach` set to
`slack; push after 1s; email after 2s` (the issue's "slack; push after 5s; email after 10s", scaled). Bob, with a
phone subscribed, is DMed at the ask, pushed after a second (not as it opens: the route says when), mailed after two,
in that order, each once, and the card says both; decided between the push and the e-mail, no mail is sent
(that route's e-mail after 4s, time to click)."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from bot.core.reach import reached_items
from bot.devmail.catcher import MailCatcher
from bot.devpush.service import PushService, Received
from bot.devslack.server import SlackStandIn
from bot.store import Store
from bot.store.push import Subscription
from tests.conftest import APPROVALS, BOB, Worker, bot_env, start_worker
from tests.support.hitl import until
from tests.support.mail import email_env
from tests.support.push import push_env
from tests.support.reach import approved, dm_cards, mails, no_step_left, route_asked, steps_kept

pytestmark = pytest.mark.slow  # a worker, the local Slack, the mail catcher and the local push service
ROUTE = "slack; push after 1s; email after 2s"


@pytest.fixture
async def reaching(slack: SlackStandIn, mail: MailCatcher, push_service: PushService,
                   redis_url: str) -> AsyncIterator[Worker]:
    """A worker serving Slack, e-mail and Web Push."""
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None,
                                        **{**email_env(slack, mail), **push_env(slack, push_service)}))
    slack.events_url = worker.url + "/slack/events"
    yield worker
    await worker.stop()


async def device(store: Store, service: PushService, person: str) -> str:
    """A device of `person` kept (as their page posts it): its endpoint."""
    made = service.new_device(person)
    kept = Subscription(endpoint=made["endpoint"], p256dh=made["keys"]["p256dh"], auth=made["keys"]["auth"],
                        added=time.time())
    assert await store.push.subscribe(person, kept, limit=10) == "added"
    return str(made["endpoint"])


def pushes(service: PushService, phone: str, approval: str) -> list[Received]:
    return [p for p in service.pushes(phone) if p.data.get("approval") == approval]


async def asked(worker: Worker, service: PushService, route: str = ROUTE) -> tuple[str, str]:
    """Bob's phone subscribed, the channel's route set, an ask made: (its approval, Bob's phone's endpoint)."""
    phone = await device(worker.services.store, service, BOB)
    return await route_asked(worker, route), phone


async def test_a_route_reaches_bob_by_push_then_by_email_each_after_its_time_once(
    reaching: Worker, slack: SlackStandIn, mail: MailCatcher, push_service: PushService
) -> None:
    approval, phone = await asked(reaching, push_service)
    store = reaching.services.store
    record = await store.approvals.get(approval)
    assert record is not None and record.reach_route == ROUTE
    await until(lambda: dm_cards(slack, approval), within=10, what="the Slack step's DM to Bob")
    [pushed] = await until(lambda: pushes(push_service, phone, approval), within=10, what="the push step")
    assert pushed.at >= record.created_at + 1 and pushed.data["kind"] == "reached"  # its time, not as it opened
    [caught] = await until(lambda: mails(mail, approval), within=15, what="the e-mail step's mail")
    assert time.time() >= record.created_at + 2 and "Review and decide" in caught.text

    async def three_said() -> list[dict[str, Any]] | None:
        items = await steps_kept(reaching, approval)
        return items if len(items) == 3 else None

    items = await until(three_said, within=10, what="the three steps kept on the approval")
    assert [(i["step"], i["surface"], i["outcome"], i["people"]) for i in items] == [
        (1, "slack", "sent", [BOB]), (2, "push", "sent", [BOB]), (3, "email", "sent", [BOB])]
    at = [float(i["at"]) for i in items]
    assert at == sorted(at) and at[1] >= record.created_at + 1 and at[2] >= record.created_at + 2
    assert pushed.at <= at[2]  # the push came before the e-mail step was taken

    def said_on_card() -> bool:
        text = str(slack.messages(APPROVALS))
        return "Sent by push to" in text and "Sent by e-mail to" in text

    await until(said_on_card, within=10, what="both steps on the card")
    await until(lambda: no_step_left(reaching, approval), within=10, what="the route done")
    entries = [e for e in await store.audit.entries() if e["event"] == "reached" and e["approval"] == approval]
    assert [(e["step"], e["surface"], e["outcome"]) for e in entries] == [
        ("1", "slack", "sent"), ("2", "push", "sent"), ("3", "email", "sent")]
    assert len(pushes(push_service, phone, approval)) == 1 and len(mails(mail, approval)) == 1  # each once


async def test_decided_between_the_push_and_the_email_no_mail_is_sent(
    reaching: Worker, slack: SlackStandIn, mail: MailCatcher, push_service: PushService
) -> None:
    approval, phone = await asked(reaching, push_service, "slack; push after 1s; email after 4s")  # (time to click)
    store = reaching.services.store
    await until(lambda: pushes(push_service, phone, approval), within=10, what="the push step")
    record = await store.approvals.get(approval)
    assert record is not None and time.time() < record.created_at + 4, "too slow to decide before the e-mail step"
    [dm] = dm_cards(slack, approval)
    done = await slack.click(user=BOB, channel=slack.dm_channel(BOB), ts=str(dm["ts"]), action_id="approval_approve")
    assert done.status == 200

    await until(lambda: approved(reaching, approval), within=10, what="approved from the DM")
    await until(lambda: no_step_left(reaching, approval), within=15, what="the route's due entry gone")
    record = await store.approvals.get(approval)
    assert record is not None and time.time() >= record.created_at + 4  # (gone only once the e-mail's time came)
    assert record.reach_done == 2 and [i["surface"] for i in reached_items(record.reached)] == ["slack", "push"]
    assert not mails(mail, approval) and len(pushes(push_service, phone, approval)) == 1

"""A reminder's mail exactly once (issue 88): a worker killed between marking a step published
(lua/nudge_publish.lua, the approval's `published` field) and the e-mail surface claiming its mail loses nothing,
because the same Lua step puts the approval in the e-mail's due set (the store told it by the root,
`Nudges.published_to`).
The fault: the Lua step run alone, as a nudger runs it (its `Nudged` event never published: the worker gone in
that instant); a real worker's e-mail due work then sends the reminder, once; a second worker started and the
approval due again in the e-mail's set, nothing more is sent."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from bot.devmail.catcher import Caught, MailCatcher
from bot.devslack.server import SlackStandIn
from tests.conftest import SALES, Worker, bot_env, start_worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import until
from tests.support.mail import ERIN, ERIN_ADDRESS, email_env

pytestmark = pytest.mark.slow  # two workers serving Slack and e-mail


def mails(mail: MailCatcher, approval: str, subject: str) -> Sequence[Caught]:
    return [m for m in mail.inbox(ERIN_ADDRESS)
            if m.subject.startswith(subject) and any(f"/email/{approval}/" in link for link in m.links)]


async def test_a_reminder_published_by_a_worker_that_died_before_its_mail_is_mailed_once(
    mailing: Worker, slack: SlackStandIn, mail: MailCatcher, redis_url: str
) -> None:
    store = mailing.services.store
    await store.settings.set(SALES, "approvers", ERIN, by="operator")
    await store.settings.set(SALES, "remind", "300", by="operator")  # its first step: a reminder, in 5 minutes
    client = Client(mailing, (await new_key(mailing)).key)
    status, asked = await client.ask(tool_ask())
    assert status == 201, asked
    approval = str(asked["id"])
    await until(lambda: mails(mail, approval, "Waiting for your decision"), within=15, what="the opening mail")
    await until(lambda: _drained(mailing, approval), within=15, what="the opening mail's due entry gone")

    # the nudger's publishing step alone: step 1 marked published, its event never said (the worker died then)
    assert await store.nudges.publishing(approval, ordinal=1) == "ok"
    assert await store.nudges.published(approval) == 1
    [reminder] = await until(lambda: mails(mail, approval, "Reminder"), within=20,
                             what="the reminder mailed by the e-mail's due work")
    assert "Review and decide" in reminder.text
    assert await store.nudges.publishing(approval, ordinal=1) == "already"  # a retry of its Slack post: no more

    other = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None,
                                       **email_env(slack, mail)))
    try:  # a second worker, and the approval due again in the e-mail's set: both drain it, nothing is sent again
        await until(lambda: _drained(mailing, approval), within=15, what="the reminder's due entry gone")
        await store.email_due.add(approval, due=0.0)
        await until(lambda: _drained(other, approval), within=15, what="drained again")
    finally:
        await other.stop()
    assert len(mails(mail, approval, "Reminder")) == 1
    assert len(mails(mail, approval, "Waiting for your decision")) == 1
    record = await store.approvals.get(approval)
    assert record is not None and record.status == "pending" and record.nudged == 0  # (not told in Slack)


async def _drained(worker: Worker, approval: str) -> bool:
    return await worker.services.store.email_due.at(approval) is None

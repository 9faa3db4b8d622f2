"""One surface down holds no other (issue 88, "a Slack outage delays no e-mail and an SMTP outage delays no Slack
card"): a real worker serving the local Slack, the local Teams and the local mail catcher, Erin an e-mail-only
approver. While the local Slack refuses to post, Erin's reminder is mailed, once however often the Slack post is
tried again (bot/approvals/nudges.py publishes a step before Slack is tried, once: lua/nudge_publish.lua); Slack back,
the reminder is posted in the card's thread once."""

from __future__ import annotations

import json

import pytest

from bot.devmail.catcher import Caught, MailCatcher
from bot.devslack.server import SlackStandIn
from tests.conftest import SALES
from tests.support.hitl import nth_card, until
from tests.support.mail import ERIN, ERIN_ADDRESS, email_env
from tests.support.teams import World

pytestmark = pytest.mark.slow  # a worker serving Slack, Teams and e-mail
POSTS = "chat.postMessage"


@pytest.fixture
def world_env(slack: SlackStandIn, mail: MailCatcher) -> dict[str, str]:
    return email_env(slack, mail)


def mails(mail: MailCatcher, approval: str, subject: str) -> list[Caught]:
    """Erin's mails about `approval` whose subject starts with `subject`."""
    return [m for m in mail.inbox(ERIN_ADDRESS)
            if m.subject.startswith(subject) and any(f"/email/{approval}/" in link for link in m.links)]


def thread_posts(slack: SlackStandIn, card_ts: str, *, ok: bool) -> int:
    """How many posts in the card's thread Slack took (`ok`) or refused."""
    return len([c for c in slack.calls(POSTS) if c.ok == ok and c.args.get("thread_ts") == card_ts])


def not_posted(caplog: pytest.LogCaptureFixture, approval: str) -> list[str]:
    """The nudger's tries of `approval`'s reminder that Slack refused (each a claim of it, then due again)."""
    return [r.getMessage() for r in caplog.records
            if approval in r.getMessage() and "a reminder was not posted" in r.getMessage()]


async def test_while_slack_refuses_to_post_an_email_approver_gets_the_reminder_once(
    world: World, mail: MailCatcher, caplog: pytest.LogCaptureFixture
) -> None:
    store = world.worker.services.store
    await store.settings.set(SALES, "approvers", ERIN, by="operator")
    await store.settings.set(SALES, "remind", "3", by="operator")  # seconds, as stored
    approval = await world.ask()
    card = await nth_card(world.slack, 1)
    world.slack.fail(method=POSTS, status=503, count=1_000_000)  # Slack down: no post in the card's thread
    await until(lambda: mails(mail, approval, "Waiting for your decision"), within=15, what="the opening mail")

    [reminder] = await until(lambda: mails(mail, approval, "Reminder"), within=20, what="the reminder's mail")
    assert "Review and decide" in reminder.text
    await until(lambda: len(not_posted(caplog, approval)) >= 2, within=40,
                what="the reminder's Slack post tried again")  # at the nudge's claim's end: publishing nothing
    assert len(mails(mail, approval, "Reminder")) == 1
    record = await store.approvals.get(approval)
    assert record is not None and record.status == "pending" and record.nudged == 0  # not told in Slack yet

    world.slack.heal(POSTS)
    await until(lambda: thread_posts(world.slack, card["ts"], ok=True) == 1, within=40, what="the reminder posted")
    entries = [e for e in await store.audit.entries() if e["event"] == "reminded" and e["approval"] == approval]
    assert [e["step"] for e in entries] == ["1"]
    posted = [c for c in world.slack.calls(POSTS) if c.ok and c.args.get("thread_ts") == card["ts"]]
    assert "remind-1" in json.dumps(posted[0].args.get("metadata"))
    assert len(mails(mail, approval, "Reminder")) == 1

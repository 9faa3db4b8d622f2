"""One surface down holds no other (issue 88, "a Slack outage delays no e-mail and an SMTP outage delays no Slack
card"): a real worker serving the local Slack, the local Teams and the local mail catcher, Erin an e-mail-only
approver. While the local Slack refuses to post, Erin's reminder is mailed, once however often the Slack post is
tried again (bot/approvals/nudges.py publishes a step before Slack is tried, once: lua/nudge_publish.lua); Slack back,
the reminder is posted in the card's thread once. Slack refusing the bot token, Erin's opening mail comes all the
same (the approval waits for her, not cancelled). The mail server down (the catcher stopped), the Slack card is
posted at once, the mail's failure is counted (`hitl_email_sent_total{outcome="retry"}`) and it is sent by the
e-mail's due work once the server is back."""

from __future__ import annotations

import json
import time

import pytest

from bot.devmail.catcher import Caught, MailCatcher
from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, SALES
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

    async def reminded() -> list[str]:
        entries = await store.audit.entries()
        return [e["step"] for e in entries if e["event"] == "reminded" and e["approval"] == approval]

    assert await until(reminded, what="the reminder noted told") == ["1"]
    posted = [c for c in world.slack.calls(POSTS) if c.ok and c.args.get("thread_ts") == card["ts"]]
    assert "remind-1" in json.dumps(posted[0].args.get("metadata"))
    assert len(mails(mail, approval, "Reminder")) == 1


async def test_while_slack_refuses_to_post_an_email_approver_gets_the_opening_mail(world: World,
                                                                                   mail: MailCatcher) -> None:
    store = world.worker.services.store
    await store.settings.set(SALES, "approvers", ERIN, by="operator")
    world.slack.revoke_token()  # Slack refusing the bot (#87's outage): every call refused `token_revoked`
    approval = await world.ask()
    [opened] = await until(lambda: mails(mail, approval, "Waiting for your decision"), within=15,
                           what="the opening mail while Slack refuses the bot")
    assert "Review and decide" in opened.text and not [c for c in world.slack.calls(POSTS) if c.ok]
    record = await store.approvals.get(approval)
    assert record is not None and record.status == "pending"


def emails(world: World, outcome: str) -> float:
    found = world.worker.services.metrics.registry.get_sample_value("hitl_email_sent_total", {"outcome": outcome})
    return found or 0.0


async def test_while_the_mail_server_is_down_the_slack_card_is_posted_and_the_mail_comes_after(
    world: World, mail: MailCatcher
) -> None:
    store = world.worker.services.store
    await store.settings.set(SALES, "approvers", f"{BOB},{ERIN}", by="operator")
    mail.stop()  # the mail server down: nothing listens at SMTP_URL
    approval = await world.ask()
    card = await nth_card(world.slack, 1)  # the Slack card, posted all the same
    assert approval in json.dumps(card)
    await until(lambda: emails(world, "retry") >= 1, within=20, what="the mail's failure counted")
    assert mails(mail, approval, "Waiting") == [] and emails(world, "sent") == 0
    due = await store.email_due.at(approval)
    assert due is not None and due > time.time() + 5  # due again at its retry time (30 s), the e-mail's due work

    mail.start()  # the mail server back: the retry sends it, once
    [came] = await until(lambda: mails(mail, approval, "Waiting for your decision"), within=60,
                         what="the mail once the server is back")
    assert "Review and decide" in came.text
    await until(lambda: emails(world, "sent") == 1, what="the mail counted sent")
    record = await store.approvals.get(approval)
    assert record is not None and record.status == "pending" and record.card_ts == card["ts"]

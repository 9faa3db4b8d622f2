"""Sending an approval's e-mail (bot/email/sender.py, messages.py, issue 88) through real SMTP to the local mail
catcher (bot/devmail/, aiosmtpd) with the tests' redis-server: the mail's two parts (a `<script>` in the title is
text; no hidden value in either part; the card's words and the link), sent once per approval, person and kind
(two senders at once: one mail), a mail server down or refusing: a retry due on the schedule, then given up, each
counted in `hitl_email_sent_total{outcome}`; SMTP_URL read (its password never shown)."""

from __future__ import annotations

import asyncio
import json
import socket
import time
from dataclasses import replace

import pytest

from bot.core.email_settings import EmailSettings, SmtpServer, smtp_server
from bot.core.metrics import Metrics
from bot.core.records import ApprovalRecord
from bot.core.settings import Settings, SettingsError
from bot.devmail.catcher import MailCatcher
from bot.devslack.server import SlackStandIn
from bot.email.messages import approval_mail
from bot.email.sender import RETRIES, Mail, Result, Sender
from bot.redaction import Hiding
from bot.store import Store
from tests.conftest import bot_env
from tests.support.records import approval

CAROL = "carol@example.com"
LINK = "https://approvals.example.com/email/a1b2c3d4-0000/nonce.mac"
SECRET = "sk_live_51HqLyjWDarjtT1zdp7dcXYZabcdefghijklmnop"
HOSTILE = "Deploy <script>alert(1)</script> & <b>now</b>"


def sender_of(store: Store, url: str, metrics: Metrics | None = None) -> Sender:
    return Sender(store=store.email, server=smtp_server(url), sender="approvals@example.com",
                  reply_to="team@example.com", counter=None if metrics is None else metrics.email_sent, timeout=2.0)


def mail_of(record: ApprovalRecord, *, kind: str = "opened") -> Mail:
    return Mail(approval_id=record.id, person=f"email:{CAROL}", kind=kind, to=CAROL,
                rendered=approval_mail(record, link=LINK, kind=kind, names={"U0ALICE": "Alice"}), keep=3600)


def sent(metrics: Metrics, outcome: str) -> float:
    return metrics.registry.get_sample_value("hitl_email_sent_total", {"outcome": outcome}) or 0.0


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])  # nothing listens there once closed: the mail server is down


async def hidden_call(store: Store) -> ApprovalRecord:
    """A tool call whose arguments carry an API key, hidden as the chain's end stores it (bot/redaction)."""
    call = replace(approval(), kind="tool_call", tool_name="charge", task=HOSTILE, claim="the invoice is due",
                   arguments=json.dumps({"amount": 30, "api_key": SECRET}), sla_seconds=900,
                   author="mailer", asked_by="billing-bot")
    return await Hiding(store, rules=dict).hide(call, keep=False)


async def test_the_mail_is_sent_with_the_cards_words_escaped_and_nothing_hidden(store: Store,
                                                                                mail: MailCatcher) -> None:
    record = await hidden_call(store)
    assert SECRET not in record.arguments  # (as Redis keeps it)
    metrics = Metrics()
    result = await sender_of(store, mail.smtp_url, metrics).send(mail_of(record))
    assert result.outcome == "sent" and result.attempts == 1
    [got] = await mail.arrived(CAROL)
    assert got.subject.startswith("Waiting for your decision: Deploy <script>")
    assert got.message_id == result.message_id and got.sender == "approvals@example.com"
    assert "<script>" not in got.html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;" in got.html
    assert HOSTILE in got.text  # plain text is plain: the title as written
    for part in (got.text, got.html):
        assert SECRET not in part and SECRET[:12] not in part
        assert "the agent calling itself “mailer”" in part and "asked by Alice" in part
        assert "The agent says: “the invoice is due”" in part and "Service level 15m" in part
        assert "charge" in part
    assert f'href="{LINK}"' in got.html and ">Review and decide</a>" in got.html
    assert got.links == (LINK,)
    assert sent(metrics, "sent") == 1 and sent(metrics, "failed") == 0
    view = json.loads(mail.view_json())
    assert [m["subject"] for m in view["inboxes"][CAROL]] == [got.subject]


async def test_the_first_hunk_of_a_change_is_in_the_mail(store: Store, mail: MailCatcher) -> None:
    artifacts = [{"kind": "file", "path": "src/prices.py", "before": "price = 10\n", "after": "price = 12\n"}]
    record = replace(approval(), task="Raise the price", artifacts=json.dumps(artifacts))
    await sender_of(store, mail.smtp_url).send(mail_of(record))
    [got] = await mail.arrived(CAROL)
    for part in (got.text, got.html):
        assert "--- src/prices.py" in part and "-price = 10" in part and "+price = 12" in part


async def test_a_mail_is_sent_once_even_when_two_senders_race(store: Store, other_store: Store,
                                                              mail: MailCatcher) -> None:
    record = approval()
    senders = [sender_of(s, mail.smtp_url) for s in (store, other_store) for _ in range(3)]
    found = await asyncio.gather(*(s.send(mail_of(record)) for s in senders))
    assert sorted(r.outcome for r in found) == ["busy"] * 5 + ["sent"]
    assert len(await mail.arrived(CAROL)) == 1
    assert (await senders[0].send(mail_of(record))).outcome == "already"
    await sender_of(store, mail.smtp_url).send(mail_of(record, kind="reminded"))  # another kind: its own mail
    assert [m.subject.split(":")[0] for m in await mail.arrived(CAROL, count=2)] == [
        "Waiting for your decision", "Reminder"]
    await asyncio.sleep(0.2)
    assert len(mail.inbox(CAROL)) == 2


async def test_a_mail_server_down_is_retried_on_the_schedule_then_given_up(store: Store) -> None:
    metrics = Metrics()
    sender = sender_of(store, f"smtp://127.0.0.1:{closed_port()}", metrics)
    record, now = approval(), time.time()
    outcomes: list[Result] = []
    for wait in (0.0, *RETRIES):
        now += wait
        early = await sender.send(mail_of(record), now=now - 1) if wait else None
        assert early is None or early.outcome == "later"  # not before its time
        outcomes.append(await sender.send(mail_of(record), now=now))
    assert [r.outcome for r in outcomes] == ["retry"] * 4 + ["failed"]
    assert [round(r.at - n) for r, n in zip(outcomes[:4], _times(now, RETRIES), strict=True)] == list(
        map(round, RETRIES))
    assert (await sender.send(mail_of(record), now=now + 86400)).outcome == "given_up"
    assert sent(metrics, "retry") == 4 and sent(metrics, "failed") == 1 and sent(metrics, "sent") == 0
    state = await store.email.sent_state(record.id, person=f"email:{CAROL}", kind="opened")
    assert state == "failed:5"


def _times(end: float, retries: tuple[float, ...]) -> list[float]:
    """When each try was made, from the last one's time back."""
    found = [end]
    for wait in reversed(retries):
        found.insert(0, found[0] - wait)
    return found[:-1]


async def test_a_refusing_server_is_tried_again_and_the_mail_goes_once_it_takes_it(store: Store,
                                                                                  mail: MailCatcher) -> None:
    metrics = Metrics()
    sender, record, now = sender_of(store, mail.smtp_url, metrics), approval(), time.time()
    mail.refusing = True
    first = await sender.send(mail_of(record), now=now)
    assert first.outcome == "retry" and round(first.at - now) == RETRIES[0]
    mail.refusing = False
    second = await sender.send(mail_of(record), now=first.at)
    assert second.outcome == "sent" and second.attempts == 2
    assert len(await mail.arrived(CAROL)) == 1
    assert sent(metrics, "retry") == 1 and sent(metrics, "sent") == 1


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_the_credentials_of_smtp_url_log_in(store: Store) -> None:
    with MailCatcher(login=("mailer@example.com", "p@ss word")) as asking:
        wrong = sender_of(store, f"smtp://mailer%40example.com:nope@127.0.0.1:{asking.port}")
        assert (await wrong.send(mail_of(approval()))).outcome == "retry"  # a 535: tried again, then given up
        right = sender_of(store, f"smtp://mailer%40example.com:p%40ss%20word@127.0.0.1:{asking.port}")
        assert (await right.send(mail_of(approval("b1b2c3d4-0000")))).outcome == "sent"
        assert len(await asking.arrived(CAROL)) == 1


def test_smtp_url_is_read_and_its_password_never_shown() -> None:
    tls = smtp_server("smtps://mailer%40example.com:p%40ss@mail.example.com")
    assert tls == SmtpServer(host="mail.example.com", port=465, tls=True, username="mailer@example.com",
                             password="p@ss")
    assert "p@ss" not in repr(tls) and "p%40ss" not in repr(tls)
    assert smtp_server("smtp://127.0.0.1:2525") == SmtpServer(host="127.0.0.1", port=2525, tls=False)
    assert smtp_server("smtp://mail.example.com").port == 587
    for bad in ("http://mail.example.com", "smtp://", "smtp://host:99999", "smtp://host/path?q=1"):
        with pytest.raises(ValueError, match="SMTP_URL"):
            smtp_server(bad)
    settings = EmailSettings.model_validate({"SMTP_URL": "smtps://u:hunter2@mail.example.com",
                                             "EMAIL_FROM": "approvals@example.com"})
    assert settings.smtp is not None and settings.smtp.tls and "hunter2" not in repr(settings)
    assert EmailSettings.model_validate({}).smtp is None


def test_the_workers_settings_read_the_email_variables_and_never_show_the_password(slack: SlackStandIn) -> None:
    env = bot_env(slack=slack, redis_url="redis://127.0.0.1:1/0", model_config=None)
    made = Settings.from_env({**env, "SMTP_URL": "smtp://u:hunter2@mail.example.com:2525",
                              "EMAIL_FROM": "approvals@example.com", "EMAIL_REPLY_TO": "team@example.com"})
    assert made.smtp == SmtpServer(host="mail.example.com", port=2525, tls=False, username="u", password="hunter2")
    assert made.email_reply_to == "team@example.com" and "hunter2" not in repr(made)
    for wrong, said in (({"SMTP_URL": "smtp://u:hunter2@mail.example.com"}, "EMAIL_FROM"),
                        ({"SMTP_URL": "ftp://u:hunter2@x", "EMAIL_FROM": "a@example.com"}, "smtp://"),
                        ({"EMAIL_REPLY_TO": "not an address"}, "EMAIL_REPLY_TO")):
        with pytest.raises(SettingsError, match=said) as refused:
            Settings.from_env({**env, **wrong})
        assert "hunter2" not in str(refused.value)
    assert Settings.from_env(env).smtp is None

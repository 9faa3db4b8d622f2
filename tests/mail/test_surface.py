"""The e-mail surface as a worker runs it (bot/email/surface.py, issue 88), with the tests' redis-server and the local
mail catcher (bot/devmail/): an approval opened pending for a Slack user and `email:carol@…` puts one send in the
e-mail due set and carol gets one mail (HTML and text, its link the page's), nobody else; a reminder mails her too;
a mail server refusing (451) keeps the approval due at its retry time, and a mail given up is audited."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import replace

import pytest

from bot.approvals.events import ApprovalOpened, Nudged
from bot.approvals.opening import Opened
from bot.core.metrics import Metrics
from bot.core.records import ApprovalRecord
from bot.core.settings import Settings, SettingsError
from bot.devmail.catcher import MailCatcher
from bot.devslack.server import SlackStandIn
from bot.email.surface import EmailSurface
from bot.root import create_services
from bot.runs.supervisor import Drain
from bot.services import due_parts
from bot.store import Store
from tests.conftest import bot_env
from tests.support.hitl import until
from tests.support.mail import KEY, surface_of
from tests.support.records import approval

CAROL = "carol@example.com"


async def opened(store: Store, surface: EmailSurface) -> ApprovalRecord:
    record = replace(approval(), approvers=("U0BOB", f"email:{CAROL}"), required_approvals=2)
    assert await store.approvals.create(record) == "ok"
    answer = Opened("ok", record.id)
    surface.listener(ApprovalOpened(run=None, request=None, answer=answer))  # type: ignore[arg-type]
    await until(lambda: store.email_due.at(record.id), what="the mail due")
    return record


async def test_an_approval_opened_mails_each_email_approver_once(store: Store, mail: MailCatcher) -> None:
    surface, _ = surface_of(store, mail.smtp_url)
    record = await opened(store, surface)
    assert await surface.drain() == 1
    [got] = await mail.arrived(CAROL)
    assert got.subject.startswith("Waiting for your decision") and got.text and got.html
    [link] = got.links
    assert link.startswith(f"https://approvals.example.com/email/{record.id}/")
    await until(lambda: _not_due(store, record.id), what="out of the due set once sent")
    await surface.due(record.id)  # due again (another worker, a restart): sent once all the same
    await surface.drain()
    await until(lambda: _not_due(store, record.id), what="out of the due set")
    assert len(mail.inbox(CAROL)) == 1
    surface.listener(Nudged(approval=record, kind="remind", number=1, people=("U0BOB", f"email:{CAROL}")))
    [_, reminder] = await mail.arrived(CAROL, count=2)
    assert reminder.subject.startswith("Reminder")
    surface.listener(Nudged(approval=record, kind="remind", number=2, people=(f"email:{CAROL}",)))  # its own mail
    [*_, second] = await mail.arrived(CAROL, count=3)
    assert second.subject.startswith("Reminder") and second.message_id != reminder.message_id


async def test_a_mail_server_refusing_keeps_it_due_then_gives_up_audited(store: Store, mail: MailCatcher) -> None:
    mail.refusing = True
    metrics = Metrics()
    surface, _ = surface_of(store, mail.smtp_url, metrics=metrics, retries=(0.2,))
    record = await opened(store, surface)
    await surface.drain()
    await until(lambda: metrics.registry.get_sample_value("hitl_email_sent_total", {"outcome": "retry"}),
                what="a retry counted")
    soon = time.time() + 5  # due again at its retry time (0.2 s), not at the claim's lease's end (60 s)
    assert await until(lambda: _due_by(store, record.id, soon), what="due again at its retry time")
    await until(lambda: _drained_away(store, surface, record.id), what="given up after its retries")
    entries = [e for e in await store.audit.entries() if e.get("event") == "email_given_up"]
    assert [(e["approval"], e["person"], e["kind"]) for e in entries] == [(record.id, f"email:{CAROL}", "opened")]
    assert metrics.registry.get_sample_value("hitl_email_sent_total", {"outcome": "failed"}) == 1
    assert mail.inbox(CAROL) == []


async def _not_due(store: Store, approval_id: str) -> bool:
    return await store.email_due.at(approval_id) is None


async def _due_by(store: Store, approval_id: str, when: float) -> bool:
    at = await store.email_due.at(approval_id)
    return at is not None and at < when


async def _drained_away(store: Store, surface: EmailSurface, approval_id: str) -> bool:
    await surface.drain()
    return await _not_due(store, approval_id)


def test_the_root_drains_email_only_with_smtp_url_and_refuses_it_without_secrets_key(slack: SlackStandIn) -> None:
    env = bot_env(slack=slack, redis_url="redis://127.0.0.1:1/0", model_config=None)
    mail = {"SMTP_URL": "smtp://127.0.0.1:2525", "EMAIL_FROM": "approvals@example.com"}
    with_email = create_services(Settings.from_env({**env, **mail, "SECRETS_KEY": KEY}))
    assert with_email.email is not None and isinstance(due_parts(with_email)["email"], Drain)
    without = create_services(Settings.from_env(env))
    assert without.email is None and "email" not in due_parts(without)
    with pytest.raises(SettingsError, match="SMTP_URL: e-mail links need SECRETS_KEY"):
        create_services(Settings.from_env({**{k: v for k, v in env.items() if k != "SECRETS_KEY"}, **mail}))


@pytest.mark.slow  # a Python process
def test_a_worker_without_the_email_extra_starts_and_smtp_url_names_it() -> None:
    """The base install has no aiosmtplib (the `email` extra): the root imports without it (the image's worker did
    not start when bot/email/sender.py imported it at the top), and SMTP_URL set without it names the extra."""
    script = (
        "import sys; sys.modules['aiosmtplib'] = None\n"
        "import bot.root\n"
        "from bot.core.settings import SettingsError\n"
        "from bot.email.surface import email_surface\n"
        "class S:\n    smtp = object()\n"
        "try:\n    email_surface(S(), store=None, background=None, metrics=None)\n"
        "except SettingsError as exc:\n    print(exc)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    assert "aiosmtplib is not installed" in done.stdout and "[email]" in done.stdout

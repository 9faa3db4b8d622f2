"""Sending an approval's e-mail (issue 88): aiosmtplib to SMTP_URL (`smtps://`: TLS from the first byte; `smtp://`:
STARTTLS when the server offers it; the user and password from the URL), with a timeout, once per (approval,
person, kind) across every worker, and a bounded retry schedule.

`Sender.send(mail)` claims the mail in Redis first (bot/store/email.py, lua/email_send_claim.lua): a mail sent is
never sent again, one being sent by another worker is left to it (unless its claim ran out: that worker died), one
due a retry waits for its time. A mail the server refuses or does not answer is due again after RETRIES[n] (30 s,
2 min, 10 min, 30 min), then given up. Each outcome counts in `hitl_email_sent_total{outcome}` (sent, retry,
failed); the caller schedules the retry at `Result.at` (the surface's due work) and audits a mail given up. Logs
name the server's host, never SMTP_URL (it may carry a password)."""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import Final, Literal

from prometheus_client import Counter

from bot.core.email_settings import SmtpServer
from bot.email.messages import Rendered
from bot.store.email import EmailStore

log = logging.getLogger(__name__)

RETRIES: Final = (30.0, 120.0, 600.0, 1800.0)  # seconds after each failed try; after the last: given up
TIMEOUT: Final = 10.0  # seconds for each step of the SMTP conversation
CLAIM_SECONDS: Final = 120.0  # a sender's hold on a mail (longer than a send's every timeout)
Outcome = Literal["sent", "retry", "failed", "already", "busy", "later", "given_up"]


class SmtpRefused(Exception):
    """The mail server refused or broke off (aiosmtplib's SMTPException, by its name)."""


@dataclass(frozen=True, slots=True)
class Mail:
    """One mail to send: about `approval_id`, to `person` at `to`, of `kind` ("opened", "reminded", ...), with its
    words; `keep` seconds: how long its "sent" record stays (as long as the approval's)."""

    approval_id: str
    person: str
    kind: str
    to: str
    rendered: Rendered
    keep: int


@dataclass(frozen=True, slots=True)
class Result:
    """How a send went: `sent` (now), `retry` (due again `at`), `failed` (given up now, after `attempts`), or not
    sent by this call: `already` (sent before), `busy` (another sender holds it), `later` (a retry due `at`),
    `given_up` (given up before)."""

    outcome: Outcome
    at: float = 0.0
    attempts: int = 0
    message_id: str = ""


def message_id(mail: Mail) -> str:
    """The mail's Message-ID, the same on every try (a mail sent twice after a crash reads as one to a client)."""
    who = hashlib.sha256(mail.person.encode()).hexdigest()[:16]
    return f"<{mail.approval_id}.{mail.kind}.{who}@agent-approvals>"


class Sender:
    """Sends approval e-mails through one SMTP server, once each, with bounded retries."""

    def __init__(self, *, store: EmailStore, server: SmtpServer, sender: str, reply_to: str = "",
                 counter: Counter | None = None, timeout: float = TIMEOUT,
                 retries: tuple[float, ...] = RETRIES) -> None:
        self._store = store
        self._server = server
        self._from = sender
        self._reply_to = reply_to
        self._counter = counter
        self._timeout = timeout
        self._retries = retries

    def message(self, mail: Mail) -> EmailMessage:
        """The MIME message: text/plain and text/html alternatives, one-line headers."""
        msg = EmailMessage()
        msg["From"] = self._from
        msg["To"] = mail.to
        if self._reply_to:
            msg["Reply-To"] = self._reply_to
        msg["Subject"] = mail.rendered.subject
        msg["Message-ID"] = message_id(mail)
        msg["Date"] = formatdate(localtime=False)
        msg["Auto-Submitted"] = "auto-generated"
        msg.set_content(mail.rendered.text)
        msg.add_alternative(mail.rendered.html, subtype="html")
        return msg

    async def send(self, mail: Mail, *, now: float | None = None) -> Result:
        """Send `mail` unless it was sent, is being sent, waits for its retry time, or was given up."""
        now = time.time() if now is None else now
        claim = await self._store.claim_send(mail.approval_id, person=mail.person, kind=mail.kind,
                                             seconds=CLAIM_SECONDS, ttl=mail.keep, now=now)
        if claim.state != "claimed":
            not_now: dict[str, Outcome] = {"sent": "already", "busy": "busy", "later": "later", "given_up": "given_up"}
            return Result(not_now[claim.state], at=claim.at, message_id=claim.detail
                          if claim.state == "sent" else "")
        attempts = claim.attempts + 1
        sent_id = message_id(mail)
        try:
            await self._deliver(self.message(mail))
        except (TimeoutError, SmtpRefused, OSError) as exc:
            return await self._failed(mail, claim.till, attempts=attempts, now=now, why=exc)
        await self._store.note_send(mail.approval_id, person=mail.person, kind=mail.kind, till=claim.till,
                                    outcome="sent", attempts=attempts, message=sent_id)
        self._count("sent")
        return Result("sent", attempts=attempts, message_id=sent_id)

    async def send_taken(self, mail: Mail) -> bool:
        """Deliver `mail` now, once taken by its caller (the weekly digest: one worker takes it), without the per
        approval claim: whether the server took it (counted; a refusal logged, not tried again)."""
        try:
            await self._deliver(self.message(mail))
        except (TimeoutError, SmtpRefused, OSError) as exc:
            self._count("failed")
            log.warning("a %s mail to %s was not taken (mail server %s: %s)", mail.kind, mail.person,
                        self._server.host, type(exc).__name__)
            return False
        self._count("sent")
        return True

    async def _deliver(self, message: EmailMessage) -> None:
        import aiosmtplib  # the `email` extra's, imported where it is used: a worker without SMTP_URL needs none

        server = self._server
        try:
            await aiosmtplib.send(
                message, hostname=server.host, port=server.port, use_tls=server.tls,
                start_tls=False if server.tls else None, username=server.username or None,
                password=server.password or None, timeout=self._timeout)
        except aiosmtplib.SMTPException as exc:
            raise SmtpRefused(type(exc).__name__) from exc

    async def _failed(self, mail: Mail, till: str, *, attempts: int, now: float, why: BaseException) -> Result:
        if attempts > len(self._retries):
            await self._store.note_send(mail.approval_id, person=mail.person, kind=mail.kind, till=till,
                                        outcome="failed", attempts=attempts)
            self._count("failed")
            log.warning("approval %s: its e-mail to %s was given up after %d tries (mail server %s: %s)",
                        mail.approval_id, mail.person, attempts, self._server.host, type(why).__name__)
            return Result("failed", attempts=attempts)
        at = now + self._retries[attempts - 1]
        await self._store.note_send(mail.approval_id, person=mail.person, kind=mail.kind, till=till,
                                    outcome="retry", attempts=attempts, at=at)
        self._count("retry")
        log.info("approval %s: the mail server %s did not take its e-mail to %s (%s); tried again in %.0f s",
                 mail.approval_id, self._server.host, mail.person, type(why).__name__, at - now)
        return Result("retry", at=at, attempts=attempts)

    def _count(self, outcome: str) -> None:
        if self._counter is not None:
            self._counter.labels(outcome).inc()


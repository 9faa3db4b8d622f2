"""A mail catcher: an aiosmtpd `Controller` on a free port of 127.0.0.1, in its own thread, keeping every mail it
takes in each recipient's inbox (by lowercased address), in memory. `smtp_url` is what a worker's SMTP_URL is set to.

    with MailCatcher() as mail:                    # started; stopped at the end
        ...                                        # SMTP_URL=mail.smtp_url
        mail.wait_for("carol@example.com")         # her mails, once one came (a poll with a deadline)
        mail.view()                                # {"inboxes": {address: [{from, to, subject, text, html,
                                                   #   links, message_id}, ...]}}: the Mail pane's JSON

`MailCatcher(login=(user, password))` offers AUTH (without TLS, on loopback) and refuses any other login. `refusing =
True` makes it answer every mail `451` (try again later) until set back, as a mail server that is up and will not take
mail now."""

from __future__ import annotations

import json
import re
import threading
import time
from dataclasses import asdict, dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from types import TracebackType
from typing import Any, Self, cast

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from bot.devkit.standin import arrived, free_port

LINK = re.compile(r"https?://[^\s\"'<>]+/email/[^\s\"'<>]+")


@dataclass(frozen=True, slots=True)
class Caught:
    """One mail as a person's inbox shows it: headers, its two parts, and the Review-and-decide links in its text."""

    sender: str
    to: tuple[str, ...]
    subject: str
    message_id: str
    text: str
    html: str
    links: tuple[str, ...]


def _part(message: EmailMessage, subtype: str) -> str:
    part = message.get_body(preferencelist=(subtype,))
    return "" if part is None else str(cast(EmailMessage, part).get_content())


class MailCatcher:
    """The catcher (a context manager: started on enter, stopped on exit)."""

    def __init__(self, *, port: int = 0, login: tuple[str, str] | None = None) -> None:
        self._lock = threading.Lock()
        self._inboxes: dict[str, list[Caught]] = {}
        self.refusing = False
        self.port = port or free_port()
        self._login = login
        self._controller = self._new_controller()

    def _new_controller(self) -> Controller:
        auth: dict[str, Any] = {} if self._login is None else {
            "authenticator": self._authenticate, "auth_require_tls": False}
        return Controller(self, hostname="127.0.0.1", port=self.port, **auth)

    def _authenticate(self, server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> AuthResult:
        """aiosmtpd's authenticator (with `login`): only that user and password (a mail server that asks for one)."""
        given = (data.login.decode(), data.password.decode()) if isinstance(data, LoginPassword) else None
        return AuthResult(success=given is not None and given == self._login)

    @property
    def smtp_url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._controller.start()

    def stop(self) -> None:
        """Stop serving (a mail server down); `start` serves again on the same port, the inboxes kept."""
        self._controller.stop()
        self._controller = self._new_controller()  # (a controller's loop is closed once stopped)

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """aiosmtpd's hook: keep the mail in each recipient's inbox (or refuse it while `refusing`)."""
        if self.refusing:
            return "451 4.3.0 not taking mail now (the catcher refuses)"
        message = message_from_bytes(envelope.content, policy=policy.default)
        text = _part(message, "plain")
        caught = Caught(sender=str(envelope.mail_from), to=tuple(str(r) for r in envelope.rcpt_tos),
                        subject=str(message["Subject"] or "").strip(), message_id=str(message["Message-ID"] or ""),
                        text=text, html=_part(message, "html"), links=tuple(LINK.findall(text)))
        with self._lock:
            for address in caught.to:
                self._inboxes.setdefault(address.lower(), []).append(caught)
        return "250 OK"

    def inbox(self, address: str) -> list[Caught]:
        """The mails `address` got so far, oldest first."""
        with self._lock:
            return list(self._inboxes.get(address.lower(), []))

    def wait_for(self, address: str, *, count: int = 1, timeout: float = 10.0) -> list[Caught]:
        """`address`'s mails once there are at least `count` (TimeoutError naming what came, after `timeout`)."""
        deadline = time.monotonic() + timeout
        while len(found := self.inbox(address)) < count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{address} got {len(found)} mails, not {count}, in {timeout} s")
            time.sleep(0.02)
        return found

    async def arrived(self, address: str, *, count: int = 1, within: float = 10.0) -> list[Caught]:
        """`wait_for` in a running event loop (it polls without blocking the loop)."""
        return await arrived(lambda: self.inbox(address), count, within,
                             lambda found: f"{address} got {len(found)} mails, not {count}, in {within} s")

    def view(self) -> dict[str, Any]:
        """Every inbox as JSON-ready data (the Mail pane's)."""
        with self._lock:
            return {"inboxes": {address: [asdict(mail) for mail in mails]
                                for address, mails in sorted(self._inboxes.items())}}

    def view_json(self) -> str:
        return json.dumps(self.view())

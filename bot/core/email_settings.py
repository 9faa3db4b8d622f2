"""What a worker reads for e-mail, the third surface (issue 88; bot/core/settings.py's `Settings` holds it): the mail
server to send through (`SMTP_URL`: `smtp://` sends in plain and upgrades with STARTTLS when the server offers it,
`smtps://` speaks TLS from the first byte; user and password in the URL, so the URL is a secret and only its host
is ever logged), the sender's address and an optional reply-to. Only declared here: `Settings.from_env` reads them
with the rest. Without `SMTP_URL` the worker sends no mail."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Self
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, Field, model_validator

from bot.core.setting_values import Secret, Stripped

ADDRESS = re.compile(r"[^@\s<>\"',;]+@[^@\s<>\"',;]+\.[^@\s<>\"',;]+|[^@\s<>\"',;]+@localhost")
SCHEMES = {"smtp": 587, "smtps": 465}


@dataclass(frozen=True, slots=True)
class SmtpServer:
    """SMTP_URL read: where to connect, how (`tls`: TLS from the first byte; else STARTTLS when offered), as whom."""

    host: str
    port: int
    tls: bool
    username: str = ""
    password: str = ""

    def __repr__(self) -> str:  # never the password, in a log or a traceback
        return f"SmtpServer({'smtps' if self.tls else 'smtp'}://{self.host}:{self.port})"


def smtp_server(url: str) -> SmtpServer:
    """`smtp://[user[:password]@]host[:port]` or `smtps://…` read (ValueError naming what is wrong, never the URL)."""
    parts = urlsplit(url)
    if parts.scheme not in SCHEMES:
        raise ValueError("SMTP_URL must start with smtp:// (STARTTLS when offered) or smtps:// (TLS)")
    try:
        port = parts.port or SCHEMES[parts.scheme]
    except ValueError:
        raise ValueError("SMTP_URL's port must be a number from 1 to 65535") from None
    if not parts.hostname or parts.path not in ("", "/") or parts.query or parts.fragment:
        raise ValueError("SMTP_URL must be smtp[s]://[user[:password]@]host[:port], with nothing after the host")
    return SmtpServer(host=parts.hostname, port=port, tls=parts.scheme == "smtps",
                      username=unquote(parts.username or ""), password=unquote(parts.password or ""))


def is_address(text: str) -> bool:
    """`text` is one bare e-mail address (no name, no list)."""
    return bool(ADDRESS.fullmatch(text))


class EmailSettings(BaseModel):
    """E-mail (issue 88), in the order the configuration table shows them."""

    smtp_url: Secret | None = Field(default=None, validation_alias="SMTP_URL", description=(
        "the mail server e-mail approvers are sent through: `smtp://user:password@host:587` (STARTTLS when offered) "
        "or `smtps://…:465` (TLS); a secret (it may carry a password). Unset: no e-mail"))
    email_from: Stripped = Field(default="", validation_alias="EMAIL_FROM", description=(
        "the address approval e-mails come from (needed with SMTP_URL), e.g. `approvals@example.com`"))
    email_reply_to: Stripped = Field(default="", validation_alias="EMAIL_REPLY_TO", description=(
        "where a reply to an approval e-mail goes (optional; unset: no Reply-To)"))

    @property
    def smtp(self) -> SmtpServer | None:
        """SMTP_URL read, None without it."""
        return None if self.smtp_url is None else smtp_server(self.smtp_url.get_secret_value())

    @model_validator(mode="after")
    def _email(self) -> Self:
        for name, value in (("EMAIL_FROM", self.email_from), ("EMAIL_REPLY_TO", self.email_reply_to)):
            if value and not is_address(value):
                raise ValueError(f"{name} must be one e-mail address such as approvals@example.com")
        if self.smtp_url is None:
            return self
        smtp_server(self.smtp_url.get_secret_value())
        if not self.email_from:
            raise ValueError("SMTP_URL needs EMAIL_FROM (the address approval e-mails come from)")
        return self

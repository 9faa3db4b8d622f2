"""`send_email` for the bot's `email` team and its demos: one `.eml` file per approved email in an outbox
directory the operator can read (nothing is sent). Wrapped with `require_approval` like any tool."""

from __future__ import annotations

import re
import time
import uuid
from email.message import EmailMessage
from pathlib import Path
from typing import Any

from autogen_core import CancellationToken
from autogen_core.tools import BaseTool
from pydantic import BaseModel, Field

EMAIL_PATTERN = r"^[^@\s,;<>]+@[^@\s,;<>]+\.[A-Za-z]{2,}$"


class Email(BaseModel):
    """The arguments of `send_email`."""

    to: str = Field(description="the recipient's email address", pattern=EMAIL_PATTERN, max_length=254)
    subject: str = Field(description="the subject line", min_length=1, max_length=200)
    body: str = Field(description="the email's text", min_length=1, max_length=20000)


class SendEmailTool(BaseTool[Email, Any]):
    """`send_email` for demos: writes one file per email (`.eml`) to an outbox directory the operator
    can read, instead of sending anything."""

    def __init__(self, outbox_dir: str | Path = "outbox") -> None:
        super().__init__(
            args_type=Email,
            return_type=str,
            name="send_email",
            description="Send an email to one recipient. A human approves every call before it is sent.",
        )
        self._outbox = Path(outbox_dir)

    async def run(self, args: Email, cancellation_token: CancellationToken) -> str:
        message = EmailMessage()
        message["To"] = args.to
        message["Subject"] = args.subject
        message["Date"] = time.strftime("%a, %d %b %Y %H:%M:%S +0000", time.gmtime())
        message.set_content(args.body)
        self._outbox.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%dT%H%M%S", time.gmtime())
        slug = re.sub(r"[^a-z0-9]+", "-", args.to.lower()).strip("-")[:40]
        name = f"{stamp}-{slug}-{uuid.uuid4().hex[:8]}.eml"
        partial = self._outbox / f".{name}.partial"
        partial.write_bytes(bytes(message))
        partial.replace(self._outbox / name)
        return f"Email to {args.to} written to the outbox as {name} (demo outbox: nothing left this machine)."

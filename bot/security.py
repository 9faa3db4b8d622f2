"""Keeping secrets secret and forms honest: log redaction and signed modal metadata."""

from __future__ import annotations

import hashlib
import hmac
import logging
import traceback
from collections.abc import Iterable
from urllib.parse import urlsplit

from bot.records import APPROVAL_ID, SLACK_ID, SLACK_TS
from bot.settings import Settings

REDACTED = "[redacted]"


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value the process knows, longest first."""
    values = [
        settings.slack_bot_token,
        settings.slack_signing_secret,
        settings.slack_app_token or "",
        settings.openai_api_key or "",
    ]
    password = urlsplit(settings.redis_url).password
    if password:
        values.append(password)
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def redact(text: str, secrets: Iterable[str]) -> str:
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    return text


class RedactingFilter(logging.Filter):
    """Removes secret values from every log record (message, arguments and traceback)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self._secrets = list(secrets)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self._secrets)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = redact(text, self._secrets).rstrip("\n")
            record.exc_info = None
        return True


def sign_metadata(secret: str, *, approval_id: str, user: str, channel: str, ts: str) -> str:
    """`private_metadata` for the revise modal: which card, for whom, and a MAC over both."""
    body = f"{approval_id}|{user}|{channel}|{ts}"
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{body}|{mac}"


def verify_metadata(secret: str, metadata: str, *, user: str) -> tuple[str, str, str] | None:
    """(approval id, card channel, card ts) when `metadata` is ours, unaltered and `user`'s; else None."""
    parts = metadata.split("|")
    if len(parts) != 5:
        return None
    approval_id, owner, channel, ts, mac = parts
    if not (APPROVAL_ID.match(approval_id) and SLACK_ID.match(owner) and SLACK_ID.match(channel)):
        return None
    if not SLACK_TS.match(ts) or owner != user:
        return None
    expected = sign_metadata(secret, approval_id=approval_id, user=owner, channel=channel, ts=ts).rsplit("|", 1)[1]
    return (approval_id, channel, ts) if hmac.compare_digest(mac, expected) else None

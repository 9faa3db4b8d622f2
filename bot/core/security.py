"""Keeping secrets secret and forms honest: log redaction and signed modal metadata."""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import json
import logging
import re
import time
import traceback
from collections.abc import Iterable, Mapping
from pathlib import Path
from urllib.parse import urlsplit

from bot.core.detectors import scan
from bot.core.records import APPROVAL_ID, SLACK_ID, SLACK_TS
from bot.core.settings import Settings, reveal

REDACTED = "[redacted]"
SIGNATURE_MAX_AGE = 5 * 60  # seconds: older (or newer) signed requests may be replays
_TIMESTAMP = re.compile(r"[0-9]{1,12}", re.ASCII)
_CHARSETS = ("utf-8", "utf8", "us-ascii", "ascii")


class MalformedRequest(ValueError):
    """A request whose headers or body cannot even be read: refused with 400."""


def signature_age_problem(headers: Mapping[str, str], *, now: float | None = None) -> str | None:
    """What can be said of a request's signature before reading its body: None when its headers are
    there and recent; "unsigned" or "stale" (401). Raises `MalformedRequest` for headers that cannot
    be parsed (a timestamp that is not a number, a signature that is not ASCII)."""
    timestamp, signature = headers.get("X-Slack-Request-Timestamp"), headers.get("X-Slack-Signature")
    if timestamp is None or signature is None:
        return "unsigned"
    if not _TIMESTAMP.fullmatch(timestamp):
        raise MalformedRequest("X-Slack-Request-Timestamp is not a number")
    if not signature.isascii() or len(signature) > 256:
        raise MalformedRequest("X-Slack-Signature is not an ASCII signature")
    if abs((time.time() if now is None else now) - int(timestamp)) > SIGNATURE_MAX_AGE:
        return "stale"
    return None


def signed(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether `body` carries Slack's signature: HMAC-SHA256 with the signing secret over the raw bytes
    (so a forged body is refused before anything decodes it). The headers were checked by
    `signature_age_problem` (present, parseable, recent)."""
    timestamp, signature = headers["X-Slack-Request-Timestamp"], headers["X-Slack-Signature"]
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


def body_text(body: bytes, charset: str | None) -> str:
    """A signed request's body as text. Slack sends UTF-8; anything else is `MalformedRequest`."""
    if charset is not None and charset.strip().lower() not in _CHARSETS:
        raise MalformedRequest("Content-Type names a charset other than UTF-8")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest("body is not UTF-8") from None


def secrets_of(settings: Settings) -> list[str]:
    """Every secret value the process knows (raw, to find them in text), longest first."""
    values = [
        settings.slack_bot_token.get_secret_value(),
        settings.slack_signing_secret.get_secret_value(),
        reveal(settings.slack_app_token) or "",
        reveal(settings.openai_api_key) or "",
        reveal(settings.metrics_token) or "",
        reveal(settings.secrets_key) or "",
    ]
    password = urlsplit(settings.redis_url.get_secret_value()).password
    if password:
        values.append(password)
    values += _private_keys(settings)
    return sorted({v for v in values if len(v) >= 4}, key=len, reverse=True)


def _private_keys(settings: Settings) -> list[str]:
    """The signing keys' private parts (`d`, bot/core/signing.py) and the `SIGNING_KEYS` value itself: never
    expected in a log, redacted should one ever get there. Best effort: a file that cannot be read has none."""
    raw = reveal(settings.signing_keys) or ""
    found = [raw]
    if not raw and settings.signing_keys_file:
        with contextlib.suppress(OSError, UnicodeDecodeError):
            raw = Path(settings.signing_keys_file).read_text()
    with contextlib.suppress(ValueError, TypeError, AttributeError):
        found += [str(key["d"]) for key in json.loads(raw).get("keys", []) if isinstance(key, dict) and "d" in key]
    return found


def redact(text: str, secrets: Iterable[str], *, detectors: frozenset[str] = frozenset()) -> str:
    """`text` with each of `secrets` replaced by `[redacted]`, then each value the `detectors` find (a card number, a
    key) by its display (`card ending 1111`): what reaches a log line."""
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, REDACTED)
    for found in reversed(scan(text, detectors) if detectors else []):
        text = text[:found.start] + found.display + text[found.end:]
    return text


class RedactingFilter(logging.Filter):
    """Removes secret values from every log record (message, arguments and traceback): the process's own, and as a
    last line (#68) what the `detectors` (REDACT_DETECTORS) find, at every level."""

    def __init__(self, secrets: Iterable[str], *, detectors: Iterable[str] = ()) -> None:
        super().__init__()
        self._secrets = list(secrets)
        self._detectors = frozenset(detectors)

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = redact(message, self._secrets, detectors=self._detectors)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None:
            text = "".join(traceback.format_exception(*record.exc_info))
            record.exc_text = redact(text, self._secrets, detectors=self._detectors).rstrip("\n")
            record.exc_info = None
        return True


def sign_metadata(secret: str, *, approval_id: str, user: str, channel: str = "", ts: str = "") -> str:
    """`private_metadata` for a modal: which approval, from which card (channel and ts; both empty
    from an App Home, where no card is bound), for whom, and a MAC over all of it."""
    body = f"{approval_id}|{user}|{channel}|{ts}"
    mac = hmac.new(secret.encode(), body.encode(), hashlib.sha256).hexdigest()[:32]
    return f"{body}|{mac}"


def verify_metadata(secret: str, metadata: str, *, user: str) -> tuple[str, str, str] | None:
    """(approval id, card channel, card ts) when `metadata` is ours, unaltered and `user`'s; else None.
    Channel and ts are empty for a modal opened from an App Home."""
    parts = metadata.split("|")
    if len(parts) != 5:
        return None
    approval_id, owner, channel, ts, mac = parts
    from_card = bool(SLACK_ID.fullmatch(channel) and SLACK_TS.fullmatch(ts))
    if not (APPROVAL_ID.fullmatch(approval_id) and SLACK_ID.fullmatch(owner)) or owner != user:
        return None
    if not from_card and (channel or ts):
        return None
    expected = sign_metadata(secret, approval_id=approval_id, user=owner, channel=channel, ts=ts).rsplit("|", 1)[1]
    return (approval_id, channel, ts) if hmac.compare_digest(mac, expected) else None

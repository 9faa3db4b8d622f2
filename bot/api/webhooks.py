"""Webhooks: the decision of an approval asked with a `callback_url`, POSTed to the program that asked.

Any worker sends them (`WebhookSender`, a loop like the deadline sweeper's): it claims the due ones
with a lease (`bot/store/webhooks.py`; the decide step queued them in the step that decided), POSTs each
signed, and removes it on a 2xx answer; otherwise it tries again with backoff (5 s, doubling, at most
an hour apart) for at least 24 h, then gives up (audited). Delivery is at least once: a sender that
dies between the POST and the removal leaves it to be sent again, with the same `X-Approvals-Delivery`
(the approval id), which the receiver uses to drop repeats.

Signed like Slack's requests: `X-Approvals-Signature: v1=<hex HMAC-SHA256 of "v1:<timestamp>:<body>">`
with the key's webhook secret, and `X-Approvals-Timestamp`. Never to a loopback, private or link-local
address (the name is resolved when sending) unless the bot allows it (`API_ALLOW_PRIVATE_CALLBACKS`).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import random
import socket
import time
from urllib.parse import urlsplit

import aiohttp

from bot.api.requests import private_host
from bot.api.service import view
from bot.approvals.waiter import DueSweeper
from bot.store import Store

log = logging.getLogger(__name__)

SIGNATURE = "X-Approvals-Signature"
TIMESTAMP = "X-Approvals-Timestamp"
DELIVERY = "X-Approvals-Delivery"
GIVE_UP_AFTER = 24 * 3600 + 60  # seconds since the first try (at least 24 h of tries)
LEASE = 30.0
SEND_TIMEOUT = 10.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), b"v1:" + timestamp.encode("ascii") + b":" + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def backoff(tries: int) -> float:
    """Seconds before try `tries + 1`: 5, 10, 20, ... at most an hour, with a little jitter."""
    delay: float = min(5.0 * 2.0 ** max(0, tries - 1), 3600.0)
    return delay * random.uniform(0.9, 1.1)


class WebhookSender(DueSweeper):
    """Sends every worker's due webhooks (see the module docstring)."""

    name = "webhook-sender"

    def __init__(
        self,
        store: Store,
        *,
        allow_private: bool = False,
        lease: float = LEASE,
        max_sleep: float = 1.0,
        session: aiohttp.ClientSession | None = None,
    ) -> None:
        super().__init__(max_sleep=max_sleep)
        self._store = store
        self._allow_private = allow_private
        self._lease = lease
        self._session = session
        self._owns_session = session is None

    async def stop(self) -> None:
        await super().stop()
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    async def next_due(self) -> float | None:
        return await self._store.webhooks.next_due()

    async def sweep(self) -> int:
        sent = 0
        while True:
            due = await self._store.webhooks.claim(now=time.time(), lease=self._lease)
            if not due:
                return sent
            results = await asyncio.gather(*(self.deliver(approval_id) for approval_id in due))
            sent += sum(results)

    async def deliver(self, approval_id: str) -> bool:
        """Try to deliver one webhook; True when the receiver took it."""
        approval = await self._store.approvals.get(approval_id)
        if approval is None or not approval.callback_url or approval.pending:
            await self._store.webhooks.done(approval_id)  # expired, or nothing to send
            return False
        key = await self._store.api_keys.get(approval.asked_by)
        if key is None:
            await self._give_up(approval_id, approval.asked_by, "its API key was revoked", tries=0)
            return False
        body = json.dumps(view(approval), separators=(",", ":")).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {
            "Content-Type": "application/json",
            SIGNATURE: sign(key.webhook_secret, timestamp, body),
            TIMESTAMP: timestamp,
            DELIVERY: approval_id,
            "User-Agent": "agent-approvals-webhook/1",
        }
        problem = await self._post(approval.callback_url, body, headers)
        if problem is None:
            await self._store.webhooks.done(approval_id)
            await self._store.audit.append(
                "webhook_delivered", approval=approval_id, key=key.name, origin_channel=approval.origin_channel
            )
            return True
        tries, first = await self._store.webhooks.tries(approval_id)
        tries, first = tries + 1, first or time.time()
        if time.time() - first >= GIVE_UP_AFTER:
            await self._give_up(approval_id, key.name, problem, tries=tries)
            return False
        log.warning("webhook of approval %s not delivered (try %d: %s)", approval_id, tries, problem)
        await self._store.webhooks.retry(approval_id, at=time.time() + backoff(tries), tries=tries, first=first)
        return False

    async def _give_up(self, approval_id: str, key: str, why: str, *, tries: int) -> None:
        log.warning("webhook of approval %s given up after %d tries: %s", approval_id, tries, why)
        await self._store.webhooks.done(approval_id)
        await self._store.audit.append("webhook_failed", approval=approval_id, key=key, reason=why[:300], tries=tries)

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> str | None:
        """POST it; None when answered 2xx, else what went wrong (never the secret or the body)."""
        host = urlsplit(url).hostname or ""
        if not self._allow_private and await _resolves_private(host):
            return f"{host} is a loopback, private or link-local address"
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=SEND_TIMEOUT))
        try:
            async with self._session.post(url, data=body, headers=headers, allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    return None
                return f"answered {response.status}"
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            return type(exc).__name__


async def _resolves_private(host: str) -> bool:
    if private_host(host):
        return True
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False  # the POST fails and says so
    return any(private_host(str(info[4][0])) for info in infos)

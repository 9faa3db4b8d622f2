"""Sending a push (issue 90): RFC 8030 to each of a person's devices, the payload encrypted to the device's keys (RFC
8291, aes128gcm) and signed with VAPID (RFC 8292), by `pywebpush` over aiohttp; once per (approval, person, kind) across
every worker, with a bounded retry schedule.

`PushSender.send(push)` claims the push in Redis first (bot/store/push.py: e-mail's claim and steps under push's keys):
a push sent is never sent again, one being sent by another worker is left to it, one due a retry waits for its time.
Each of the person's devices is sent the push; a device whose push service answers 404 or 410 is gone: its subscription
is forgotten (counted `gone`, audited `push_gone`); one whose host resolves to an address of a private network
(loopback, private, link-local: `endpoint_public`, checked before each push, and again by the push's own connection,
bot/push/pinned.py: no DNS rebinding in between) is not pushed to, audited `push_refused`.
The push counts as sent when any device's service took it (201); when none did and one refused for now (429, 5xx, no
answer), it is due again after RETRIES[n], then given up. Each outcome counts in `hitl_push_sent_total{outcome}`. Logs
name the push service's host, never an endpoint's path (it is the device's address) nor a key."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Final, Literal
from urllib.parse import urlsplit

import aiohttp
from prometheus_client import Counter

from bot.push.devices import BadSubscription, Lookup, Unresolved, endpoint_public, system_lookup
from bot.push.pinned import pinned_connector
from bot.store.push import PushStore, Subscription

log = logging.getLogger(__name__)

RETRIES: Final = (15.0, 60.0, 300.0, 900.0)  # seconds after each failed try; after the last: given up
TIMEOUT: Final = 10.0  # seconds for one push service's answer
CLAIM_SECONDS: Final = 60.0  # a sender's hold on a push (longer than its every device's timeout)
TTL: Final = 3600  # seconds a push service keeps a push for a device that is offline
Outcome = Literal["sent", "retry", "failed", "gone", "none", "already", "busy", "later", "given_up"]
Gone = Callable[[str, Subscription], Awaitable[None]]  # (person, device) forgotten: audited
Refused = Callable[[str, Subscription, str], Awaitable[None]]  # (person, device, why) not pushed to: audited


@dataclass(frozen=True, slots=True)
class Push:
    """One push to send: about `approval_id`, to `person` (each of their devices), of `kind`, its JSON `data`;
    `keep` seconds: how long its "sent" record stays (as long as the approval's)."""

    approval_id: str
    person: str
    kind: str
    data: bytes
    keep: int


@dataclass(frozen=True, slots=True)
class Result:
    """How a send went: `sent` (a device's service took it), `retry` (due again `at`), `failed` (given up), `gone`
    (every device was gone), `none` (no device), or not sent by this call: `already`, `busy`, `later`, `given_up`."""

    outcome: Outcome
    at: float = 0.0
    attempts: int = 0
    devices: int = 0


class PushSender:
    """Sends pushes with one VAPID key, once each, with bounded retries."""

    def __init__(self, *, store: PushStore, vapid_key: str, subject: str, counter: Counter | None = None,
                 gone: Gone | None = None, timeout: float = TIMEOUT, retries: tuple[float, ...] = RETRIES,
                 refused: Refused | None = None, local_service: str = "", lookup: Lookup = system_lookup) -> None:
        from py_vapid import Vapid  # (the `push` extra's: a worker without VAPID_PRIVATE_KEY needs none)

        self._store = store
        self._vapid = Vapid.from_string(private_key=vapid_key)
        self._subject = subject
        self._counter = counter
        self._gone = gone
        self._refused = refused  # a device whose endpoint resolves to a private address: not pushed to, audited
        self._local = local_service  # PUSH_LOCAL_SERVICE_URL: its endpoints pass unresolved (dev, the tests)
        self._lookup = lookup  # how a push service's host is resolved: at the check and by the push's connection
        self._timeout = timeout
        self._retries = retries
        self._http: aiohttp.ClientSession | None = None  # one session: its connections to the services kept

    async def close(self) -> None:
        if self._http is not None:
            http, self._http = self._http, None
            await http.close()

    async def send(self, push: Push, *, now: float | None = None,
                   devices: Sequence[Subscription] | None = None) -> Result:
        """Send `push` to each of its person's devices (`devices`, when the caller read them already) unless it was
        sent, is being sent, waits for its retry time, or was given up."""
        now = time.time() if now is None else now
        devices = await self._store.subscriptions(push.person) if devices is None else devices
        if not devices:
            return Result("none")
        claim = await self._store.claim_send(push.approval_id, person=push.person, kind=push.kind,
                                             seconds=CLAIM_SECONDS, ttl=push.keep, now=now)
        if claim.state != "claimed":
            not_now: dict[str, Outcome] = {"sent": "already", "busy": "busy", "later": "later", "given_up": "given_up"}
            return Result(not_now[claim.state], at=claim.at)
        attempts = claim.attempts + 1
        answers = [await self._deliver(push, device) for device in devices]
        took = answers.count("sent")
        if took:
            await self._store.note_send(push.approval_id, person=push.person, kind=push.kind, till=claim.till,
                                        outcome="sent", attempts=attempts, message=f"{took} devices")
            self._count("sent")
            return Result("sent", attempts=attempts, devices=took)
        if "retry" not in answers:  # every device gone or refusing for good: nothing to try again
            await self._store.note_send(push.approval_id, person=push.person, kind=push.kind, till=claim.till,
                                        outcome="failed", attempts=attempts)
            if "failed" in answers:
                self._count("failed")
            return Result("gone" if "failed" not in answers else "failed", attempts=attempts)
        if attempts > len(self._retries):
            await self._store.note_send(push.approval_id, person=push.person, kind=push.kind, till=claim.till,
                                        outcome="failed", attempts=attempts)
            self._count("failed")
            log.warning("approval %s: its push to %s was given up after %d tries", push.approval_id, push.person,
                        attempts)
            return Result("failed", attempts=attempts)
        at = now + self._retries[attempts - 1]
        await self._store.note_send(push.approval_id, person=push.person, kind=push.kind, till=claim.till,
                                    outcome="retry", attempts=attempts, at=at)
        self._count("retry")
        return Result("retry", at=at, attempts=attempts)

    async def _deliver(self, push: Push, device: Subscription) -> Literal["sent", "retry", "failed", "gone"]:
        """One device's push, its endpoint checked first: its service's answer in a word."""
        host = urlsplit(device.endpoint).hostname or "?"
        try:  # (again before each push: a name may point into this network later; the connection pinned likewise)
            await endpoint_public(device.endpoint, local_service=self._local, lookup=self._lookup)
            return await self._post(push, device, host)
        except Unresolved:
            log.info("push service %s does not resolve: tried again later", host)
            return "retry"
        except BadSubscription as exc:
            log.warning("a device of %s was not pushed to: its push service %s %s", push.person, host,
                        str(exc).removeprefix("endpoint's host "))
            if self._refused is not None:
                await self._refused(push.person, device, str(exc))
            return "failed"

    async def _post(self, push: Push, device: Subscription, host: str) -> Literal["sent", "retry", "failed", "gone"]:
        """The push POSTed to the device's service (its connection through `pinned_connector`): its answer in a word
        (404, 410: the device forgotten); an address refused when connecting raises BadSubscription."""
        from pywebpush import WebPushException, webpush_async

        info: dict[str, str | bytes | dict[str, str | bytes]] = {
            "endpoint": device.endpoint, "keys": {"p256dh": device.p256dh, "auth": device.auth}}
        try:
            if self._http is None or self._http.closed:
                self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self._timeout),
                                                   connector=pinned_connector(self._lookup, local_service=self._local))
            await webpush_async(info, data=push.data.decode(), vapid_private_key=self._vapid,
                                vapid_claims={"sub": self._subject}, ttl=TTL, aiohttp_session=self._http,
                                headers={"Urgency": "high", "Topic": push.approval_id.replace("-", "")[:32]})
        except WebPushException as exc:
            status = int(getattr(exc.response, "status", 0) or 0)
            if status in (404, 410):
                await self._store.unsubscribe(push.person, device.device)
                self._count("gone")
                log.info("a device of %s is gone (its push service %s answered %s): forgotten", push.person, host,
                         status)
                if self._gone is not None:
                    await self._gone(push.person, device)
                return "gone"
            if status == 429 or status >= 500 or not status:
                log.info("push service %s did not take a push for %s (%s): tried again later", host, push.person,
                         status)
                return "retry"
            log.warning("push service %s refused a push for %s (%s)", host, push.person, status)
            return "failed"
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            log.info("push service %s did not answer (%s): tried again later", host, type(exc).__name__)
            return "retry"
        return "sent"

    def _count(self, outcome: str) -> None:
        if self._counter is not None:
            self._counter.labels(outcome).inc()


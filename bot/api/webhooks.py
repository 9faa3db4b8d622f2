"""Webhooks: the decision of an approval asked with a `callback_url`, POSTed to the program that asked.

Any worker sends them (`WebhookSender`, a loop like the deadline sweeper's): it claims the due ones
with a lease (`bot/store/webhooks.py`; the decide step queued them in the step that decided), POSTs each
signed, and removes it on a 2xx answer; otherwise it tries again with backoff (5 s, doubling, at most
an hour apart) for at least 24 h, then gives up (audited `webhook_failed`). Delivery is at least once:
a sender that dies between the POST and the removal leaves it to be sent again, with the same
`X-Approvals-Delivery` (the approval id), which the receiver uses to drop repeats.

One key's receivers cannot hold up another key's webhooks: the loop never waits for a delivery, it
starts each in its own task and goes on claiming. A worker has at most `PER_KEY` deliveries of one key
in flight (and `IN_FLIGHT` in all); one claimed while its key has no room is put back for about as long
as that key's deliveries have lately taken (not a try), so a key whose receivers hang waits for its own,
never for another's. Each try is bounded: 3 s to resolve the name and connect, 10 s in all.

A try that cannot be made is a failed try like a refused one, retried and given up in the end: a name
that does not resolve or cannot be one (a 64-character label), a malformed URL, an address refused.

Signed like Slack's requests: `X-Approvals-Signature: v1=<hex HMAC-SHA256 of "v1:<timestamp>:<body>">`
with the key's webhook secret, and `X-Approvals-Timestamp`. The route is signed too: `X-Approvals-Route` is the
callback URL's path and query as sent (a relay's engine, namespace and workflow id travel in the query), and
`X-Approvals-Route-Signature: v2=<hex HMAC-SHA256 of "v2:<timestamp>:<route>", a newline, then the body>`
covers it with the timestamp and the body, so a delivery replayed to another route is refused by a receiver that
checks it (the relay does; `v1` stays for receivers made before). While a key's secret is rotated (`python -m bot
keys rotate NAME --grace …`), each header holds two signatures, comma-separated, the new secret's first: a receiver
given either secret accepts the delivery, so none in flight is lost. A receiver's 400 says the delivery itself is
wrong (a relay: misrouted, not an approval, an engine it does not know): the same again changes nothing, so it
is given up at once (audited `webhook_failed`); any other answer but a 2xx is tried again.

Never to a loopback, private or link-local address unless the bot allows it (`API_ALLOW_PRIVATE_CALLBACKS`): the
host is checked as the client normalises it (IDNA / UTS #46: full-width `127.0.0.1` is `127.0.0.1`), the URL
parsed once and sent as parsed; a name is resolved once, by the connection's own resolver (`CheckedResolver`),
every address it gives is checked, and the connection is made to those checked addresses only, so a name that
answers differently the next time (DNS rebinding) cannot lead it elsewhere. (TLS still checks the certificate
against the name.)
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import ipaddress
import json
import logging
import random
import socket
import time
from collections.abc import Awaitable, Callable

import aiohttp
from aiohttp.abc import ResolveResult
from aiohttp.resolver import ThreadedResolver
from yarl import URL

from bot.api.hosts import client_host, private_host
from bot.api.receipts import ReceiptIssuer
from bot.api.shown import NameOf, decider_names, view
from bot.approvals import DueSweeper
from bot.core.logs import log_fields
from bot.core.records import ApprovalRecord
from bot.core.tracing import annotate, span
from bot.store import Store, StoreUnavailable

log = logging.getLogger(__name__)

SIGNATURE = "X-Approvals-Signature"
TIMESTAMP = "X-Approvals-Timestamp"
DELIVERY = "X-Approvals-Delivery"
ROUTE = "X-Approvals-Route"
ROUTE_SIGNATURE = "X-Approvals-Route-Signature"
FINAL = frozenset({400})  # a receiver's answer that no later try changes: given up at once
GIVE_UP_AFTER = 24 * 3600 + 60  # seconds since the first try (at least 24 h of tries)
LEASE = 30.0
CONNECT_TIMEOUT = 3.0  # to resolve the name and connect (TLS included)
SEND_TIMEOUT = 10.0  # a whole try
PER_KEY = 8  # deliveries of one key a worker has in flight at most
IN_FLIGHT = 200  # deliveries a worker has in flight at most
CLAIM = 50  # claimed at a time
FIRST_ESTIMATE = 0.5  # seconds a key's delivery is expected to take before one was timed
MAX_DEFER = 30.0


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), b"v1:" + timestamp.encode("ascii") + b":" + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def sign_route(secret: str, timestamp: str, route: str, body: bytes) -> str:
    """`X-Approvals-Route-Signature`: the timestamp, the route (the callback URL's path and query, ASCII: a header
    holds no newline, so the one before the body ends it) and the body, signed with the key's webhook secret."""
    signed = b"v2:" + timestamp.encode("ascii") + b":" + route.encode("ascii") + b"\n" + body
    return "v2=" + hmac.new(secret.encode("utf-8"), signed, hashlib.sha256).hexdigest()


def route_of(url: str) -> str:
    """The path and query a POST to `url` asks for, as sent (percent-encoded: ASCII); "" for a malformed URL."""
    try:
        return URL(url).raw_path_qs
    except ValueError:
        return ""


class GivenUp(str):
    """A failed try that no later try would change (a receiver's 400): what went wrong, said as text."""


def backoff(tries: int) -> float:
    """Seconds before try `tries + 1`: 5, 10, 20, ... at most an hour, with a little jitter."""
    delay: float = min(5.0 * 2.0 ** max(0, tries - 1), 3600.0)
    return delay * random.uniform(0.9, 1.1)


NotTaken = Callable[[ApprovalRecord, str], Awaitable[None]]
ANSWER_READ = 4096  # bytes of a 2xx answer read: a relay's `{"delivered": false, "why": ...}`


def not_taken(answer: bytes) -> str | None:
    """Why a receiver's 2xx answer says the decision was not taken (a relay: `{"delivered": false, "why": ...}`,
    the workflow had finished), or None (taken, or an answer that says nothing of it)."""
    try:
        said = json.loads(answer)
    except ValueError:
        return None
    if not isinstance(said, dict) or said.get("delivered") is not False:
        return None
    why = said.get("why")
    return why if isinstance(why, str) else ""


class Undeliverable(OSError):
    """A callback host that cannot be sent to: its name does not resolve (or cannot be a name), or it
    resolves to an address the bot may not reach. Its message says so (the host, never the URL)."""


class CheckedResolver(ThreadedResolver):
    """The connection's resolver: resolves a name once (within `timeout`), and unless private addresses
    are allowed refuses it when any address it gave is loopback, private, link-local or reserved. The
    connection is made to exactly the addresses returned, so what was checked is what is reached."""

    def __init__(self, *, allow_private: bool, timeout: float = CONNECT_TIMEOUT) -> None:
        super().__init__()
        self._allow_private = allow_private
        self._timeout = timeout

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        shown = host[:100]
        try:
            async with asyncio.timeout(self._timeout):
                found = await super().resolve(host, port, family)
        except TimeoutError:
            raise Undeliverable(f"{shown} did not resolve within {self._timeout:g} s") from None
        except (OSError, ValueError) as exc:  # gaierror; UnicodeError for a name that cannot be one
            raise Undeliverable(f"{shown} does not resolve ({type(exc).__name__})") from None
        if not found:
            raise Undeliverable(f"{shown} does not resolve")
        if not self._allow_private:
            for result in found:
                if _not_global(str(result["host"])):
                    raise Undeliverable(f"{shown} resolves to a loopback, private or link-local address")
        return found


def _not_global(address: str) -> bool:
    """Whether a resolved address is one the bot may not reach (one that does not parse neither)."""
    try:
        return not ipaddress.ip_address(address).is_global
    except ValueError:
        return True


def new_session(*, allow_private: bool, connect_timeout: float, send_timeout: float) -> aiohttp.ClientSession:
    """The sender's HTTP session: names resolved and checked by `CheckedResolver` (no DNS cache, so each
    new connection is checked), no connection limit of its own (the sender bounds what is in flight)."""
    connector = aiohttp.TCPConnector(
        resolver=CheckedResolver(allow_private=allow_private, timeout=connect_timeout),
        use_dns_cache=False,
        limit=0,
    )
    timeout = aiohttp.ClientTimeout(total=send_timeout, connect=connect_timeout)
    return aiohttp.ClientSession(connector=connector, timeout=timeout, trust_env=False)


class WebhookSender(DueSweeper):
    """Sends every worker's due webhooks (see the module docstring). `give_up_after`, `retry_in` and the
    timeouts are there for tests; the defaults are the documented ones."""

    name = "webhook-sender"

    def __init__(
        self,
        store: Store,
        *,
        allow_private: bool = False,
        lease: float = LEASE,
        max_sleep: float = 1.0,
        give_up_after: float = GIVE_UP_AFTER,
        retry_in: Callable[[int], float] = backoff,
        connect_timeout: float = CONNECT_TIMEOUT,
        send_timeout: float = SEND_TIMEOUT,
        per_key: int = PER_KEY,
        in_flight: int = IN_FLIGHT,
        names: NameOf | None = None,
        receipts: ReceiptIssuer | None = None,
        not_taken: NotTaken | None = None,
        counted: Callable[[str], None] | None = None,
    ) -> None:
        super().__init__(max_sleep=max_sleep)
        self._store = store
        self._counted = counted or (lambda outcome: None)  # each try's outcome (the metrics)
        self._not_taken = not_taken  # says on the card that a relay's workflow did not take the decision
        self._receipts = receipts  # the body carries the approval's signed receipt, as the API's answers do
        self._names = names  # the decider's display name in the body (`decided_by_name`)
        self._allow_private = allow_private
        self._lease = lease
        self._give_up_after = give_up_after
        self._retry_in = retry_in
        self._connect_timeout = connect_timeout
        self._send_timeout = send_timeout
        self._per_key = per_key
        self._in_flight = in_flight
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._flying: dict[str, int] = {}  # key name -> its deliveries in flight here
        self._ids: set[str] = set()  # approval ids in flight here
        self._took: dict[str, float] = {}  # key name -> how long its deliveries took lately (seconds)

    @property
    def in_flight(self) -> int:
        return len(self._ids)

    async def stop(self) -> None:
        await super().stop()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()  # each is left leased: another worker sends it after the lease
        if tasks:
            await asyncio.wait(tasks, timeout=5.0)
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def next_due(self) -> float | None:
        if self.in_flight >= self._in_flight:
            return None  # full: a delivery that ends wakes the loop
        return await self._store.webhooks.next_due()

    async def sweep(self) -> int:
        """Start every due delivery there is room for; the number started. Never waits for one."""
        started = 0
        while (room := self._in_flight - self.in_flight) > 0:
            now = time.time()
            due = await self._store.webhooks.claim(now=now, lease=self._lease, limit=min(CLAIM, room))
            if not due:
                break
            found = {approval.id: approval for approval in await self._store.approvals.get_many(due)}
            later: dict[str, float] = {}
            waiting: dict[str, int] = {}
            for approval_id in due:
                if approval_id in self._ids:
                    continue  # still being sent here (its lease ran out first): that try settles it
                approval = found.get(approval_id)
                key = approval.asked_by if approval is not None else ""
                if self._flying.get(key, 0) >= self._per_key:
                    behind = waiting[key] = waiting.get(key, 0) + 1
                    rounds = 1 + (behind - 1) // self._per_key
                    estimate = self._took.get(key, FIRST_ESTIMATE)
                    later[approval_id] = now + min(MAX_DEFER, max(0.1, estimate * rounds)) * random.uniform(1.0, 1.2)
                    continue
                self._start(approval_id, key, approval)
                started += 1
            await self._store.webhooks.defer(later)
        return started

    def _start(self, approval_id: str, key: str, approval: ApprovalRecord | None) -> None:
        self._ids.add(approval_id)
        self._flying[key] = self._flying.get(key, 0) + 1
        task = asyncio.create_task(self._run_one(approval_id, key, approval), name=f"webhook {approval_id}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run_one(self, approval_id: str, key: str, approval: ApprovalRecord | None) -> None:
        began = time.monotonic()
        try:
            await self.deliver(approval_id, approval=approval)
        except StoreUnavailable as exc:
            log.warning("webhook of approval %s: Redis failed (%s); it is sent again after its lease",
                        approval_id, exc.cause)
        except Exception:
            log.exception("webhook of approval %s failed; it is sent again after its lease", approval_id)
        finally:
            took = time.monotonic() - began
            self._took[key] = 0.7 * self._took.get(key, took) + 0.3 * took
            if len(self._took) > 10_000:
                self._took.clear()
            self._ids.discard(approval_id)
            left = self._flying.get(key, 1) - 1
            if left > 0:
                self._flying[key] = left
            else:
                self._flying.pop(key, None)
            self.wake()

    async def deliver(self, approval_id: str, *, approval: ApprovalRecord | None = None) -> bool:
        """Try to deliver one webhook (`approval`, when given, as just read); True when the receiver took it."""
        if approval is None:
            approval = await self._store.approvals.get(approval_id)
        if approval is None or not approval.callback_url or approval.pending:
            await self._store.webhooks.drop(approval_id)  # expired, or nothing to send
            return False
        key = await self._store.api_keys.get(approval.asked_by)
        if key is None or not key.owns(approval):  # revoked (a new key of the same name signs nothing of it)
            await self._give_up(approval_id, approval.asked_by, "its API key was revoked", tries=0)
            return False
        secrets = key.webhook_secrets(time.time())
        if not secrets:  # sealed under a SECRETS_KEY this worker lacks (logged): a worker that has it sends it
            log.error("webhook of approval %s: key %s has no webhook secret this worker can open; it is sent again"
                      " after its lease", approval_id, key.name)
            return False
        shown = view(approval, names=await decider_names(approval, self._names))
        if self._receipts is not None:
            shown["receipt"] = await self._receipts.receipt_of(approval)
        body = json.dumps(shown, separators=(",", ":")).encode("utf-8")
        timestamp, route = str(int(time.time())), route_of(approval.callback_url)
        headers = {
            "Content-Type": "application/json",
            SIGNATURE: ",".join(sign(secret, timestamp, body) for secret in secrets),
            TIMESTAMP: timestamp,
            ROUTE: route,
            ROUTE_SIGNATURE: ",".join(sign_route(secret, timestamp, route, body) for secret in secrets),
            DELIVERY: approval_id,
            "User-Agent": "agent-approvals-webhook/1",
        }
        with span("webhook", approval_id=approval_id, channel=approval.origin_channel, tool=approval.tool_name,
                  outcome=approval.status, key=key.name) as current, log_fields(approval_id=approval_id):
            answer = await self._post(approval.callback_url, body, headers)
            annotate(current, webhook_status="delivered" if isinstance(answer, bytes) else str(answer)[:100])
        if isinstance(answer, bytes):
            why = not_taken(answer)
            if why is not None:  # said before the delivery is noted done: a worker dying between says it again
                await self._say_not_taken(approval_id, why)
            await self._store.webhooks.done(
                approval_id, "webhook_delivered", approval=approval_id, key=key.name,
                origin_channel=approval.origin_channel, **({"not_taken": why[:300]} if why is not None else {}),
            )
            self._counted("delivered")
            log.info("webhook of approval %s delivered (%s)", approval_id, approval.status,
                     extra={"approval_id": approval_id})
            return True
        tries, first = await self._store.webhooks.tries(approval_id)
        tries, first = tries + 1, first or time.time()
        self._counted("failed")
        if isinstance(answer, GivenUp) or time.time() - first >= self._give_up_after:
            await self._give_up(approval_id, key.name, answer, tries=tries)
            return False
        log.warning("webhook of approval %s not delivered (try %d: %s)", approval_id, tries, answer)
        await self._store.webhooks.retry(approval_id, at=time.time() + self._retry_in(tries), tries=tries, first=first)
        return False

    async def _say_not_taken(self, approval_id: str, why: str) -> None:
        """A relay took the webhook but its workflow did not take the decision (it had finished): the card says
        so, unless the program used the approval after all (it ran: the relay's answer came from a repeat)."""
        approval = await self._store.approvals.get(approval_id)
        if approval is None or approval.used_at or self._not_taken is None:
            return
        log.info("approval %s: the program's workflow did not take the decision (%s)", approval_id, why[:200])
        await self._not_taken(approval, why)

    async def _give_up(self, approval_id: str, key: str, why: str, *, tries: int) -> None:
        self._counted("given_up")
        log.warning("webhook of approval %s given up after %d tries: %s", approval_id, tries, why)
        await self._store.webhooks.done(
            approval_id, "webhook_failed", approval=approval_id, key=key, reason=why[:300], tries=tries
        )

    async def _post(self, url: str, body: bytes, headers: dict[str, str]) -> str | bytes:
        """POST it; the start of the answer (bytes) when answered 2xx, else what went wrong (text: never the URL,
        the secret or the body). Whatever the URL, this returns: a URL that cannot be sent to is a failed try."""
        try:
            target = URL(url)  # parsed once: the host checked is the host the session connects to
            host = client_host(target)
        except ValueError:
            return "a malformed callback URL"
        if not self._allow_private and private_host(host):  # an address or a local name: no resolver sees it
            return f"{host[:100]} is a loopback, private or link-local address"
        if self._session is None:
            self._session = new_session(
                allow_private=self._allow_private,
                connect_timeout=self._connect_timeout,
                send_timeout=self._send_timeout,
            )
        try:
            async with self._session.post(target, data=body, headers=headers, allow_redirects=False) as response:
                if 200 <= response.status < 300:
                    return await response.content.read(ANSWER_READ)
                if response.status in FINAL:
                    return GivenUp(f"answered {response.status}: the receiver says the delivery is wrong")
                return f"answered {response.status}"
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, Undeliverable):
                return str(exc.os_error)
            return type(exc).__name__
        except aiohttp.ConnectionTimeoutError:
            return f"no connection within {self._connect_timeout:g} s"
        except TimeoutError:
            return f"no answer within {self._send_timeout:g} s"
        except (aiohttp.ClientError, OSError) as exc:
            return type(exc).__name__
        except ValueError as exc:  # a URL aiohttp cannot send to (a label over 63 characters: UnicodeError)
            return f"{host[:100]} cannot be sent to ({type(exc).__name__})"

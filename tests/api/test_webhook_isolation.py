"""Webhooks under bad receivers (issue #33 item 8): one key's hanging receivers do not hold another
key's webhooks (a real worker process, its API, real Redis); a callback host that can never be reached
is retried, then given up and audited, with no traceback; and the address checked is the address
connected to (a name answering a public address, then loopback, cannot lead the sender to loopback).

The rebinding test answers the names through the event loop's `getaddrinfo` (the one both the check
and aiohttp's resolver use), not through a DNS server: running one here is impractical."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agent_approvals import ApprovalsClient
from aiohttp import web

from bot.api.webhooks import PER_KEY, WebhookSender
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import BOB, SALES, Worker, bot_env, start_worker
from tests.support.cluster import Cluster
from tests.support.hitl import until

EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}


class Receiver:
    """A local webhook receiver: answers 200, or (`hang`) takes the request and never answers."""

    def __init__(self, *, hang: bool) -> None:
        self.hang = hang
        self.requests: list[dict[str, str]] = []
        self.given_up: list[int] = []  # for each request taken, how many hung requests the sender had given up on
        self.ended = 0  # hung requests the sender gave up on (hung up)
        self.watching: Receiver | None = None  # whose `ended` `given_up` notes
        self.open = 0
        self.most_open = 0
        self.url = ""
        self.port = 0
        self._runner: web.AppRunner | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append(dict(request.headers))
        if self.watching is not None:
            self.given_up.append(self.watching.ended)
        self.open += 1
        self.most_open = max(self.most_open, self.open)
        try:
            await request.read()
            if self.hang:
                await asyncio.Event().wait()  # until the sender hangs up
            return web.Response(status=200)
        finally:
            self.open -= 1
            if self.hang:
                self.ended += 1

    async def start(self) -> Receiver:
        app = web.Application()
        app.router.add_post("/hook", self.handle)
        self._runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", 0).start()
        self.port = self._runner.addresses[0][1]
        self.url = f"http://127.0.0.1:{self.port}/hook"
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.mark.slow
async def test_a_key_whose_receivers_hang_does_not_hold_another_keys_webhook(
    cluster: Cluster, slack: SlackStandIn, store: Store
) -> None:
    hanging, prompt = await Receiver(hang=True).start(), await Receiver(hang=False).start()
    prompt.watching = hanging
    try:
        # 150 asked as fast as the worker answers: over the default 50 a second one key may start on a worker
        worker = await cluster.start(API_ALLOW_PRIVATE_CALLBACKS="1", API_KEY_RATE="1000")
        slack.events_url = worker.events
        key_a = await store.api_keys.create("hangs", [SALES], by=BOB, max_pending=500, per_minute=1000)
        key_b = await store.api_keys.create("prompt", [SALES], by=BOB)
        assert key_a is not None and key_b is not None
        async with ApprovalsClient(worker.url, key_a.key, title="Many") as a, ApprovalsClient(
            worker.url, key_b.key, title="One"
        ) as b:
            gate = asyncio.Semaphore(8)

            async def ask_a(n: int) -> str:
                async with gate:
                    asked = await a.request_tool("send_email", {**EMAIL, "body": f"#{n}"}, callback_url=hanging.url)
                    return asked.id

            ids = await asyncio.gather(*(ask_a(n) for n in range(150)))
            asked_b = await b.request_tool("send_email", EMAIL, callback_url=prompt.url)
        for approval_id in ids:
            await store.approvals.decide(approval_id, outcome="approved", by=BOB)
        await until(lambda: len(hanging.requests) >= PER_KEY, within=15, what="key A's webhooks hanging")

        await store.approvals.decide(asked_b.id, outcome="approved", by=BOB)
        await until(lambda: prompt.requests, within=60, what="key B's webhook")
        assert prompt.given_up == [0]  # it came while key A's were all still hanging: never queued behind them
        assert prompt.requests[0]["X-Approvals-Delivery"] == asked_b.id
        assert hanging.most_open <= PER_KEY  # a key has a bounded number in flight
        assert "Traceback" not in worker.log.read_text()
    finally:
        cluster.stop_all()  # the worker hangs up: the hanging handlers end
        await hanging.stop()
        await prompt.stop()


@pytest.fixture
async def api(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[Worker]:
    """A worker whose own webhook sender is stopped: each test runs the sender it means to test."""
    env = bot_env(slack=slack, redis_url=redis_url, model_config=None, API_ALLOW_PRIVATE_CALLBACKS="1")
    worker = await start_worker(env)
    slack.events_url = worker.url + "/slack/events"
    await worker.services.webhooks.stop()
    yield worker
    await worker.stop()


async def asked_and_decided(worker: Worker, *callback_urls: str) -> list[str]:
    db = worker.services.store
    made = await db.api_keys.create("nightly", [SALES], by=BOB)
    assert made is not None
    ids = []
    async with ApprovalsClient(worker.url, made.key, title="Tell Bob") as client:
        for url in callback_urls:
            asked = await client.request_tool("send_email", EMAIL, callback_url=url)
            await db.approvals.decide(asked.id, outcome="approved", by=BOB)
            ids.append(asked.id)
    return ids


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_host_that_can_never_be_reached_is_retried_then_given_up_and_audited(
    api: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    db = api.services.store
    long_label = "https://" + "a" * 64 + ".example.com/hook"  # a DNS label is at most 63 characters
    ids = await asked_and_decided(api, long_label, "https://no-such-host.invalid/hook")
    sender = WebhookSender(db, allow_private=False, give_up_after=1.0, retry_in=lambda tries: 0.2, max_sleep=0.2)
    await sender.start()
    try:
        async def given_up() -> list[dict[str, str]]:
            failed = [e for e in await db.audit.entries() if e["event"] == "webhook_failed"]
            return failed if len(failed) == 2 else []

        failed = await until(given_up, within=20, what="both webhooks given up")
    finally:
        await sender.stop()
    assert {e["approval"] for e in failed} == set(ids)
    for entry in failed:
        assert int(entry["tries"]) >= 2 and "resolve" in entry["reason"], entry  # retried, then given up
    assert await db.redis.zcard(db.keys.webhooks) == 0
    assert await db.redis.hlen(db.keys.webhook_tries) == 0
    assert not [r for r in caplog.records if r.exc_info], "a traceback was logged"
    assert not [r for r in caplog.records if "failed; retrying" in r.getMessage()], "the sender loop raised"


async def test_the_address_checked_is_the_address_connected_to(
    api: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A name that answers a public address when first asked, then 127.0.0.1 (where a receiver listens):
    the sender resolves it once per try and connects only where that answer said, never to loopback."""
    receiver = await Receiver(hang=False).start()
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo
    answers: dict[str, list[str]] = {
        "rebind.example.com": ["1.1.1.1", "127.0.0.1", "127.0.0.1", "127.0.0.1"],
        "mixed.example.com": ["1.1.1.1 127.0.0.1"],
    }
    asked: dict[str, int] = {}

    async def getaddrinfo(host: Any, port: Any, *args: Any, **kw: Any) -> Any:
        if host not in answers:
            return await real(host, port, *args, **kw)
        n = asked[host] = asked.get(host, 0) + 1
        addresses = answers[host][min(n, len(answers[host])) - 1].split()
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, int(port or 0))) for a in addresses]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    db = api.services.store
    rebinding, mixed = await asked_and_decided(
        api, f"http://rebind.example.com:{receiver.port}/hook", f"http://mixed.example.com:{receiver.port}/hook"
    )
    sender = WebhookSender(db, allow_private=False)
    try:
        assert await sender.deliver(rebinding) is False  # checked 1.1.1.1, so it may only connect there
        assert await sender.deliver(rebinding) is False  # now answers 127.0.0.1: refused
        assert await sender.deliver(mixed) is False  # one private address among the answers: refused
    finally:
        await sender.stop()
        await receiver.stop()
    assert receiver.requests == [], "the sender connected to loopback"
    assert asked == {"rebind.example.com": 2, "mixed.example.com": 1}  # resolved once a try
    assert (await db.webhooks.tries(rebinding))[0] == 2 and (await db.webhooks.tries(mixed))[0] == 1

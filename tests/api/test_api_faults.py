"""The Approvals API when workers die: `python -m bot` processes killed -9 while a long-poll waits on
them or while they send a webhook. Nothing is lost: the client's retry on another worker is answered
with the decision, and another worker delivers the webhook (once, as the receiver sees it)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from agent_approvals import ApprovalsClient
from aiohttp import web

from bot.api.webhooks import DELIVERY, SIGNATURE, TIMESTAMP, sign
from bot.core.sealing import HiddenKeyring
from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from tests.conftest import BOB, SALES, TEST_SECRETS_KEY
from tests.support.cluster import DEMO, Cluster, WorkerProcess
from tests.support.hitl import click, nth_card, until

pytestmark = pytest.mark.slow  # workers as processes

EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}


async def health(worker: WorkerProcess) -> dict[str, Any]:
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/healthz") as response:
        return dict(await response.json())


async def test_a_long_poll_on_a_worker_killed_9_is_answered_on_another(
    cluster: Cluster, slack: SlackStandIn, store: Store
) -> None:
    first, second = await cluster.start(), await cluster.start()
    made = await store.api_keys.create("nightly", [SALES], by=BOB)
    assert made is not None
    async with ApprovalsClient([first.url, second.url], made.key, title="Tell Bob", retry_for=30) as client:
        asked = await client.request_tool("send_email", EMAIL)
        assert asked.pending
        waiting = asyncio.create_task(client.wait(asked.id))

        async def held() -> bool:
            return (await health(first))["api_long_polls"] == 1

        await until(held, what="the long-poll held on the first worker")
        first.kill()
        slack.events_url = second.events
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        decided = await asyncio.wait_for(waiting, 30)
    assert decided.status == "approved" and decided.decided_by == BOB and decided.arguments == EMAIL
    assert len(await store.approvals.get_many([asked.id])) == 1


class Receiver:
    """A webhook receiver whose first delivery hangs (its sender is killed meanwhile); later ones are taken."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.first = asyncio.Event()
        self.url = ""

    async def handle(self, request: web.Request) -> web.Response:
        self.requests.append((dict(request.headers), await request.read()))
        if len(self.requests) == 1:
            self.first.set()
            await asyncio.Event().wait()  # until its connection is gone
        return web.Response(status=200)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    found = Receiver()
    app = web.Application()
    app.router.add_post("/hook", found.handle)
    runner = web.AppRunner(app, handler_cancellation=True)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    found.url = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"
    yield found
    await runner.cleanup()


async def test_the_webhook_arrives_when_its_sender_is_killed_9_after_the_decision(
    cluster: Cluster, slack: SlackStandIn, store: Store, receiver: Receiver
) -> None:
    settings = {"API_ALLOW_PRIVATE_CALLBACKS": "1", "WEBHOOK_LEASE_SECONDS": "2"}
    deciding = await cluster.start(**settings)
    made = await store.api_keys.create("nightly", [SALES], by=BOB)
    assert made is not None
    async with ApprovalsClient(deciding.url, made.key, title="Tell Bob") as client:
        asked = await client.request_tool("send_email", EMAIL, callback_url=receiver.url)
    slack.events_url = deciding.events
    await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
    await asyncio.wait_for(receiver.first.wait(), 10)  # the deciding worker is sending it...
    deciding.kill()  # ...and dies before it hears back
    await cluster.start(**settings)

    async def delivered() -> bool:
        return await store.redis.zcard(store.keys.webhooks) == 0 and len(receiver.requests) >= 2

    await until(delivered, within=30, what="the webhook delivered by the other worker")
    assert {headers[DELIVERY] for headers, _ in receiver.requests} == {asked.id}  # once, by its delivery id
    for headers, body in receiver.requests:
        assert headers[SIGNATURE] == sign(made.record.webhook_secret, headers[TIMESTAMP], body)
        assert json.loads(body)["status"] == "approved" and json.loads(body)["decided_by"] == BOB
    decisions = [e for e in await store.audit.entries() if e["event"] in ("decision", "webhook_delivered")]
    assert [e["event"] for e in decisions] == ["decision", "webhook_delivered"]


async def test_a_long_poll_outlives_a_redis_restart(slack: SlackStandIn, tmp_path: Path) -> None:
    from tests.conftest import start_redis

    (tmp_path / "redis").mkdir()
    server = start_redis(workdir=str(tmp_path / "redis"), appendonly=True)
    model = tmp_path / "model.json"
    model.write_text(json.dumps(DEMO))
    group = Cluster(slack, server.url, tmp_path, model)
    redis = None
    try:
        worker = await group.start()
        slack.events_url = worker.events
        redis = connect(server.url)
        store = Store(redis)
        store.hidden.use(HiddenKeyring.from_setting(TEST_SECRETS_KEY))  # the workers' (seals the webhook secret)
        made = await store.api_keys.create("nightly", [SALES], by=BOB)
        assert made is not None
        async with ApprovalsClient(worker.url, made.key, title="Tell Bob", retry_for=60) as client:
            asked = await client.request_tool("send_email", EMAIL)
            card = await nth_card(slack, 1)
            waiting = asyncio.create_task(client.wait(asked.id))

            async def held() -> bool:
                return (await health(worker))["api_long_polls"] == 1

            await until(held, what="the long-poll held")
            await redis.aclose()
            server.process.terminate()  # a clean stop: the AOF keeps the approval
            server.process.wait(timeout=10)
            server = start_redis(port=server.port, workdir=server.workdir, appendonly=True)
            redis = connect(server.url)
            store = Store(redis)

            async def clicked() -> bool:  # a click right after the restart may be answered "try again"
                await click(slack, card, "approval_approve", user=BOB)
                approval = await store.approvals.get(asked.id)
                return approval is not None and not approval.pending

            await until(clicked, within=20, what="a click that counts")
            decided = await asyncio.wait_for(waiting, 30)
        assert decided.status == "approved" and decided.decided_by == BOB
        assert worker.process.poll() is None
    finally:
        if redis is not None:
            await redis.aclose()
        group.stop_all()
        if server.process.poll() is None:
            server.process.terminate()
            server.process.wait(timeout=10)

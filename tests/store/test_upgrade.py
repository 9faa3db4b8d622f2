"""The upgrade to workspaces (issue 65), tested as an operator does it: a Redis left by the version before (made by
that version's own worker: tests/store/previous_version/make.py, `redis.json`) is served by a worker of this one with
no step by hand. The worker records its workspace as home, whose keys are today's names, so every record without a
workspace is the home one's: the pending approvals read, withdraw and decide as before (the run's is adopted and
continued), the API key asks, reads and withdraws, and a key of another workspace sees none of them."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from redis.asyncio import Redis

from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import TEAM_ID
from bot.devslack.server import SlackStandIn
from bot.store.api_keys import SEALED
from bot.store.connection import aw
from tests.conftest import BOB, SALES, Worker, bot_env, start_worker
from tests.support.api import Client, tool_ask
from tests.support.hitl import until

PREVIOUS = json.loads((Path(__file__).parent / "previous_version" / "redis.json").read_text())


async def load(redis: Redis, keys: list[dict[str, Any]]) -> None:
    """Write each key as the file holds it (its type, value and time to live)."""
    for entry in keys:
        key, value = entry["key"], entry["value"]
        if entry["type"] == "hash":
            await redis.hset(key, mapping=value)  # type: ignore[misc]
        elif entry["type"] == "string":
            await redis.set(key, value)
        elif entry["type"] == "set":
            await redis.sadd(key, *value)  # type: ignore[misc]
        elif entry["type"] == "list":
            await redis.rpush(key, *value)  # type: ignore[misc]
        elif entry["type"] == "zset":
            await redis.zadd(key, {member: score for member, score in value})
        else:
            for stream_id, fields in value:
                await redis.xadd(key, fields, id=stream_id)
        if entry["ttl"] > 0:
            await redis.pexpire(key, entry["ttl"])


@pytest.fixture
async def upgraded(slack: SlackStandIn, redis_url: str, model_config: Path) -> AsyncIterator[Worker]:
    """A worker of this version started on the previous version's Redis."""
    redis = Redis.from_url(redis_url, decode_responses=True)
    await load(redis, PREVIOUS["redis"])
    assert not await redis.exists("hitl:workspaces:home")  # the previous version knew no workspaces
    await redis.aclose()
    # a heartbeat of 1 s: the previous version's worker is known gone (and its run adopted) after 1 s, not 6
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=model_config,
                                        HEARTBEAT_SECONDS="1"))
    slack.events_url = worker.url + "/slack/events"
    yield worker
    await worker.stop()


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_single_workspace_redis_of_the_previous_version_upgrades_in_place(
    upgraded: Worker, slack: SlackStandIn
) -> None:
    store = upgraded.services.store
    assert await store.tenants.home() == WorkspaceRef(TEAM_ID)  # learnt at start-up: no step by hand
    assert store.for_tenant(TEAM_ID, home=TEAM_ID) is store  # the home tenant's keys are today's names
    first, second = PREVIOUS["asked"]
    key = await store.api_keys.verify(PREVIOUS["api_key"])
    assert key is not None and key.name == "nightly" and key.team == ""  # the home workspace's
    # its webhook secret, kept in the clear by the version before, is sealed at the worker's start (#76): it signs
    # as before (its relay is told nothing), and Redis holds it no more
    (record,) = [e for e in PREVIOUS["redis"] if e["key"].startswith("hitl:apikey:")]
    clear = record["value"]["webhook_secret"]
    stored = await aw(store.redis.hgetall(record["key"]))
    assert stored["webhook_secret"] == SEALED and stored["webhook_sealed"].startswith("t1.v1.")
    assert clear not in str(stored) and key.webhook_secret == clear and key.expires_at == 0.0
    client = Client(upgraded, PREVIOUS["api_key"])
    assert (await client.wait(first, wait=0))["status"] == "pending"
    status, withdrawn, _ = await client.call("DELETE", f"/api/v1/approvals/{second}")
    assert status == 200 and withdrawn["status"] == "cancelled", withdrawn
    status, asked = await client.ask(tool_ask())  # the old key asks again: its approval is the home workspace's
    assert status == 201, asked
    assert (await store.approvals.get(asked["id"])).team == ""  # type: ignore[union-attr]

    decided = await upgraded.services.approvals.decisions.decide(BOB, "slack", "approve", approval_id=first)
    assert decided.status == "ok", decided.status
    assert (await client.wait(first, wait=0))["status"] == "approved"

    other = await store.api_keys.create("eu", (SALES,), by="test", workspace=WorkspaceRef("T0EU"))
    assert other is not None
    status, answer, _ = await Client(upgraded, other.key).call("GET", f"/api/v1/approvals/{first}")
    # another workspace's key sees none of the home workspace's approvals (the app is not installed there: 403)
    assert status == 403 and answer["error"]["code"] == "forbidden", answer

    run = await store.runs.get(PREVIOUS["run"])
    assert run is not None and run.status == "waiting" and run.team == ""
    (waiting,) = await store.approvals.of_run(run.id)
    assert waiting.pending and waiting.team == ""
    ran = await upgraded.services.approvals.decisions.decide(BOB, "slack", "approve", approval_id=waiting.id)
    assert ran.status == "ok", ran.status

    async def continued() -> bool:  # its worker is gone: this one adopts the run and goes on with the decision
        approval = await store.approvals.get(waiting.id)
        return approval is not None and bool(approval.consumed)

    await until(continued, within=20, what="the run adopted and continued with its decision")

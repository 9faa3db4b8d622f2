"""A full Redis is said, not silent (#87.1): with a redis-server of the test's own refusing writes, filled past its
`maxmemory` (noeviction) or unable to save its snapshot (`stop-writes-on-bgsave-error`), a real `python -m bot`
worker answers an API ask 503 with `Retry-After` and a clear message, a signed click "try again in a moment",
`/readyz` 503 naming Redis, and counts the refusals on `/metrics`; once memory is freed it is ready again by itself,
the next ask goes through, and every approval in Redis is whole (no card without its record, no half record). A
worker's synthetic canary (CANARY_INTERVAL) fails at its first step while Redis is full, counted, and goes the whole
way again once memory is freed."""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, cast

import aiohttp
import pytest
import redis as sync_redis
from redis.exceptions import OutOfMemoryError

from bot.approvals.refusals import STORAGE_REFUSING
from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from tests.conftest import APPROVALS, BOB, SALES, RedisServer, has_buttons, start_redis
from tests.support.cluster import DEMO, Cluster, WorkerProcess, click_on
from tests.support.faults import approval_of
from tests.support.hitl import until

pytestmark = pytest.mark.slow  # a worker and a Redis server as processes

ARGUMENTS = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}
EMAIL = {"kind": "tool", "title": "Tell Bob", "tool": {"name": "send_email", "arguments": ARGUMENTS}}


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[RedisServer]:
    (tmp_path / "redis").mkdir()
    server = start_redis(workdir=str(tmp_path / "redis"))
    yield server
    server.process.kill()
    server.process.wait(timeout=10)
    shutil.rmtree(server.workdir, ignore_errors=True)


@pytest.fixture
async def own_store(own_redis: RedisServer) -> AsyncIterator[Store]:
    redis = connect(own_redis.url)
    yield Store(redis)
    await redis.aclose()


@pytest.fixture
async def group(slack: SlackStandIn, own_redis: RedisServer, tmp_path: Path) -> AsyncIterator[Cluster]:
    model = tmp_path / "model.json"
    model.write_text(json.dumps(DEMO))
    workers = Cluster(slack, own_redis.url, tmp_path, model)
    yield workers
    workers.stop_all()


@pytest.fixture
async def worker(slack: SlackStandIn, group: Cluster) -> WorkerProcess:
    started = await group.start()
    slack.events_url = started.events
    return started


async def ask(worker: WorkerProcess, key: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    headers = {"Authorization": f"Bearer {key}"}
    async with aiohttp.ClientSession() as http, http.post(
        worker.url + "/api/v1/approvals", json={**EMAIL, "channel": SALES}, headers=headers
    ) as response:
        return response.status, dict(response.headers), await response.json()


async def get(worker: WorkerProcess, path: str) -> tuple[int, str]:
    async with aiohttp.ClientSession() as http, http.get(worker.url + path) as response:
        return response.status, await response.text()


def refused_total(metrics: str, reason: str) -> float:
    return series(metrics, f'hitl_redis_writes_refused_total{{reason="{reason}"}}')


def series(metrics: str, name: str) -> float:
    """The value of the series `name` (with its labels, as `/metrics` writes them) in a `/metrics` body."""
    line = next(line for line in metrics.splitlines() if line.startswith(name + " "))
    return float(line.rsplit(" ", 1)[1])


def info(client: sync_redis.Redis, section: str) -> dict[str, Any]:
    return cast(dict[str, Any], client.info(section))


def fill(client: sync_redis.Redis) -> None:
    """Redis's `maxmemory` set a little above what it holds, then filled until it refuses a write; its limit then
    set 1 MB under what it holds (the refused value's bytes, counted while it was read, are free again: a smaller
    write would go through)."""
    used = int(info(client, "memory")["used_memory"])
    client.config_set("maxmemory", str(used + 2_000_000))
    for n in range(10_000):
        try:
            client.set(f"filler:{n}", "x" * 100_000)
        except OutOfMemoryError:
            used = int(info(client, "memory")["used_memory"])
            client.config_set("maxmemory", str(used - 1_000_000))
            return
    raise AssertionError("Redis never refused a write")


async def whole(slack: SlackStandIn, store: Store) -> None:
    """Every card posted has its approval in Redis, whole (its record and its texts read back), with this card."""
    for card in [m for m in slack.messages(APPROVALS) if not m.get("thread_ts") and has_buttons(m)]:
        approval_id = approval_of(card)
        assert approval_id is not None
        approval = await store.approvals.get(approval_id)
        assert approval is not None and approval.pending and approval.tool_name == "send_email", approval_id
        assert json.loads(approval.arguments) == ARGUMENTS and approval.card_ts == card["ts"]


async def test_a_full_redis_is_said_by_the_api_a_click_readyz_and_metrics_then_passes_by_itself(
    slack: SlackStandIn, own_redis: RedisServer, own_store: Store, worker: WorkerProcess
) -> None:
    made = await own_store.api_keys.create("nightly", [SALES], by=BOB)
    assert made is not None
    status, _, first = await ask(worker, made.key)
    assert status == 201, first
    card = await slack.wait_for(lambda: [m for m in slack.messages(APPROVALS) if has_buttons(m)], timeout=20)
    client = sync_redis.Redis(port=own_redis.port)
    fill(client)

    status, headers, body = await ask(worker, made.key)
    assert status == 503, body
    assert int(headers["Retry-After"]) >= 1
    assert body["error"]["code"] == "unavailable" and "refuses writes" in body["error"]["message"]

    await click_on(slack, worker, card[0], user=BOB)
    told = await until(lambda: [e for e in slack.ephemerals(BOB) if e["text"] == STORAGE_REFUSING],
                       within=20, what="the clicker told to try again")
    assert "Try again in a moment" in told[0]["text"]
    status, said = await get(worker, "/readyz")
    assert status == 503 and '"failing": ["redis"]' in said and "refusing writes (oom)" in said
    status, metrics = await get(worker, "/metrics")
    assert status == 200 and refused_total(metrics, "oom") >= 2  # the ask's and the click's, at least
    assert "hitl_redis_memory_max_bytes" in metrics and "hitl_redis_memory_used_bytes" in metrics
    approval = await own_store.approvals.get(first["id"])
    assert approval is not None and approval.pending  # the click changed nothing

    client.config_set("maxmemory", "0")
    client.close()

    async def ready() -> bool:
        return (await get(worker, "/readyz"))[0] == 200

    await until(ready, within=20, what="ready again by itself")
    status, _, second = await ask(worker, made.key)
    assert status == 201, second
    await until(lambda: len([m for m in slack.messages(APPROVALS) if has_buttons(m)]) == 2, within=20,
                what="the second card")
    await whole(slack, own_store)
    assert len(await own_store.approvals.get_many([first["id"], second["id"]])) == 2


async def test_a_redis_that_cannot_save_is_said_as_refusing_writes_then_passes(
    own_redis: RedisServer, own_store: Store, worker: WorkerProcess, tmp_path: Path
) -> None:
    made = await own_store.api_keys.create("nightly", [SALES], by=BOB)
    assert made is not None
    client = sync_redis.Redis(port=own_redis.port)
    gone = tmp_path / "gone"
    gone.mkdir()
    client.config_set("dir", str(gone))
    os.rmdir(gone)  # (as root too: its snapshot cannot be written)
    client.config_set("save", "3600 1")
    client.config_set("stop-writes-on-bgsave-error", "yes")
    client.bgsave()
    await until(lambda: info(client, "persistence")["rdb_last_bgsave_status"] == "err", what="the save failed")

    status, headers, body = await ask(worker, made.key)
    assert status == 503 and int(headers["Retry-After"]) >= 1 and "refuses writes" in body["error"]["message"]
    status, said = await get(worker, "/readyz")
    assert status == 503 and "refusing writes (misconf)" in said
    status, metrics = await get(worker, "/metrics")
    assert refused_total(metrics, "misconf") >= 1

    client.config_set("stop-writes-on-bgsave-error", "no")
    client.close()

    async def ready() -> bool:
        return (await get(worker, "/readyz"))[0] == 200

    await until(ready, within=20, what="ready again by itself")
    status, _, asked = await ask(worker, made.key)
    assert status == 201, asked


async def test_a_full_redis_stops_the_canary_at_create_and_it_goes_on_once_memory_is_freed(
    own_redis: RedisServer, group: Cluster
) -> None:
    worker = await group.start(CANARY_INTERVAL="1")

    async def last_success() -> float:
        return series((await get(worker, "/metrics"))[1], "hitl_canary_last_success_timestamp_seconds")

    async def failed_at_create() -> float:
        return series((await get(worker, "/metrics"))[1], 'hitl_canary_failures_total{stage="create"}')

    await until(last_success, within=20, what="a first canary")
    client = sync_redis.Redis(port=own_redis.port)
    fill(client)
    await until(lambda: _more(failed_at_create, 0.0), within=20, what="a canary failed at create")
    stopped, failed = await last_success(), await failed_at_create()
    await until(lambda: _more(failed_at_create, failed), within=20, what="the next canary failed at create too")
    assert await last_success() == stopped  # (one that went through as Redis filled was before the first failure)
    assert worker.log.read_text().count("the synthetic canary failed at create") == 1  # once a minute at most

    client.config_set("maxmemory", "0")
    client.close()
    await until(lambda: _more(last_success, stopped), within=20, what="a canary through again")
    assert series((await get(worker, "/metrics"))[1], 'hitl_canary_failures_total{stage="resume"}') == 0


async def _more(read: Callable[[], Awaitable[float]], than: float) -> bool:
    return await read() > than

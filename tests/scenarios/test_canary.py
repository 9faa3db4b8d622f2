"""The synthetic canary (#87.1): a real `python -m bot` worker with CANARY_INTERVAL=1 opens, decides as its probe and
hears back an approval each second through the store's real steps, and says so on `/metrics`
(`hitl_canary_last_success_timestamp_seconds` advancing); no surface shows it (no Slack call made for it, no
message, no Home), it is in no list of the waiting, no reminder, deadline or audit entry, kept a short while; and
no person can decide one. With Redis full, see tests/scenarios/test_full_redis.py."""

from __future__ import annotations

import time

import aiohttp
import pytest
import redis as sync_redis

from bot.api.canary import canary_approval
from bot.devslack.server import SlackStandIn
from bot.store import Store
from bot.store.approvals import CANARY_SECONDS
from tests.conftest import BOB, SALES
from tests.support.cluster import Cluster, WorkerProcess
from tests.support.hitl import until

pytestmark = pytest.mark.slow  # a worker as a process

SHOWN = ("chat.postMessage", "chat.postEphemeral", "chat.update", "views.publish", "conversations.open")


def gauge(metrics: str, name: str) -> float:
    """The value of an unlabelled series `name` in a `/metrics` body."""
    line = next(line for line in metrics.splitlines() if line.startswith(name + " "))
    return float(line.rsplit(" ", 1)[1])


async def scrape(worker: WorkerProcess) -> str:
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/metrics") as response:
        assert response.status == 200
        return await response.text()


async def last_success(worker: WorkerProcess) -> float:
    return gauge(await scrape(worker), "hitl_canary_last_success_timestamp_seconds")


def where_named(client: sync_redis.Redis, word: str) -> list[str]:
    """Every key of Redis whose name or content (a set's, sorted set's or list's members, a hash's or stream's
    values) holds `word`."""
    found = []
    for raw in client.scan_iter(count=1000):
        key = raw.decode()
        kind = client.type(key).decode()
        members: list[bytes] = []
        if kind == "zset":
            members = client.zrange(key, 0, -1)
        elif kind == "set":
            members = list(client.smembers(key))
        elif kind == "list":
            members = client.lrange(key, 0, -1)
        elif kind == "hash" and not key.startswith("hitl:approval:"):
            members = list(client.hvals(key))
        elif kind == "stream":
            members = [value for _, fields in client.xrange(key) for value in fields.values()]
        if word in key or any(word.encode() in member for member in members):
            found.append(key)
    return found


async def test_a_canary_goes_the_whole_way_each_interval_and_no_surface_shows_it(
    slack: SlackStandIn, cluster: Cluster, redis_url: str
) -> None:
    calls_before = slack.call_count()
    worker = await cluster.start(CANARY_INTERVAL="1")
    metrics = await scrape(worker)
    assert gauge(metrics, "hitl_canary_interval_seconds") == 1.0
    first = await until(lambda: last_success(worker), within=20, what="a first canary")
    assert abs(first - time.time()) < 30
    second = await until(lambda: _after(worker, first), within=20, what="the next canary")
    assert second > first
    metrics = await scrape(worker)
    assert 'hitl_canary_failures_total{stage="create"} 0.0' in metrics
    assert 'hitl_canary_failures_total{stage="resume"} 0.0' in metrics
    assert 'hitl_canary_failures_total{stage="decide"} 0.0' in metrics
    assert gauge(metrics, "hitl_pending_approvals") == 0 and "hitl_waiting_approvals{" not in metrics

    assert [c.method for c in slack.calls_since(calls_before) if c.method in SHOWN] == []
    assert slack.messages(SALES) == [] and slack.home_view(BOB) is None
    client = sync_redis.Redis.from_url(redis_url)
    canaries = [key.decode() for key in client.scan_iter("hitl:approval:{canary-*}")]
    assert canaries, "the canaries' approvals are in Redis, a short while"
    for key in canaries:
        assert 0 < client.ttl(key) <= CANARY_SECONDS
        assert client.hget(key, "status") == b"approved" and client.hget(key, "decided_by").startswith(b"probe:")
        approval_id = key.removeprefix("hitl:approval:{").removesuffix("}")
        assert sorted(where_named(client, approval_id)) == sorted([key, f"hitl:text:{{{approval_id}}}"])
    client.close()


async def _after(worker: WorkerProcess, than: float) -> float:
    now = await last_success(worker)
    return now if now > than else 0.0


async def test_no_person_decides_a_canary_only_its_probe(store: Store) -> None:
    approval = canary_approval(probe="probe:w-1", now=time.time())
    assert await store.approvals.open_canary(approval) == "ok"
    assert await store.approvals.waiting_ids() == [] and await store.approvals.pending() == []

    refused = await store.approvals.decide(approval.id, outcome="approved", by=BOB, check_auth=True, principals=())
    assert refused.status == "not_allowed"  # (as a click is: nobody away delegated to them)
    decided = await store.approvals.decide(approval.id, outcome="approved", by="probe:w-1", check_auth=True)
    assert decided.status == "ok" and decided.approval is not None and decided.approval.decided_by == "probe:w-1"
    again = await store.approvals.decide(approval.id, outcome="rejected", by="probe:w-1", check_auth=True)
    assert again.status == "already"
    assert [e for e in await store.audit.entries() if e.get("approval") == approval.id
            and e.get("event") != "refused"] == []  # (a person's refused try is audited, as any)

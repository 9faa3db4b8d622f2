"""Correct under real faults done to Redis: real `python -m bot` worker processes and a redis-server of the
test's own (AOF on, never the shared one), stopped, killed, frozen and restarted while runs wait and people click.

Each test waits on conditions with deadlines; the only sleeps hold a fault for its stated duration.
"""

from __future__ import annotations

import asyncio
import collections
import random
import shutil
import signal
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from redis.exceptions import RedisError

from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import (
    ALICE,
    BOB,
    CAROL,
    SALES,
    RedisServer,
    has_buttons,
    reply_text,
    start_redis,
)
from tests.support.cluster import (
    Cluster,
    WorkerProcess,
    cards,
    click_on,
    command_on,
    pending_cards,
    run_of,
    run_status,
    run_with_card,
)
from tests.support.faults import approval_of, card_post, cards_match_redis, finished_once, unconsumed
from tests.support.flow import TASK, start_run
from tests.support.hitl import until

pytestmark = pytest.mark.slow  # workers and Redis servers as processes

T = TypeVar("T")


class OwnRedis:
    """A redis-server of one test (AOF on): stopped, killed, frozen and restarted on the same port and dir."""

    def __init__(self, server: RedisServer) -> None:
        self.server = server
        self.frozen = False

    @property
    def url(self) -> str:
        return self.server.url

    def stop(self, how: signal.Signals = signal.SIGTERM) -> None:
        self.server.process.send_signal(how)
        self.server.process.wait(timeout=10)

    def start(self) -> None:
        restarted = start_redis(port=self.server.port, workdir=self.server.workdir, appendonly=True)
        self.server.process = restarted.process

    def freeze(self) -> None:
        self.server.process.send_signal(signal.SIGSTOP)
        self.frozen = True

    def thaw(self) -> None:
        self.server.process.send_signal(signal.SIGCONT)
        self.frozen = False


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[OwnRedis]:
    (tmp_path / "redis").mkdir()
    redis = OwnRedis(start_redis(workdir=str(tmp_path / "redis"), appendonly=True))
    try:
        yield redis
    finally:
        process = redis.server.process
        if process.poll() is None:
            if redis.frozen:
                redis.thaw()
            process.kill()
            process.wait(timeout=10)
        shutil.rmtree(redis.server.workdir, ignore_errors=True)


async def quietly(awaitable: Awaitable[T]) -> T | None:
    """A Redis read that may meet Redis down: None then."""
    try:
        return await awaitable
    except (RedisError, OSError):
        return None


async def healthz(worker: WorkerProcess) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/healthz") as response:
        return response.status, await response.json()


async def test_redis_restarted_five_times_under_three_workers(
    slack: SlackStandIn, own_redis: OwnRedis, clusters: Callable[..., Cluster], stores: Callable[[str], Store]
) -> None:
    """Four writer runs while Redis is stopped (SIGTERM or SIGKILL) for ~1.8 s five times, clicks landing on
    any worker: each run completes exactly once, never two pending cards of a run, nothing left unconsumed."""
    store = stores(own_redis.url)
    group = clusters(own_redis.url, delay=0.5)
    workers = [await group.start() for _ in range(3)]
    rng = random.Random(12)
    violations: list[str] = []
    started: list[str] = []
    done = asyncio.Event()

    async def clicker() -> None:
        """Approve every pending card, a while after it appears; again a second later if it still has buttons
        (a click while Redis is down is answered "try again"). Also checks every sample for two pending cards."""
        first_seen: dict[str, float] = {}
        last_click: dict[str, float] = {}
        while not done.is_set():
            now = time.monotonic()
            pending = pending_cards(slack)
            per_run = collections.Counter(run_of(c) for c in pending)
            violations.extend(f"run {r} had {n} pending cards at once" for r, n in per_run.items() if n > 1)
            for card in pending:
                seen = first_seen.setdefault(card["ts"], now + rng.uniform(0, 2.0))
                if now >= seen and now - last_click.get(card["ts"], -10.0) > 1.0:
                    last_click[card["ts"]] = now
                    try:
                        await click_on(slack, rng.choice(workers), card, user=CAROL)
                    except ValueError:  # redrawn meanwhile
                        pass
            await asyncio.sleep(0.02)

    async def start_one(user: str) -> None:
        deadline = time.monotonic() + 10
        while True:  # Redis has just come back: a "try again" is allowed, a lost run is not
            result = await command_on(slack, rng.choice(workers), TASK, user=user)
            text = reply_text(result) if result.status == 200 else ""
            if "Started run `" in text:
                started.append(text.split("`")[1])
                return
            assert time.monotonic() < deadline, f"could not start a run: {result.status} {result.body[:300]}"
            await asyncio.sleep(0.2)

    clicking = asyncio.create_task(clicker())
    try:
        for cycle in range(5):
            if cycle < 4:
                await start_one((ALICE, BOB)[cycle % 2])
            await asyncio.sleep(1.2)  # Redis up for 1.2 s
            own_redis.stop(signal.SIGTERM if cycle % 2 == 0 else signal.SIGKILL)
            await asyncio.sleep(1.8)  # the fault: Redis down for 1.8 s
            own_redis.start()
        deadline = time.monotonic() + 60
        while True:
            runs = [await quietly(store.runs.get(r)) for r in started]
            if all(r is not None and r.final for r in runs):
                break
            assert time.monotonic() < deadline, f"runs not finished: {[(r.id, r.status) for r in runs if r]}"
            await asyncio.sleep(0.1)
    finally:
        done.set()
        await clicking
    assert violations == []
    everything = await store.runs.recent(SALES, limit=50)
    assert sorted(r.id for r in everything) == sorted(started)  # no run lost, none started twice
    assert {r.id: r.status for r in everything} == dict.fromkeys(started, "completed")
    for run_id in started:
        assert await finished_once(store, run_id) == 1, run_id
        assert await unconsumed(store, run_id) == [], run_id
    await cards_match_redis(slack, store, started)
    assert all(w.process.poll() is None for w in workers)  # every worker stayed up


async def test_a_redis_blip_while_the_model_works_loses_nothing(
    slack: SlackStandIn, own_redis: OwnRedis, clusters: Callable[..., Cluster], stores: Callable[[str], Store]
) -> None:
    """Redis down for 2.5 s while the agent works (before its card): /healthz says degraded; once Redis is
    back the card appears and approving it completes the run."""
    store = stores(own_redis.url)
    group = clusters(own_redis.url, delay=1.5)
    worker = await group.start()
    slack.events_url = worker.events
    run_id = await start_run(slack)

    async def working() -> bool:
        run = await store.runs.get(run_id)
        return run is not None and run.status == "running" and bool(run.header_ts)

    await until(working, within=10, what="the run's agent at work")
    assert pending_cards(slack) == []
    own_redis.stop()
    status, health = await healthz(worker)
    assert status == 200 and health["status"] == "degraded"
    await asyncio.sleep(2.5)  # the fault: Redis down for 2.5 s
    own_redis.start()
    card = await slack.wait_for(lambda: next(iter(pending_cards(slack, run_id)), None), timeout=20)
    await click_on(slack, worker, card)
    await run_status(store, run_id, "completed", within=20)
    await cards_match_redis(slack, store, [run_id])


async def test_redis_down_between_posting_a_card_and_storing_its_ts(
    slack: SlackStandIn, own_redis: OwnRedis, clusters: Callable[..., Cluster], stores: Callable[[str], Store]
) -> None:
    """The card's post is in flight when Redis stops; it lands, Redis stays down 2.5 s: the approval still
    ends up attached to that card, the card is right, and a click on it works."""
    store = stores(own_redis.url)
    group = clusters(own_redis.url, delay=0.5)
    worker = await group.start()
    held = slack.hold("chat.postMessage", when=card_post)
    try:
        slack.events_url = worker.events
        run_id = await start_run(slack)
        await asyncio.wait_for(held.arrived.wait(), timeout=20)
        own_redis.stop()
    finally:
        held.release()
    card = await slack.wait_for(lambda: next(iter(cards(slack, run_id)), None), timeout=10)
    await asyncio.sleep(2.5)  # the fault: Redis down for 2.5 s after the card was posted
    own_redis.start()
    approval_id = approval_of(card)
    assert approval_id is not None

    async def attached() -> bool:
        approval = await store.approvals.get(approval_id)
        return approval is not None and approval.card_ts == card["ts"]

    await until(attached, within=15, what="the approval attached to its card")
    await cards_match_redis(slack, store, [run_id])
    await click_on(slack, worker, card)
    await run_status(store, run_id, "completed", within=20)
    await cards_match_redis(slack, store, [run_id])


async def test_redis_frozen_for_12_seconds_answers_fast_and_applies_nothing(
    slack: SlackStandIn, own_redis: OwnRedis, clusters: Callable[..., Cluster], stores: Callable[[str], Store]
) -> None:
    """redis-server SIGSTOPped for 12 s with a card pending: a click, `/agent status`, a new `/agent <task>` and
    /healthz each answer while Redis is still frozen; the click is told to try again and is not applied after Redis
    thaws, and the audit log says so once Redis answers; the task is told nothing was started (the log names the
    cause, not where Redis is), and no run of it starts after the thaw; a new click decides."""
    store = stores(own_redis.url)
    group = clusters(own_redis.url)
    worker = await group.start(REDIS_TIMEOUT="1")
    run_id, card = await run_with_card(slack, worker)
    approval_id = approval_of(card)
    assert approval_id is not None

    async def attached() -> bool:
        approval = await store.approvals.get(approval_id)
        return approval is not None and approval.card_ts == card["ts"]

    await until(attached, within=10, what="the card attached")
    own_redis.freeze()
    thawing = asyncio.get_running_loop().call_later(12, own_redis.thaw)  # the fault: frozen for 12 s
    try:
        clicked, status, started, health = await asyncio.gather(
            click_on(slack, worker, card), command_on(slack, worker, "status"),
            command_on(slack, worker, "Draft a note about the frozen store"), healthz(worker)
        )
        assert own_redis.frozen  # all four were answered while Redis was still frozen
        assert clicked is not None and clicked.status == 200
        assert status is not None and status.status == 200
        assert started.status == 200 and "cannot reach its storage" in reply_text(started), reply_text(started)
        assert "Nothing was started or changed" in reply_text(started)
        said = [line for line in worker.log.read_text().splitlines() if "/agent not handled" in line]
        assert said and all("Redis unreachable (" in line for line in said), said
        assert not [line for line in said if f":{own_redis.server.port}" in line or "redis://" in line], said
        assert health is not None and health[0] == 200 and health[1]["status"] == "degraded"
        note = await slack.wait_for(lambda: slack.ephemerals(BOB) and slack.ephemerals(BOB)[-1], timeout=5)
        assert "try again" in note["text"].lower()
        await until(lambda: not own_redis.frozen, within=30, what="the 12 s freeze to end")
    finally:
        thawing.cancel()
        if own_redis.frozen:
            own_redis.thaw()
    deadline = time.monotonic() + 1.5  # anything the worker left queued in Redis's socket runs at once now
    while time.monotonic() < deadline:
        approval = await store.approvals.get(approval_id)
        assert approval is not None and approval.pending, f"the click made during the freeze was applied: {approval}"
        await asyncio.sleep(0.05)
    assert has_buttons(next(c for c in cards(slack, run_id) if c["ts"] == card["ts"]))

    async def audited() -> bool:  # the click told to try again is in the audit log, once Redis answers again
        return any(e["event"] == "refused" and e.get("approval") == approval_id and e.get("by") == BOB
                   and str(e.get("reason", "")).startswith("not recorded: Redis unreachable")
                   for e in await store.audit.entries())

    await until(audited, within=30, what="the click not recorded audited")
    await click_on(slack, worker, card)
    await run_status(store, run_id, "completed", within=20)
    assert [run.id for run in await store.runs.recent(SALES)] == [run_id]  # the refused task never started
    decided = await store.approvals.get(approval_id)
    assert decided is not None and decided.status == "approved" and decided.decided_by == BOB
    await cards_match_redis(slack, store, [run_id])

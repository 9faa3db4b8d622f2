"""Correct under real faults: real `python -m bot` worker processes, real redis-server processes and the
Slack stand-in, with the faults done to them for real (SIGSTOP/SIGCONT, SIGTERM, SIGKILL, Redis stopped,
killed, frozen and restarted, a card's `chat.postMessage` held in flight, junk in Redis and on pub/sub).

Each test waits on conditions with deadlines; the only sleeps hold a fault for its stated duration.
Tests that stop, freeze or restart Redis use a redis-server of their own (AOF on), never the shared one.
"""

from __future__ import annotations

import asyncio
import collections
import json
import random
import shutil
import signal
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import pytest
from redis.asyncio import Redis
from redis.exceptions import RedisError

from bot.core.records import ApprovalRecord
from bot.devslack.server import HeldCall, SlackStandIn
from bot.store import Store
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    CAROL,
    SALES,
    RedisServer,
    block_texts,
    find_header,
    has_buttons,
    reply_text,
    start_redis,
    texts,
    thread_of,
)
from tests.support.cluster import (
    Cluster,
    WorkerProcess,
    cards,
    click_on,
    command_on,
    is_tool_call,
    pending_cards,
    run_of,
    run_status,
    run_with_card,
    worker_id,
)
from tests.support.flow import TASK, start_run
from tests.support.hitl import until

T = TypeVar("T")
EMAIL_TASK = "--team email Email our vendor asking for a 10% discount on the Q2 order"
LIMIT_REFUSAL = "You already have 3 active runs"


# --------------------------------------------------------------------------------------------------- fixtures


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


@pytest.fixture
async def clusters(slack: SlackStandIn, tmp_path: Path) -> AsyncIterator[Callable[..., Cluster]]:
    """Make a `Cluster` of worker processes on a Redis URL, with the demo model taking `delay` seconds per
    answer; every worker is killed at the end (stopped ones too)."""
    made: list[Cluster] = []

    def make(redis_url: str, *, delay: float = 0.0) -> Cluster:
        model = tmp_path / f"model-{len(made)}.json"
        model.write_text(
            json.dumps({"provider": "bot.runs.demo_model.DemoChatCompletionClient", "config": {"delay": delay}})
        )
        group = Cluster(slack, redis_url, tmp_path, model)
        made.append(group)
        return group

    try:
        yield make
    finally:
        for group in made:
            for worker in group.workers:
                if worker.process.poll() is None:
                    worker.process.send_signal(signal.SIGCONT)  # in case a test left it stopped
            group.stop_all()


@pytest.fixture
async def stores() -> AsyncIterator[Callable[[str], Store]]:
    """The test's own view of a Redis (short timeouts, so that a frozen Redis cannot hang the test)."""
    clients: list[Redis] = []

    def open_store(url: str) -> Store:
        client = Redis.from_url(url, decode_responses=True, socket_timeout=2, socket_connect_timeout=1)
        clients.append(client)
        return Store(client)

    yield open_store
    for client in clients:
        await client.aclose()


# --------------------------------------------------------------------------------------------------- helpers


def approval_of(card: dict[str, Any]) -> str | None:
    """The approval id a card's buttons carry (None once it has no buttons)."""
    for block in card.get("blocks") or []:
        if block.get("type") == "actions":
            for element in block.get("elements") or []:
                if element.get("value"):
                    return str(element["value"])
    return None


async def quietly(awaitable: Awaitable[T]) -> T | None:
    """A Redis read that may meet Redis down: None then."""
    try:
        return await awaitable
    except (RedisError, OSError):
        return None


async def healthz(worker: WorkerProcess) -> tuple[int, dict[str, Any]]:
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/healthz") as response:
        return response.status, await response.json()


async def timed(awaitable: Awaitable[T], *, limit: float = 5.0) -> tuple[T | None, float]:
    """(result, seconds taken); (None, seconds) when it took longer than `limit` (then abandoned)."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(limit):
            result = await awaitable
    except TimeoutError:
        return None, time.monotonic() - started
    return result, time.monotonic() - started


async def card_problems(slack: SlackStandIn, store: Store, run_ids: list[str]) -> list[str]:
    """Where a card disagrees with Redis: every card must be the card of one of its run's approvals; a pending
    approval's card has buttons carrying its id, a decided one's says the decision and has none."""
    problems = []
    for run_id in run_ids:
        by_ts = {a.card_ts: a for a in await store.approvals.of_run(run_id) if a.card_ts}
        for card in cards(slack, run_id):
            approval = by_ts.get(card["ts"])
            if approval is None:
                problems.append(f"card {card['ts']} of run {run_id} is no approval's card in Redis")
            elif approval.pending and approval_of(card) != approval.id:
                problems.append(f"card of pending approval {approval.id} has no live buttons for it")
            elif not approval.pending and (
                has_buttons(card) or f"Approval {approval.status.replace('_', ' ')}" not in block_texts(card)
            ):
                problems.append(f"card of {approval.status} approval {approval.id} does not show it")
    return problems


async def cards_match_redis(slack: SlackStandIn, store: Store, run_ids: list[str], *, within: float = 15) -> None:
    deadline = time.monotonic() + within
    while problems := await card_problems(slack, store, run_ids):
        if time.monotonic() > deadline:
            raise AssertionError(f"cards disagree with Redis: {problems}")
        await asyncio.sleep(0.05)


async def unconsumed(store: Store, run_id: str) -> list[ApprovalRecord]:
    """Decisions shown as taken (approved, rejected, revised) that no worker continued the run with."""
    decided = ("approved", "rejected", "revised")
    return [a for a in await store.approvals.of_run(run_id) if a.status in decided and a.consumed != 1]


async def approve_until_final(
    slack: SlackStandIn, store: Store, run_id: str, workers: list[WorkerProcess], *, within: float = 40
) -> str:
    """Approve each pending card of the run as it appears (alternating workers) until the run ends; its status."""
    clicked: set[str] = set()
    deadline = time.monotonic() + within
    while True:
        run = await store.runs.get(run_id)
        if run is not None and run.final:
            return run.status
        for card in pending_cards(slack, run_id):
            if card["ts"] not in clicked:
                clicked.add(card["ts"])
                try:
                    await click_on(slack, workers[len(clicked) % len(workers)], card, user=CAROL)
                except ValueError:  # redrawn meanwhile: no buttons left to click
                    pass
        if time.monotonic() > deadline:
            raise AssertionError(f"run {run_id} did not end within {within}s: {run.status if run else None}")
        await asyncio.sleep(0.02)


async def finished_once(store: Store, run_id: str) -> int:
    return len(
        [e for e in await store.audit.entries(count=100_000) if e["event"] == "run_finished" and e["run"] == run_id]
    )


def card_post(args: dict[str, Any]) -> bool:
    """A `chat.postMessage` of an approval card (top level in #approvals)."""
    return args.get("channel") == APPROVALS and not args.get("thread_ts")


# --------------------------------------------------------------------------------------------------- 1. fencing


async def test_a_stalled_owner_is_fenced_off_and_never_shows_a_second_card(
    slack: SlackStandIn, redis_url: str, clusters: Callable[..., Cluster], stores: Callable[[str], Store]
) -> None:
    """The owner is SIGSTOPped while its agent works after a click, past its heartbeat: the other worker
    restarts the run. Resumed, the stale owner writes nothing: one pending card at a time, the run completes,
    no decision shown as taken is dropped."""
    store = stores(redis_url)
    group = clusters(redis_url, delay=2.0)
    a = await group.start()
    b = await group.start()
    # the plan team: approving the plan sets its executor to work (the writer team ends on Approve)
    slack.events_url = a.events
    run_id = await start_run(slack, task="--team plan " + TASK)
    plan = await slack.wait_for(lambda: next(iter(pending_cards(slack, run_id)), None), timeout=20)
    plan_approval = approval_of(plan)
    assert plan_approval is not None
    await click_on(slack, b, plan)

    async def taken() -> bool:
        approval = await store.approvals.get(plan_approval)
        return approval is not None and approval.consumed == 1

    await until(taken, within=10, what="the owner took the decision")  # its executor is now working (2 s)
    a.process.send_signal(signal.SIGSTOP)
    try:
        await asyncio.sleep(5.0)  # the fault: A stalled for 5 s (heartbeat 1 s); B restarts the run meanwhile
    finally:
        a.process.send_signal(signal.SIGCONT)
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline:
        pending = pending_cards(slack, run_id)
        assert len(pending) <= 1, f"{len(pending)} pending cards for run {run_id}: {[approval_of(c) for c in pending]}"
        await asyncio.sleep(0.02)
    await until(lambda: f"no longer owns run {run_id}" in a.log.read_text(), within=10, what="A noticed it was fenced")
    assert await approve_until_final(slack, store, run_id, [b, a]) == "completed"
    await cards_match_redis(slack, store, [run_id])
    assert await unconsumed(store, run_id) == []
    assert await finished_once(store, run_id) == 1


# --------------------------------------------------------------------------------------------------- 2. Redis restarts


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


# --------------------------------------------------------------------------------------------------- 3. side effects


@pytest.mark.parametrize("how", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
async def test_an_approved_email_is_sent_exactly_once_when_its_worker_dies_after_sending(
    slack: SlackStandIn,
    redis_url: str,
    clusters: Callable[..., Cluster],
    stores: Callable[[str], Store],
    tmp_path: Path,
    how: signal.Signals,
) -> None:
    """send_email ran (the .eml is there) and its worker dies while the drafter confirms it: the run goes on
    elsewhere without asking to send again ("already ran"), and exactly one email is in the outbox."""
    store = stores(redis_url)
    outbox = tmp_path / "outbox"
    group = clusters(redis_url, delay=2.0)
    first_worker = await group.start(OUTBOX_DIR=str(outbox))
    second_worker = await group.start(OUTBOX_DIR=str(outbox))
    slack.events_url = first_worker.events
    run_id = await start_run(slack, task=EMAIL_TASK)
    send = await slack.wait_for(
        lambda: next((c for c in pending_cards(slack, run_id) if is_tool_call(c)), None), timeout=20
    )
    run = await store.runs.get(run_id)
    assert run is not None
    owner, other = (
        (first_worker, second_worker) if run.owner == await worker_id(first_worker) else (second_worker, first_worker)
    )
    await click_on(slack, other, send)
    await until(lambda: list(outbox.glob("*.eml")), within=15, what="the email in the outbox")
    owner.process.send_signal(how)  # while the drafter writes its confirmation (2 s)
    assert await asyncio.to_thread(owner.process.wait, 15) is not None
    after = await slack.wait_for(
        lambda: next((c for c in pending_cards(slack, run_id) if c["ts"] != send["ts"]), None), timeout=40
    )
    assert not is_tool_call(after), "send_email was asked for again after it had run"
    header = find_header(slack, SALES, run_id)
    assert header is not None
    await slack.wait_for(lambda: "already ran" in texts(thread_of(slack, SALES, header["ts"])), timeout=10)
    await click_on(slack, other, after)
    await run_status(store, run_id, "completed", within=30)
    assert len([c for c in cards(slack, run_id) if is_tool_call(c)]) == 1
    assert len(list(outbox.glob("*.eml"))) == 1  # sent exactly once


# --------------------------------------------------------------------------------------------------- 4. a Redis blip


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


# --------------------------------------------------------------------------------------------------- 5. Redis frozen


async def test_redis_frozen_for_12_seconds_answers_fast_and_applies_nothing(
    slack: SlackStandIn, own_redis: OwnRedis, clusters: Callable[..., Cluster], stores: Callable[[str], Store]
) -> None:
    """redis-server SIGSTOPped for 12 s with a card pending: a click, `/agent status` and /healthz each answer
    within 3 s; the click is told to try again and is not applied after Redis thaws; a new click decides."""
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
    frozen_at = time.monotonic()
    own_redis.freeze()
    try:
        (clicked, click_took), (status, status_took), (health, health_took) = await asyncio.gather(
            timed(click_on(slack, worker, card)),
            timed(command_on(slack, worker, "status")),
            timed(healthz(worker)),
        )
        assert clicked is not None and clicked.status == 200 and click_took < 3, f"click: {click_took:.1f}s"
        assert status is not None and status.status == 200 and status_took < 3, f"status: {status_took:.1f}s"
        assert health is not None and health[0] == 200 and health_took < 3, f"healthz: {health_took:.1f}s"
        assert health[1]["status"] == "degraded"
        note = await slack.wait_for(lambda: slack.ephemerals(BOB) and slack.ephemerals(BOB)[-1], timeout=5)
        assert "try again" in note["text"].lower()
        await asyncio.sleep(max(0.0, 12 - (time.monotonic() - frozen_at)))  # the fault: frozen for 12 s
    finally:
        own_redis.thaw()
    deadline = time.monotonic() + 1.5  # anything the worker left queued in Redis's socket runs at once now
    while time.monotonic() < deadline:
        approval = await store.approvals.get(approval_id)
        assert approval is not None and approval.pending, f"the click made during the freeze was applied: {approval}"
        await asyncio.sleep(0.05)
    assert has_buttons(next(c for c in cards(slack, run_id) if c["ts"] == card["ts"]))
    await click_on(slack, worker, card)
    await run_status(store, run_id, "completed", within=20)
    decided = await store.approvals.get(approval_id)
    assert decided is not None and decided.status == "approved" and decided.decided_by == BOB
    await cards_match_redis(slack, store, [run_id])


# --------------------------------------------------------------------------------------------------- 6. kill mid-card


async def test_owner_killed_between_storing_and_posting_a_card_another_worker_posts_it(
    slack: SlackStandIn, redis_url: str, clusters: Callable[..., Cluster], stores: Callable[[str], Store]
) -> None:
    """kill -9 of the owner while its card's post is held (the approval is stored, no card exists): the other
    worker posts the card of that same approval, attaches it, and approving it completes the run."""
    store = stores(redis_url)
    group = clusters(redis_url)
    owner = await group.start()
    other = await group.start()
    held: HeldCall = slack.hold("chat.postMessage", when=card_post)
    try:
        slack.events_url = owner.events
        run_id = await start_run(slack)
        await asyncio.wait_for(held.arrived.wait(), timeout=20)
        assert held.args is not None
        approval_id = approval_of({"blocks": held.args["blocks"]})
        assert approval_id is not None and await store.approvals.get(approval_id) is not None
        owner.kill()
        card = await slack.wait_for(
            lambda: next((c for c in pending_cards(slack, run_id) if approval_of(c) == approval_id), None), timeout=15
        )

        async def attached() -> bool:
            approval = await store.approvals.get(approval_id)
            return approval is not None and approval.card_ts == card["ts"]

        await until(attached, within=10, what="the approval attached to the new card")
        assert len(cards(slack, run_id)) == 1
        await click_on(slack, other, card)
        await run_status(store, run_id, "completed", within=20)
        await cards_match_redis(slack, store, [run_id])
    finally:
        held.release()  # the dead owner's post then lands, after the test


async def test_an_approval_whose_card_was_never_shown_does_not_time_out_as_approved(
    slack: SlackStandIn, redis_url: str, clusters: Callable[..., Cluster], stores: Callable[[str], Store]
) -> None:
    """timeout_outcome approve, timeout 3 s; the owner dies before its card is posted and no worker is up until
    the deadline has passed: nobody saw the card, so the timeout must not approve."""
    store = stores(redis_url)
    group = clusters(redis_url)
    owner = await group.start(ADMIN_USERS=ALICE)
    for setting in ("timeout 3s", "timeout_outcome approve"):
        answer = reply_text(await command_on(slack, owner, f"config {setting}"))
        assert "is now" in answer, answer
    held = slack.hold("chat.postMessage", when=card_post)
    try:
        slack.events_url = owner.events
        run_id = await start_run(slack)
        await asyncio.wait_for(held.arrived.wait(), timeout=20)
        assert held.args is not None
        approval_id = approval_of({"blocks": held.args["blocks"]})
        assert approval_id is not None
        owner.kill()
        approval = await store.approvals.get(approval_id)
        assert approval is not None and approval.pending and approval.timeout_outcome == "approve"
        await until(lambda: time.time() > approval.deadline + 0.3, within=10, what="the deadline passed")
        await group.start(ADMIN_USERS=ALICE)

        async def decided() -> ApprovalRecord | None:
            found = await store.approvals.get(approval_id)
            return found if found is not None and not found.pending else None

        ended = await until(decided, within=15, what="the approval timed out")
        assert ended.status == "timed_out"
        assert ended.timeout_outcome == "reject", "an approval nobody was shown timed out as approved"

        async def final() -> str | None:
            run = await store.runs.get(run_id)
            return run.status if run is not None and run.final else None

        assert await until(final, within=20, what="the run ended") != "completed"
    finally:
        held.release()


# --------------------------------------------------------------------------------------------------- 7. a burst


async def test_forty_simultaneous_starts_admit_exactly_the_limit(
    slack: SlackStandIn, redis_url: str, clusters: Callable[..., Cluster], stores: Callable[[str], Store]
) -> None:
    """40 `/agent` commands from one user at once, across two workers: exactly MAX_RUNS_PER_USER (3) start;
    once those are cancelled, 3 more may start and a 4th is refused."""
    store = stores(redis_url)
    group = clusters(redis_url, delay=1.0)
    workers = [await group.start(), await group.start()]
    results = await asyncio.gather(*(command_on(slack, workers[i % 2], TASK) for i in range(40)))
    replies = [reply_text(r) for r in results]
    assert all(r.status == 200 for r in results), [r.status for r in results]
    started = [r.split("`")[1] for r in replies if "Started run `" in r]
    assert len(started) == 3, replies
    assert len([r for r in replies if LIMIT_REFUSAL in r]) == 37, replies
    assert await store.redis.scard(f"{store.keys.prefix}:active:user:{ALICE}") == 3
    for run_id in started:
        answer = reply_text(await command_on(slack, workers[0], f"cancel {run_id}"))
        assert f"Cancelled run `{run_id}`" in answer, answer
    again = [reply_text(await command_on(slack, workers[i % 2], TASK)) for i in range(4)]
    assert ["Started run `" in r for r in again] == [True, True, True, False], again
    assert LIMIT_REFUSAL in again[3]
    assert await store.redis.scard(f"{store.keys.prefix}:active:user:{ALICE}") == 3


# --------------------------------------------------------------------------------------------------- 8. junk


async def test_junk_run_records_are_skipped_with_a_warning(
    slack: SlackStandIn, redis_url: str, clusters: Callable[..., Cluster], stores: Callable[[str], Store]
) -> None:
    """A live run with a non-numeric created_at and one with a bogus status: every worker keeps beating (its
    runs are not adopted), warns about the bad record, and a normal run still completes."""
    store = stores(redis_url)
    group = clusters(redis_url)
    owner = await group.start()
    other = await group.start()
    run_id, card = await run_with_card(slack, owner)
    owner_id, other_id = await worker_id(owner), await worker_id(other)
    base = {"requester": CAROL, "channel": SALES, "task": "junk", "preset": "writer", "header_ts": ""}
    junk = {
        "rjunk0001": {**base, "id": "rjunk0001", "status": "running", "owner": "ghost-1", "created_at": "yesterday"},
        "rjunk0002": {
            **base,
            "id": "rjunk0002",
            "status": "bogus",
            "owner": "ghost-2",
            "created_at": repr(time.time()),
        },
    }
    for junk_id, fields in junk.items():
        await store.redis.hset(store.keys.run(junk_id), mapping=fields)
    await store.redis.sadd(store.keys.live_runs, *junk)
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        for wid in (owner_id, other_id):
            assert await store.redis.exists(store.keys.heartbeat(wid)), f"worker {wid} stopped beating"
        await asyncio.sleep(0.05)
    run = await store.runs.get(run_id)
    assert run is not None and run.owner == owner_id and run.status == "waiting"  # not adopted

    def warned() -> bool:
        return any("WARNING" in line and "rjunk0001" in line for line in owner.log.read_text().splitlines())

    await until(warned, within=5, what="a WARNING about the bad run record")
    await click_on(slack, other, card)
    await run_status(store, run_id, "completed", within=20)
    assert all(w.process.poll() is None for w in (owner, other))


async def test_junk_on_a_workers_channel_does_not_stop_its_decisions(
    slack: SlackStandIn, redis_url: str, clusters: Callable[..., Cluster], stores: Callable[[str], Store]
) -> None:
    """Malformed messages on a worker's pub/sub channel are ignored: a decision after them still resumes the run."""
    store = stores(redis_url)
    group = clusters(redis_url)
    worker = await group.start()
    run_id, card = await run_with_card(slack, worker)
    channel = store.keys.worker_channel(await worker_id(worker))
    junk = [
        "not json",
        "[1]",
        '"str"',
        "null",
        '{"t": "decision"}',
        '{"t": "decision", "id": 5, "status": "bogus"}',
        '{"t": "cancel_run"}',
    ]
    assert await store.redis.publish(channel, junk[0]) == 1  # the worker is subscribed
    for message in junk[1:]:
        await store.redis.publish(channel, message)
    await click_on(slack, worker, card)
    await run_status(store, run_id, "completed", within=20)
    assert worker.process.poll() is None

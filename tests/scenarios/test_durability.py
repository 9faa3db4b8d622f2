"""Nothing lost: fault injection with real worker processes, a real redis-server and the Slack stand-in.

Workers are `python -m bot` subprocesses (HTTP on their own ports), killed with SIGKILL or SIGTERM;
Redis is stopped and restarted with AOF; the stand-in answers 429 and 500 for a while.
"""

from __future__ import annotations

import asyncio
import json
import shutil
import signal
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.core.records import ApprovalRecord
from bot.devslack.server import SlackStandIn
from bot.store import Store, StoreUnavailable, connect
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    CAROL,
    SALES,
    RedisServer,
    Worker,
    block_texts,
    bot_env,
    find_header,
    free_port,
    has_buttons,
    start_redis,
    start_worker,
    texts,
    thread_of,
)
from tests.support.cluster import DEMO, Cluster, card_now, run_status, run_with_card, worker_id
from tests.support.faults import approval_of
from tests.support.flow import start_run
from tests.support.hitl import reject, until
from tests.support.redis_cluster import LocalCluster


@pytest.mark.slow
@pytest.mark.parametrize("decision", ["approve", "reject", "revise", "timeout"])
async def test_kill_9_of_the_owner_then_every_decision_still_works(
    cluster: Cluster, slack: SlackStandIn, store: Store, decision: str
) -> None:
    owner = await cluster.start()
    other = await cluster.start()
    if decision == "timeout":
        slack.events_url = owner.events
        await slack.send_command(user=ALICE, channel=SALES, text="config timeout 2s")
    run_id, card = await run_with_card(slack, owner)
    owner.kill()
    slack.events_url = other.events
    if decision == "approve":
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        await run_status(store, run_id, "completed")
        header = find_header(slack, SALES, run_id)
        assert header is not None
        await slack.wait_for(lambda: "Subject: An email to our vendor" in texts(thread_of(slack, SALES, header["ts"])))
    elif decision == "reject":
        await reject(slack, card, user=BOB)
        await run_status(store, run_id, "rejected")
    elif decision == "revise":
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
        view = await slack.wait_for(lambda: slack.open_views(BOB) and slack.open_views(BOB)[-1])
        await slack.submit_view(user=BOB, view_id=view["id"], values={"feedback": {"feedback_input": "shorter"}})
        second = await slack.wait_for(
            lambda: (
                (c := [m for m in slack.messages(APPROVALS) if has_buttons(m)]) and c[-1]["ts"] != card["ts"] and c[-1]
            ),
            timeout=20,
        )
        assert "(Draft v2: revised for feedback: “shorter”)" in block_texts(second)  # went on from its checkpoint
        await slack.click(user=CAROL, channel=APPROVALS, ts=second["ts"], action_id="approval_approve")
        await run_status(store, run_id, "completed")
    else:
        await run_status(store, run_id, "timed_out")
    await slack.wait_for(lambda: not has_buttons(card_now(slack, card)))
    run = await store.runs.get(run_id)
    assert run is not None and run.owner == await worker_id(other)  # adopted by the surviving worker
    finished = [e for e in await store.audit.entries() if e["event"] == "run_finished" and e["run"] == run_id]
    assert len(finished) == 1  # exactly one terminal state


@pytest.mark.slow
async def test_clicks_land_on_any_of_three_workers(cluster: Cluster, slack: SlackStandIn, store: Store) -> None:
    workers = [await cluster.start() for _ in range(3)]
    runs: list[tuple[str, dict[str, Any]]] = []
    for i, worker in enumerate(workers):
        runs.append(await run_with_card(slack, worker, count=i + 1))
    for i, (_, card) in enumerate(runs):
        slack.events_url = workers[(i + 1) % 3].events  # never the owner
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    for run_id, card in runs:
        await run_status(store, run_id, "completed")
        await slack.wait_for(lambda c=card: f"*Approved* by <@{BOB}>" in block_texts(card_now(slack, c)))
    owners = {r.owner for r in [await store.runs.get(run_id) for run_id, _ in runs] if r is not None}
    assert len(owners) == 3  # each run stayed with its live owner: no adoption


@pytest.mark.slow
async def test_sigterm_leaves_approvals_pending_and_exits_quickly(
    cluster: Cluster, slack: SlackStandIn, store: Store
) -> None:
    first = await cluster.start()
    second = await cluster.start()
    run_id, card = await run_with_card(slack, first)
    first.process.send_signal(signal.SIGTERM)
    code = await asyncio.to_thread(first.process.wait, 30)  # it does not wait for the pending run
    assert code == 0
    approval_id = next(b for b in card["blocks"] if b["type"] == "actions")["elements"][0]["value"]
    approval = await store.approvals.get(approval_id)
    assert approval is not None and approval.pending
    assert "Traceback" not in first.log.read_text()
    slack.events_url = second.events
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    await run_status(store, run_id, "completed")


@pytest.mark.slow
async def test_slack_429_and_500_for_a_while_then_cards_catch_up(
    cluster: Cluster, slack: SlackStandIn, store: Store
) -> None:
    worker = await cluster.start()
    run_id, card = await run_with_card(slack, worker)
    slack.fail(method="chat.update", status=429, count=3, retry_after=1)  # more than the client's 2 retries
    slack.fail(method="chat.update", status=500, count=3)
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    await run_status(store, run_id, "completed")
    await slack.wait_for(lambda: f"*Approved* by <@{BOB}>" in block_texts(card_now(slack, card)), timeout=30)
    failed = [c for c in slack.calls("chat.update") if not c.ok]
    assert len(failed) == 6  # every injected failure was met, and the card still caught up
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/metrics") as response:
        metrics = await response.text()
    assert 'hitl_slack_api_retries_total{handler="RateLimitError"}' in metrics
    assert 'hitl_decisions_total{outcome="approved"} 1.0' in metrics
    assert "hitl_pending_approvals 0.0" in metrics


@pytest.fixture
def aof_redis(tmp_path: Path) -> Iterator[RedisServer]:
    (tmp_path / "redis").mkdir()
    server = start_redis(workdir=str(tmp_path / "redis"), appendonly=True)
    yield server
    if server.process.poll() is None:
        server.process.terminate()
        server.process.wait(timeout=10)
    shutil.rmtree(server.workdir, ignore_errors=True)


@pytest.mark.slow
async def test_redis_stopped_and_restarted_with_aof(
    slack: SlackStandIn, aof_redis: RedisServer, tmp_path: Path
) -> None:
    model = tmp_path / "model.json"
    model.write_text(json.dumps(DEMO))
    group = Cluster(slack, aof_redis.url, tmp_path, model)
    try:
        worker = await group.start()
        run_id, card = await run_with_card(slack, worker)
        aof_redis.process.terminate()  # a clean stop: AOF is fsynced
        aof_redis.process.wait(timeout=10)
        async with aiohttp.ClientSession() as http:
            async with http.get(worker.url + "/healthz") as response:
                health = await response.json()
            assert response.status == 200 and health["status"] == "degraded" and health["redis"] == "unreachable"
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        note = await slack.wait_for(lambda: slack.ephemerals(BOB) and slack.ephemerals(BOB)[-1])
        assert "Try again in a moment" in note["text"]
        assert has_buttons(card_now(slack, card))  # nothing half-applied
        restarted = start_redis(port=aof_redis.port, workdir=aof_redis.workdir, appendonly=True)
        aof_redis.process = restarted.process
        redis = connect(aof_redis.url)
        store = Store(redis)
        try:
            run = await store.runs.get(run_id)
            assert run is not None and run.status == "waiting"  # survived the restart (AOF)
            await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
            await run_status(store, run_id, "completed")
        finally:
            await redis.aclose()
        assert worker.process.poll() is None  # the bot stayed up throughout
    finally:
        group.stop_all()


@pytest.mark.slow
async def test_works_through_redis_sentinel(redis_server: RedisServer, redis_url: str, tmp_path: Path) -> None:
    port = free_port()
    config = tmp_path / "sentinel.conf"
    config.write_text(
        f"port {port}\nbind 127.0.0.1\ndir {tmp_path}\nsentinel monitor approvals 127.0.0.1 {redis_server.port} 1\n"
    )
    binary = shutil.which("redis-server")
    assert binary is not None
    sentinel = subprocess.Popen(  # noqa: ASYNC220 - instant; we then poll it
        [binary, str(config), "--sentinel"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        redis = connect(f"redis+sentinel://127.0.0.1:{port}/approvals/0")
        deadline = time.monotonic() + 10
        while True:  # poll with a deadline until the sentinel knows its master
            try:
                assert await redis.ping()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                await asyncio.sleep(0.05)
        store = Store(redis)
        now = time.time()
        await store.approvals.create(
            ApprovalRecord(
                id="sentinel-0001",
                run_id="rabcdefg",
                owner="w1",
                requester=ALICE,
                origin_channel=SALES,
                card_channel=APPROVALS,
                task="t",
                proposal="p",
                author="assistant",
                created_at=now,
                deadline=now + 60,
                timeout_seconds=60,
            )
        )
        assert (await store.approvals.decide("sentinel-0001", outcome="approved", by=BOB)).status == "ok"
        await store.redis.set("probe", "via-sentinel")
        direct = connect(redis_url)
        assert await direct.get("probe") == "via-sentinel"  # the sentinel led us to the real master
        await direct.aclose()
        await redis.aclose()
    finally:
        sentinel.terminate()
        sentinel.wait(timeout=10)


class RedisClusterNodes:
    """Three real redis-server nodes joined into a Cluster (AOF on, every write synced), killed and restarted on
    their own ports and dirs."""

    def __init__(self, tmp_path: Path) -> None:
        binary, self.cli = shutil.which("redis-server"), shutil.which("redis-cli")
        assert binary is not None and self.cli is not None
        self.binary = binary
        self.ports: list[int] = []
        while len(self.ports) < 3:  # a node's cluster bus listens on port + 10000
            port = free_port()
            if port < 50000 and port not in self.ports:
                self.ports.append(port)
        self.dirs = [tmp_path / f"node-{port}" for port in self.ports]
        for workdir in self.dirs:
            workdir.mkdir()
        self.nodes: list[subprocess.Popen[bytes]] = []

    @property
    def url(self) -> str:
        return "redis+cluster://" + ",".join(f"127.0.0.1:{p}" for p in self.ports)

    def start(self) -> None:
        """Start the nodes (again: each reads its cluster config and AOF back) and wait for the cluster to be ok."""
        self.nodes = [
            subprocess.Popen(
                [self.binary, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes",
                 "--dir", str(workdir), "--save", "", "--appendonly", "yes", "--appendfsync", "always"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for port, workdir in zip(self.ports, self.dirs, strict=True)
        ]
        for port in self.ports:
            start_redis_ready(port)

    def create(self) -> None:
        assert self.cli is not None
        subprocess.run(
            [self.cli, "--cluster", "create", *[f"127.0.0.1:{p}" for p in self.ports],
             "--cluster-replicas", "0", "--cluster-yes"],
            check=True,
            capture_output=True,
            timeout=30,
        )

    def wait_ok(self) -> None:
        assert self.cli is not None
        deadline = time.monotonic() + 20
        for port in self.ports:
            while b"cluster_state:ok" not in subprocess.run(
                [self.cli, "-p", str(port), "cluster", "info"], capture_output=True, timeout=10
            ).stdout:
                assert time.monotonic() < deadline, "the cluster did not become ready"
                time.sleep(0.05)

    def kill(self) -> None:
        for node in self.nodes:
            node.kill()
            node.wait(timeout=10)


@pytest.fixture
def cluster_nodes(tmp_path: Path) -> Iterator[RedisClusterNodes]:
    nodes = RedisClusterNodes(tmp_path)
    try:
        nodes.start()
        nodes.create()
        nodes.wait_ok()
        yield nodes
    finally:
        for node in nodes.nodes:
            node.terminate()
            node.wait(timeout=10)


def start_redis_ready(port: int) -> None:
    import redis as sync_redis

    client = sync_redis.Redis(port=port, socket_connect_timeout=0.2)
    deadline = time.monotonic() + 10
    while True:
        try:
            client.ping()
            break
        except sync_redis.ConnectionError:
            assert time.monotonic() < deadline, f"redis on {port} did not start"
            time.sleep(0.02)
    client.close()


@pytest.mark.slow
async def test_works_on_redis_cluster(slack: SlackStandIn, redis_cluster: LocalCluster, tmp_path: Path) -> None:
    model = tmp_path / "model.json"
    model.write_text(json.dumps(DEMO))  # (the test process's cluster: tests/support/redis_cluster.py)
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_cluster.url, model_config=model))
    other = await start_worker(bot_env(slack=slack, redis_url=redis_cluster.url, model_config=model))
    try:
        assert worker.services.store.keys.prefix == "{hitl}"  # one hash tag: every Lua step runs on one node
        slack.events_url = worker.url + "/slack/events"
        run_id = await start_run(slack)
        card = await slack.wait_for(lambda: next((m for m in slack.messages(APPROVALS) if has_buttons(m)), None))
        slack.events_url = other.url + "/slack/events"  # decided on another worker: pub/sub across the cluster
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        await run_status(worker.services.store, run_id, "completed")
        await slack.wait_for(lambda: f"*Approved* by <@{BOB}>" in block_texts(card_now(slack, card)))
    finally:
        await other.stop()
        await worker.stop()


@dataclass
class AttachedCard:
    """An in-process worker with one run waiting on a card whose ts is stored."""

    worker: Worker
    store: Store
    card: dict[str, Any]
    approval_id: str


@pytest.fixture
async def attached_card(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[AttachedCard]:
    model = tmp_path / "model.json"
    model.write_text(json.dumps(DEMO))
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=model, HEARTBEAT_SECONDS="1"))
    slack.events_url = worker.url + "/slack/events"
    try:
        store = worker.services.store
        await start_run(slack)
        card = await slack.wait_for(lambda: next((m for m in slack.messages(APPROVALS) if has_buttons(m)), None))
        approval_id = next(b for b in card["blocks"] if b["type"] == "actions")["elements"][0]["value"]
        deadline = time.monotonic() + 10
        while not ((a := await store.approvals.get(approval_id)) and a.card_ts):  # poll until the card is attached
            assert time.monotonic() < deadline
            await asyncio.sleep(0.01)
        yield AttachedCard(worker=worker, store=store, card=card, approval_id=approval_id)
    finally:
        await worker.stop()


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_card_is_redrawn_even_if_the_deciding_worker_died_before_updating_it(
    slack: SlackStandIn, attached_card: AttachedCard
) -> None:
    store, card, approval_id = attached_card.store, attached_card.card, attached_card.approval_id
    store.shared.card_grace = 0.5
    # a decision made by a worker that died right after its atomic step: nobody updated the card
    result = await store.approvals.decide(approval_id, outcome="rejected", by=CAROL, card=(APPROVALS, card["ts"]))
    assert result.status == "ok" and has_buttons(card_now(slack, card))
    await slack.wait_for(lambda: f"*Rejected* by <@{CAROL}>" in block_texts(card_now(slack, card)))
    deadline = time.monotonic() + 10
    while await store.redis.zcard(store.keys.outbox):  # taken out of the outbox once redrawn
        assert time.monotonic() < deadline, "the redrawn card stayed in the outbox"
        await asyncio.sleep(0.01)


async def test_a_card_whose_ts_was_never_stored_heals_on_the_first_click(
    slack: SlackStandIn, attached_card: AttachedCard
) -> None:
    store, card, approval_id = attached_card.store, attached_card.card, attached_card.approval_id
    # as if the worker had died between posting the card and storing its ts, then the timeout fired
    await store.redis.hset(store.keys.approval(approval_id), "card_ts", "")
    await store.redis.hset(store.keys.approval(approval_id), "deadline", str(time.time() - 1))
    timed_out = await store.approvals.decide(approval_id, outcome="timed_out", by="timeout")
    assert timed_out.status == "ok"
    await store.outbox.forget([approval_id])  # nobody can redraw a card whose ts is unknown
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    note = await slack.wait_for(lambda: slack.ephemerals(BOB) and slack.ephemerals(BOB)[-1])
    assert "timed out" in note["text"]
    await slack.wait_for(lambda: "*Timed out*" in block_texts(card_now(slack, card)), timeout=15)
    healed = await store.approvals.get(approval_id)
    assert healed is not None and healed.card_ts == card["ts"] and healed.status == "timed_out"


@pytest.mark.slow
async def test_a_tool_call_waiting_on_a_dead_worker_is_asked_again_and_runs_once(
    cluster: Cluster, slack: SlackStandIn, store: Store, tmp_path: Path
) -> None:
    outbox = tmp_path / "outbox"
    owner = await cluster.start(OUTBOX_DIR=str(outbox))
    other = await cluster.start(OUTBOX_DIR=str(outbox))
    slack.events_url = owner.events
    run_id = await start_run(slack, task="--team email Email our vendor asking for a 10% discount on the Q2 order")

    def tool_card(skip: str | None = None) -> dict[str, Any] | None:  # (skip: an approval already clicked)
        cards = [m for m in slack.messages(APPROVALS) if has_buttons(m) and approval_of(m) != skip]
        return next((c for c in cards if "send_email" in block_texts(c)), None)

    first = await slack.wait_for(tool_card, timeout=20)
    owner.kill()
    slack.events_url = other.events
    await slack.click(user=BOB, channel=APPROVALS, ts=first["ts"], action_id="approval_approve")
    # the agent asked again: another approval's card (by its id, not its ts: a card the owner posted and died before
    # noting is posted again by the other worker, a second card of the first approval, as a CI run under load saw)
    again = await slack.wait_for(lambda: tool_card(skip=approval_of(first)), timeout=20)
    assert not list(outbox.glob("*")) if outbox.exists() else True  # nothing was sent without approval
    await slack.click(user=BOB, channel=APPROVALS, ts=again["ts"], action_id="approval_approve")
    # the email team then shows the human the outcome: a new card, posted after the second one. (Not "any card with
    # buttons but the second": under load the first card's redraw as decided may still wait its turn, and clicking it
    # instead left the run waiting for a decision nobody would make, #51.16.)
    outcome = await slack.wait_for(
        lambda: next((m for m in slack.messages(APPROVALS) if has_buttons(m) and float(m["ts"]) > float(again["ts"])),
                     None),
        timeout=20,
    )
    await slack.click(user=BOB, channel=APPROVALS, ts=outcome["ts"], action_id="approval_approve")
    try:  # (a CI run once saw it still waiting after 20 s: 60, and on failure what each of its approvals was)
        await run_status(store, run_id, "completed", within=60)
    except AssertionError as exc:
        asked = [(a.id, a.status, a.card_ts, a.proposal[:80]) for a in await store.approvals.of_run(run_id)]
        raise AssertionError((str(exc), outcome["ts"], asked)) from None
    assert len(list(outbox.glob("*.eml"))) == 1  # sent exactly once
    header = find_header(slack, SALES, run_id)
    assert header is not None
    assert "picked the run up from its last checkpoint" in texts(thread_of(slack, SALES, header["ts"]))


@pytest.mark.slow
async def test_a_whole_redis_cluster_restart_is_ridden_out(
    slack: SlackStandIn, cluster_nodes: RedisClusterNodes, tmp_path: Path
) -> None:
    """Every node of the Cluster killed (-9) while a run waits on its card: the store says `StoreUnavailable` (the
    client's own "cannot be connected" does not leak past it), the decision subscription keeps trying, and once
    the nodes are back a decision made on another worker wakes the run."""
    model = tmp_path / "model.json"
    model.write_text(json.dumps(DEMO))
    worker = await start_worker(bot_env(slack=slack, redis_url=cluster_nodes.url, model_config=model))
    elsewhere = Store(connect(cluster_nodes.url, command_timeout=2), prefix=worker.services.store.keys.prefix)
    try:
        slack.events_url = worker.url + "/slack/events"
        run_id = await start_run(slack)
        card = await slack.wait_for(lambda: next((m for m in slack.messages(APPROVALS) if has_buttons(m)), None))
        approval_id = next(b for b in card["blocks"] if b["type"] == "actions")["elements"][0]["value"]
        assert (await elsewhere.approvals.get(approval_id)) is not None
        waiter, lost = worker.services.waiter, worker.services.waiter.reconnects
        cluster_nodes.kill()
        for _ in range(3):  # the nodes it knew, then none left to ask: each is the store's one error
            with pytest.raises(StoreUnavailable):
                await elsewhere.approvals.get(approval_id)
        with pytest.raises(StoreUnavailable):
            await elsewhere.subscriber()
        await until(lambda: waiter.reconnects > lost, what="the subscription lost")
        failures = worker.services.store.outage.failures
        await until(lambda: worker.services.store.outage.failures > failures + 2, what="the worker's retries")
        cluster_nodes.start()
        cluster_nodes.wait_ok()
        result = await elsewhere.approvals.decide(approval_id, outcome="approved", by=BOB, card=(APPROVALS, card["ts"]))
        assert result.status == "ok"
        await run_status(worker.services.store, run_id, "completed", within=30)
        await slack.wait_for(lambda: f"*Approved* by <@{BOB}>" in block_texts(card_now(slack, card)), timeout=20)
    finally:
        await elsewhere.close()
        await worker.stop()

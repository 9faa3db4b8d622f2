"""Decisions by sharded pub/sub on each workspace's slot (issue 89 item 3), on a real Redis 7 Cluster of three
primaries and three replicas: with REDIS_WORKSPACE_TAGS a workspace's decide step (on its slot) SPUBLISHes to the
workspace's own channel to the owning worker (`hitl:{ws:<T>}:worker:<id>`), which that worker's one subscription
hears on the workspace's primary (SSUBSCRIBE, added as the workspace's view is made), for workspaces on each of the
three primaries; no PUBLISH relayed to every node. A primary killed: the waiter subscribes again and hears the next
decision. The root's plain channel (workers of the release before) is still heard. A primary's messages are read as
they arrive, with no task per primary (#89's click -> resumed); a refusal on its connection (MOVED) is said."""

from __future__ import annotations

import asyncio
import gc
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from bot.api.service import ApiWaiters
from bot.approvals.waiter import DecisionWaiter
from bot.core.records import API_OWNER
from bot.core.workspaces import WorkspaceRef
from bot.devslack.model import OTHER_TEAM
from bot.devslack.server import SlackStandIn
from bot.store import ShardedPubSub, Store, StoreUnavailable, connect
from bot.store.keys import Keys
from bot.store.shared import Shared
from bot.store.slots import key_slot
from tests.support.records import approval
from tests.support.redis_cluster import LocalCluster
from tests.support.tenants import APPROVE, DAN, ERIN, OTHER_CHANNEL, ask, card_in, key_of, several_worker, store_of

HOME = "T0HOME"


def test_a_workspaces_own_channel_to_a_worker_is_in_its_slot_when_it_spublishes() -> None:
    root = Keys("{hitl}", sharded=True)
    keys = root.for_tenant("T0B", home=HOME)
    assert keys.worker_channels_here + "w1" == "hitl:{ws:T0B}:worker:w1"
    assert key_slot(keys.worker_channels_here + "w1") == key_slot(keys.changes) != key_slot(root.worker_channel("w1"))
    assert root.worker_channels_here == root.worker_channels  # home keeps the root's
    assert Keys("{hitl}").for_tenant("T0B", home=HOME).worker_channels_here == "{hitl}:worker:"  # tags off
    assert Keys("hitl", sharded=True).for_tenant("T0B", home=HOME).worker_channels_here == "hitl:worker:"  # one node
    shared = Shared(connect("redis://127.0.0.1:1/0"), keys, publish="SPUBLISH")  # (never asked: the names alone)
    assert shared.worker_channel("w1") == "hitl:{ws:T0B}:worker:w1"  # sharded pub/sub: its own
    shared.publish = "PUBLISH"
    assert shared.worker_channel("w1") == "{hitl}:worker:w1"  # plain: the root's, as before


@dataclass
class Worker:
    """One worker's home store on its own client, and its waiter (the real `DecisionWaiter`)."""

    store: Store
    waiter: DecisionWaiter
    api: ApiWaiters
    controls: list[dict[str, Any]]


@pytest.fixture
async def workers(redis_cluster: LocalCluster) -> AsyncIterator[tuple[Worker, Worker]]:
    """Two workers ("w1", "w2") on the cluster, REDIS_WORKSPACE_TAGS on, sharded pub/sub (Redis 7)."""
    made: list[Worker] = []
    for worker_id in ("w1", "w2"):
        store = Store(connect(redis_cluster.url), prefix="{hitl}", sharded=True)
        assert await store.use_sharded() and store.shared.publish == "SPUBLISH"
        api = ApiWaiters()
        controls: list[dict[str, Any]] = []
        waiter = DecisionWaiter(store, worker_id, also={API_OWNER: api})

        async def on_control(message: dict[str, Any], into: list[dict[str, Any]] = controls) -> None:
            into.append(message)

        waiter.set_control_handler(on_control)
        await waiter.start()
        made.append(Worker(store, waiter, api, controls))
    await made[0].store.tenants.learn_home(WorkspaceRef(HOME))
    try:
        yield made[0], made[1]
    finally:
        for worker in made:
            await worker.waiter.stop()
            await worker.store.close()


def one_workspace_per_primary(cluster: LocalCluster) -> dict[int, str]:
    """A workspace whose slot each primary serves: primary's port -> tenant."""
    root, found = Keys("{hitl}", sharded=True), dict[int, str]()
    for n in range(1000):
        tenant = f"T0P{n:03d}"
        found.setdefault(cluster.primary_of(key_slot(root.for_tenant(tenant, home=HOME).changes)), tenant)
        if len(found) == 3:
            return found
    raise AssertionError("no workspace on some primary")


async def until(check: Any, *, within: float = 20, what: str = "") -> Any:
    """`check()` until it says something true (polled, with a deadline)."""
    deadline = asyncio.get_running_loop().time() + within
    while not (found := check()):
        assert asyncio.get_running_loop().time() < deadline, what or "never"
        await asyncio.sleep(0.05)
    return found


async def decided(store: Store, approval_id: str, *, within: float = 30) -> None:
    """Decided (approved) in `store`, tried again through a failover's window (as a worker's click is)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        try:
            result = await store.approvals.decide(approval_id, outcome="approved", by="U0BOB")
            assert result.status == "ok", result.status
            return
        except StoreUnavailable:
            assert asyncio.get_running_loop().time() < deadline, "never decided"
            await asyncio.sleep(0.1)


def stats(cluster: LocalCluster) -> dict[int, dict[str, Any]]:
    return {port: cluster.ask(port, "INFO", "commandstats") for port in cluster.primaries()}


@pytest.mark.slow
async def test_a_decision_in_a_workspace_on_each_primary_reaches_the_waiting_worker_by_spublish_on_its_slot(
        redis_cluster: LocalCluster, workers: tuple[Worker, Worker]) -> None:
    w1, w2 = workers
    tenants = one_workspace_per_primary(redis_cluster)
    for primary, tenant in tenants.items():
        mine, theirs = w1.store.for_tenant(tenant, home=HOME), w2.store.for_tenant(tenant, home=HOME)
        view = w1.waiter.view(mine)  # the workspace's parts made on w1: its own channels heard
        assert await view.listening()
        channel = mine.shared.worker_channel("w1")
        assert channel == f"hitl:{{ws:{tenant}}}:worker:w1" and redis_cluster.primary_of(key_slot(channel)) == primary
        assert redis_cluster.ask(primary, "PUBSUB", "SHARDNUMSUB", channel) == [channel, 1]
        for port in redis_cluster.ports:  # what follows counted alone
            redis_cluster.ask(port, "CONFIG", "RESETSTAT")

        asked = replace(approval(f"ws-{tenant.lower()}-r", owner="w1"), team=tenant)
        assert await mine.approvals.create(asked) == "ok"
        waits = view.expect(asked.id)
        result = await theirs.approvals.decide(asked.id, outcome="approved", by="U0BOB")  # on the other worker
        assert result.status == "ok" and result.owner_heard  # w1 was heard subscribed on the workspace's slot
        assert await asyncio.wait_for(waits, timeout=10) is None  # woken: the decision is read from the record

        polled = replace(approval(f"ws-{tenant.lower()}-k", owner=API_OWNER), team=tenant)  # a program's long-poll
        assert await mine.approvals.create(polled) == "ok"
        polls = w1.api.expect(polled.id)
        await theirs.approvals.decide(polled.id, outcome="rejected", by="U0BOB")
        await asyncio.wait_for(polls, timeout=10)

        assert await theirs.workers.publish("w1", {"t": "cancel_run", "run": f"r-{tenant}"}) == 1  # a run control
        await until(lambda t=tenant: {"t": "cancel_run", "run": f"r-{t}"} in w1.controls, what="control unheard")

        said = stats(redis_cluster)
        assert said[primary]["cmdstat_spublish"]["calls"] == 3, said[primary]  # the two decisions, the control
        assert not any("cmdstat_spublish" in s for port, s in said.items() if port != primary)
        assert not any("cmdstat_publish" in s for s in said.values())  # no PUBLISH relayed to every node
        await view.stop()


@pytest.mark.slow
async def test_a_sharded_subscription_reads_each_primary_with_no_task_of_its_own_and_hands_each_message_over(
        redis_cluster: LocalCluster) -> None:
    """A message on a primary's connection is handed to the reader waiting in `get_message` by the event loop's own
    callback (#89: a task reading each primary, and a queue between, cost the reader two turns of the loop)."""
    store = Store(connect(redis_cluster.url), prefix="{hitl}", sharded=True)
    assert await store.use_sharded()
    channels = {primary: store.for_tenant(tenant, home=HOME).shared.worker_channel("w1")
                for primary, tenant in one_workspace_per_primary(redis_cluster).items()}
    before = len(asyncio.all_tasks())
    sub = await store.subscriber()
    try:
        assert isinstance(sub, ShardedPubSub)
        await sub.subscribe(store.keys.worker_channel("w1"))  # (the root's: plainly too, its one reader)
        await sub.ssubscribe(*channels.values())
        assert len(asyncio.all_tasks()) == before + 1  # the plain subscription's reader alone
        for primary, channel in channels.items():
            await until(lambda p=primary, c=channel: redis_cluster.ask(p, "PUBSUB", "SHARDNUMSUB", c) == [c, 1],
                        what="not subscribed")
            assert redis_cluster.ask(primary, "SPUBLISH", channel, f"hello {primary}") == 1
            said = await sub.get_message(ignore_subscribe_messages=True, timeout=10)
            assert said == {"type": "message", "pattern": None, "channel": channel, "data": f"hello {primary}"}
        assert await sub.get_message(ignore_subscribe_messages=True, timeout=0.05) is None  # nothing more
    finally:
        await sub.aclose()
        await store.close()
    assert len(asyncio.all_tasks()) == before


@pytest.mark.slow
def test_a_sharded_subscription_hears_on_uvloop_the_workers_event_loop(redis_cluster: LocalCluster) -> None:
    """`python -m bot` runs on uvloop (EVENT_LOOP=auto), whose transports are none of asyncio's classes: a primary's
    connection is made and read there as on asyncio's loop."""
    async def heard() -> Any:
        store = Store(connect(redis_cluster.url), prefix="{hitl}", sharded=True)
        assert await store.use_sharded()
        channel = store.for_tenant("T0UV", home=HOME).shared.worker_channel("w1")
        sub = await store.subscriber()
        try:
            assert isinstance(sub, ShardedPubSub)
            await sub.subscribe(store.keys.worker_channel("w1"))
            await sub.ssubscribe(channel)
            primary = redis_cluster.primary_of(key_slot(channel))
            await until(lambda: redis_cluster.ask(primary, "PUBSUB", "SHARDNUMSUB", channel) == [channel, 1],
                        what="not subscribed")
            assert redis_cluster.ask(primary, "SPUBLISH", channel, "on uvloop") == 1
            return type(asyncio.get_running_loop()).__module__, await sub.get_message(timeout=10)
        finally:
            await sub.aclose()
            await store.close()

    import uvloop  # (a dependency where the worker runs: not on Windows)

    loop, said = uvloop.run(heard())
    assert loop.startswith("uvloop") and said is not None and said["data"] == "on uvloop"


@pytest.mark.slow
async def test_a_shard_channel_subscribed_on_a_primary_not_serving_its_slot_is_said_as_store_unavailable(
        redis_cluster: LocalCluster) -> None:
    """Redis refuses (MOVED: the slot is another primary's, as after a failover the map did not see yet): the
    reader is told `StoreUnavailable`, as the waiter resubscribes after any outage."""
    store = Store(connect(redis_cluster.url), prefix="{hitl}", sharded=True)
    assert await store.use_sharded()
    plain = await store.subscriber()
    await plain.aclose()
    tenants = one_workspace_per_primary(redis_cluster)
    wrong, right = sorted(tenants)[:2]
    channel = store.for_tenant(tenants[right], home=HOME).shared.worker_channel("w1")
    sub = ShardedPubSub({(0, 16383): ("127.0.0.1", wrong)}, plain)  # (a map that says every slot is `wrong`'s)
    unread: list[dict[str, Any]] = []
    asyncio.get_running_loop().set_exception_handler(lambda _, context: unread.append(context))
    try:
        await sub.ssubscribe(channel)
        with pytest.raises(StoreUnavailable, match=r"(?i)moved"):
            await sub.get_message(ignore_subscribe_messages=True, timeout=10)
        with pytest.raises(StoreUnavailable, match="not subscribed"):  # (never confirmed: its connection ended)
            await sub.confirmed(channel)
        gc.collect()  # (a wait for Redis's confirmation left with an exception no one read: logged at collection)
        assert unread == []
    finally:
        asyncio.get_running_loop().set_exception_handler(None)
        await sub.aclose()
        await store.close()


def reads_beside() -> list[str]:
    """The tasks reading a subscription beside a waiter's own, or waiting for a tenant's arrival (what the waiter's
    `next_message` started for each message before #89's click -> resumed work on a sharded subscription)."""
    found = [getattr(task.get_coro(), "__qualname__", "") for task in asyncio.all_tasks()]
    return [name for name in found if name.endswith(("get_message", "Event.wait"))]


@pytest.mark.slow
async def test_the_waiter_reads_its_sharded_subscription_in_its_own_task_and_a_workspaces_arrival_ends_the_read(
        redis_cluster: LocalCluster, workers: tuple[Worker, Worker]) -> None:
    """A sharded subscription hands each message to the waiter's own task (no task a message beside it); a
    workspace's view made while the waiter reads ends that read (`ShardedPubSub.interrupt`), its channels added."""
    w1, w2 = workers
    assert reads_beside() == []
    tenant = next(iter(one_workspace_per_primary(redis_cluster).values()))
    mine, theirs = w1.store.for_tenant(tenant, home=HOME), w2.store.for_tenant(tenant, home=HOME)
    view = w1.waiter.view(mine)  # (made while w1's waiter waits in its read)
    assert await view.listening()
    asked = replace(approval(f"ws-{tenant.lower()}-own", owner="w1"), team=tenant)
    assert await mine.approvals.create(asked) == "ok"
    waits = view.expect(asked.id)
    assert (await theirs.approvals.decide(asked.id, outcome="approved", by="U0BOB")).owner_heard
    assert await asyncio.wait_for(waits, timeout=10) is None
    assert reads_beside() == []
    await view.stop()


@pytest.mark.slow
async def test_the_roots_plain_channel_is_still_heard_for_a_worker_of_the_release_before(
        redis_cluster: LocalCluster, workers: tuple[Worker, Worker]) -> None:
    w1, _ = workers
    tenant = next(iter(one_workspace_per_primary(redis_cluster).values()))
    mine = w1.store.for_tenant(tenant, home=HOME)
    view = w1.waiter.view(mine)
    assert await view.listening()
    waits = view.expect("old-0000-a")  # decided by a worker of the release before: PUBLISH on the root's channel
    await w1.store.redis.execute_command(  # type: ignore[no-untyped-call]
        "PUBLISH", w1.store.keys.worker_channel("w1"), json.dumps({"t": "decision", "id": "old-0000-a"}))
    assert await asyncio.wait_for(waits, timeout=10) is None
    await view.stop()


@pytest.mark.slow
async def test_a_workspaces_primary_killed_the_waiter_subscribes_again_and_hears_the_next_decision(
        redis_cluster: LocalCluster, workers: tuple[Worker, Worker]) -> None:
    w1, w2 = workers
    root_primary = redis_cluster.primary_of(key_slot(w1.store.keys.worker_channel("w1")))
    primary, tenant = next((p, t) for p, t in one_workspace_per_primary(redis_cluster).items() if p != root_primary)
    mine, theirs = w1.store.for_tenant(tenant, home=HOME), w2.store.for_tenant(tenant, home=HOME)
    view = w1.waiter.view(mine)
    assert await view.listening()
    channel = mine.shared.worker_channel("w1")
    before = w1.waiter.reconnects

    redis_cluster.kill(primary)  # kill -9: its replica is promoted, the shard subscription on it gone
    await until(lambda: w1.waiter.reconnects > before, within=30, what="the waiter never subscribed again")
    redis_cluster.wait_ok()
    promoted = redis_cluster.primary_of(key_slot(channel))
    assert promoted != primary
    await until(lambda: redis_cluster.ask(promoted, "PUBSUB", "SHARDNUMSUB", channel) == [channel, 1], within=30,
                what="not subscribed on the promoted primary")
    asked = replace(approval(f"ws-{tenant.lower()}-after", owner="w1"), team=tenant)
    waits = view.expect(asked.id)
    for _ in range(300):  # the client rides the MOVED window
        try:
            assert await mine.approvals.create(asked) == "ok"
            break
        except StoreUnavailable:
            await asyncio.sleep(0.1)
    await decided(theirs, asked.id)
    assert await asyncio.wait_for(waits, timeout=15) is None
    said = redis_cluster.ask(promoted, "INFO", "commandstats")
    assert said["cmdstat_spublish"]["calls"] >= 1  # by SPUBLISH on the promoted primary
    await view.stop()


@pytest.mark.slow
async def test_two_workers_a_click_in_another_workspace_wakes_the_long_poll_on_the_other_by_spublish(
        slack: SlackStandIn, redis_cluster: LocalCluster, tmp_path: Path) -> None:
    """As a user runs it: two worker processes' parts (`python -m bot`'s) on the cluster with REDIS_WORKSPACE_TAGS, a
    program's ask in T0OTHER through the first (which starts serving the workspace: its channels heard before it
    answers), its long-poll there; the card approved in Slack on the second worker: the long-poll answers at once, by
    `SPUBLISH` on T0OTHER's primary, no `PUBLISH`."""
    first = await several_worker(slack, redis_cluster.url, tmp_path, REDIS_WORKSPACE_TAGS="true")
    second = await several_worker(slack, redis_cluster.url, tmp_path, REDIS_WORKSPACE_TAGS="true")
    try:
        client = await key_of(first, "other", OTHER_CHANNEL, WorkspaceRef(OTHER_TEAM))
        asked = await ask(client, ERIN)
        card = await card_in(slack, OTHER_CHANNEL, asked)
        channel = store_of(first, OTHER_TEAM).shared.worker_channel(API_OWNER)
        assert channel == f"hitl:{{ws:{OTHER_TEAM}}}:worker:{API_OWNER}"
        primary = redis_cluster.primary_of(key_slot(channel))
        assert primary != redis_cluster.primary_of(key_slot(first.services.store.keys.worker_channel(API_OWNER)))
        said = redis_cluster.ask(primary, "PUBSUB", "SHARDNUMSUB", channel)  # the first serves T0OTHER: it hears
        assert said[0] == channel and said[1] >= 1, said
        for port in redis_cluster.ports:
            redis_cluster.ask(port, "CONFIG", "RESETSTAT")
        polling = asyncio.ensure_future(client.wait(asked, wait=20))
        began = asyncio.get_running_loop().time()
        slack.events_url = second.url + "/slack/events"
        assert (await slack.click(user=DAN, channel=OTHER_CHANNEL, ts=card["ts"], action_id=APPROVE)).status == 200
        answer = await asyncio.wait_for(polling, timeout=30)
        assert answer["status"] == "approved" and asyncio.get_running_loop().time() - began < 10  # woken, not timed out
        said = stats(redis_cluster)
        assert said[primary]["cmdstat_spublish"]["calls"] >= 1
        assert not any("cmdstat_publish" in s for s in said.values())
    finally:
        await second.stop()
        await first.stop()

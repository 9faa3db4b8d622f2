"""Sharded (issue 89), each workspace's steps read the freeze in their own slot (bot/store/freeze_copies.py): a
freeze is in every known workspace's copy before it returns, a workspace known later is copied into when it is
recorded, an unfreeze and a drill's end reach the copies, and copies written out of order end as the newest read; a
workspace a spread missed fails closed (an Approve refused, a timeout that would approve left due) until each worker's
loop spreads the change there (a freeze and an unfreeze). Against a real Redis, and the real local cluster."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable
from dataclasses import replace
from typing import Any

import pytest
from redis.exceptions import ResponseError

from bot.api.receipts import use_refused
from bot.approvals.freeze_spread import FreezeSpreader
from bot.approvals.refusals import refusal_text
from bot.approvals.waiter import DecisionWaiter
from bot.core.workspaces import WorkspaceRef
from bot.core.writing import PlainWriting
from bot.store import Store, connect, shared
from bot.store.slots import key_slot
from tests.support.hitl import until
from tests.support.records import approval
from tests.support.redis_cluster import LocalCluster


@pytest.fixture
async def home(redis_url: str) -> AsyncIterator[Store]:
    redis = connect(redis_url)
    store = Store(redis, prefix="{hitl}", sharded=True)
    await store.tenants.learn_home(WorkspaceRef(team="T0HOME"))
    yield store
    await redis.aclose()


async def opened(store: Store, approval_id: str, **fields: Any) -> str:
    made = replace(approval(approval_id), team=store.keys.tenant or "T0HOME", **fields)
    assert await store.approvals.create(made) == "ok"
    return made.id


async def missed(home: Store, workspace: Store, change: Awaitable[Any]) -> None:
    """`change` (a freeze, an unfreeze) made as if its spread failed at `workspace`'s node: that copy, its number
    and the spread's mark as they were before it (every other copy written)."""
    k, here = home.keys, workspace.keys
    copy, seq, done = (await home.redis.hgetall(here.frozen_here), await home.redis.get(here.frozen_here_seq),  # type: ignore[misc]
                       await home.redis.get(k.frozen_spread_done))
    await change
    await home.redis.delete(here.frozen_here)
    if copy:
        await home.redis.hset(here.frozen_here, mapping=copy)  # type: ignore[misc]
    await home.redis.set(here.frozen_here_seq, seq or "0")
    await home.redis.set(k.frozen_spread_done, done or "0")


async def test_a_freeze_is_in_each_workspaces_copy_before_it_returns_and_refuses_an_approve_there(home: Store) -> None:
    for team in ("T0HOME", "T0WSA"):
        await home.tenants.remember(WorkspaceRef(team=team))
    first = home.for_tenant("T0WSA", home="T0HOME")
    assert first.keys.frozen_here == "hitl:{ws:T0WSA}:frozen" and home.keys.frozen_here == home.keys.frozen
    waiting = await opened(first, "frz-0000-a")
    assert await home.freezes.freeze("all", reason="incident", by="U0ADMIN")
    assert set(await first.freezes.copies.copy_of()) == {"all"}
    assert (await first.approvals.decide(waiting, outcome="approved", by="U0BOB")).status == "frozen"

    await home.tenants.remember(WorkspaceRef(team="T0WSB"))  # known after the freeze: copied into as it is recorded
    later = home.for_tenant("T0WSB", home="T0HOME")
    assert set(await later.freezes.copies.copy_of()) == {"all"}
    assert not await home.redis.exists(home.keys.for_tenant("T0HOME", home="").frozen_here)  # home reads the global one
    refused = await later.approvals.decide(await opened(later, "frz-0000-b"), outcome="approved", by="U0BOB")
    assert refused.status == "frozen"

    assert (await home.freezes.unfreeze("all", by="cli:ops", direct=True))[0] == "ok"
    assert await first.freezes.copies.copy_of() == {} == await later.freezes.copies.copy_of()
    assert (await first.approvals.decide(waiting, outcome="approved", by="U0BOB")).status == "ok"


async def test_copies_written_out_of_order_end_as_the_newest_read(home: Store) -> None:
    await home.tenants.remember(WorkspaceRef(team="T0WSA"))
    copy = home.for_tenant("T0WSA", home="T0HOME").keys
    step = home.shared.script("freeze_copy")
    keys = {"copy": copy.frozen_here, "seq": copy.frozen_here_seq}
    assert await step(keys=keys, args={"seq": "100", "scopes": ["all", "{}"]}) == 1
    assert await step(keys=keys, args={"seq": "99", "scopes": []}) == 0  # an older read's (an unfreeze's) comes late
    assert await home.redis.hkeys(copy.frozen_here) == ["all"]  # type: ignore[misc]


async def test_a_drills_end_reaches_the_copies(home: Store) -> None:
    await home.tenants.remember(WorkspaceRef(team="T0WSA"))
    other = home.for_tenant("T0WSA", home="T0HOME")
    await home.freezes.freeze("channel:C0SALES", reason="drill", by="cli:ops", drill="d1", until=1e12)
    assert set(await other.freezes.copies.copy_of()) == {"channel:C0SALES"}
    assert (await home.freezes.end_drill("channel:C0SALES", drill="d1"))[0] == "lifted"
    assert await other.freezes.copies.copy_of() == {}


async def test_a_freeze_from_a_command_run_without_the_setting_still_reaches_each_workspaces_copy(
        home: Store) -> None:
    """A freeze never fails open for a setting forgotten: a command's store of today's layout on the same Cluster
    prefix (REDIS_WORKSPACE_TAGS unset) still writes every workspace's copy."""
    await home.tenants.remember(WorkspaceRef(team="T0WSA"))
    command = Store(home.redis, prefix="{hitl}")  # sharded=False
    assert await command.freezes.freeze("channel:C0OPS", reason="incident", by="cli:ops")
    other = home.for_tenant("T0WSA", home="T0HOME")
    assert set(await other.freezes.copies.copy_of()) == {"channel:C0OPS"}
    assert await Store(home.redis, prefix="hitl").freezes.copies.spread() == 0  # one node: no copies


async def test_a_freeze_whose_spread_missed_a_workspace_refuses_an_approve_there_until_the_loop_spreads_it(
        home: Store) -> None:
    """Issue 89's window: a workspace whose copy a freeze's spread missed (its node down then) decides once its node
    is back, before any worker restarts: the decide step compares its copy's number with the last freeze's (read by
    the worker beside the step) and refuses; each worker's loop then spreads the freeze (and an unfreeze) there."""
    await home.tenants.remember(WorkspaceRef(team="T0WSA"))
    other = home.for_tenant("T0WSA", home="T0HOME")
    waiting = await opened(other, "frz-0001-a")
    await missed(home, other, home.freezes.freeze("all", reason="incident", by="U0ADMIN"))
    assert await other.freezes.copies.copy_of() == {}  # the window: its copy says nothing is frozen
    refused = await other.approvals.decide(waiting, outcome="approved", by="U0BOB")
    assert refused.status == "frozen" and "incident" in refused.frozen  # said as the freeze it is
    assert (await other.approvals.get(waiting)).status == "pending"  # type: ignore[union-attr]

    spreader = FreezeSpreader(home, every=0.02)  # each worker's loop: the change not spread is spread
    await spreader.start()
    try:
        await until(other.freezes.copies.copy_of, within=5, what="the freeze copied by the loop")
        assert set(await other.freezes.copies.copy_of()) == {"all"}
        assert (await other.approvals.decide(waiting, outcome="approved", by="U0BOB")).status == "frozen"

        await spreader.stop()  # (the unfreeze's spread missed in turn, seen before the loop runs again)
        await missed(home, other, home.freezes.unfreeze("all", by="cli:ops", direct=True))
        assert await home.freezes.all() == {}
        assert set(await other.freezes.copies.copy_of()) == {"all"}  # still frozen there (fails closed) ...
        assert (await other.approvals.decide(waiting, outcome="approved", by="U0BOB")).status == "frozen"
        spreader = FreezeSpreader(home, every=0.02)
        await spreader.start()
        await until(lambda: _empty(other), within=5, what="the unfreeze copied by the loop")  # ... until spread
    finally:
        await spreader.stop()
    assert (await other.approvals.decide(waiting, outcome="approved", by="U0BOB")).status == "ok"
    await home.freezes.copies.respread()  # (a spread the loop's stop cut after its copies, before its mark)
    assert await home.freezes.copies.respread() == 0  # nothing owed: one MGET, no spread


async def _empty(store: Store) -> bool:
    return await store.freezes.copies.copy_of() == {}


async def test_an_approve_outside_a_freeze_not_yet_spread_is_refused_as_not_yet_spread_and_reject_still_works(
        home: Store) -> None:
    await home.tenants.remember(WorkspaceRef(team="T0WSA"))
    other = home.for_tenant("T0WSA", home="T0HOME")
    first, second = await opened(other, "frz-0002-a"), await opened(other, "frz-0002-b")
    await missed(home, other, home.freezes.freeze("channel:C0OPS", reason="incident", by="U0ADMIN"))
    refused = await other.approvals.decide(first, outcome="approved", by="U0BOB")
    assert refused.status == "unspread" and refused.frozen == ""  # its channel is not frozen: told to try again
    assert "try again" in refusal_text(refused, writing=PlainWriting())
    entries = [e for _, e in await other.audit.chained() if e.get("event") == "refused"]
    assert [(e["by"], e["reason"]) for e in entries] == [("U0BOB", "freeze not yet spread")]
    assert (await other.approvals.decide(second, outcome="rejected", by="U0BOB")).status == "ok"  # Reject: as ever
    assert await home.freezes.copies.respread() == 1
    assert (await other.approvals.decide(first, outcome="approved", by="U0BOB")).status == "ok"


async def test_a_timeout_that_would_approve_waits_while_the_freeze_is_not_spread_there(home: Store) -> None:
    await home.tenants.remember(WorkspaceRef(team="T0WSA"))
    other = home.for_tenant("T0WSA", home="T0HOME")
    due = await opened(other, "frz-0003-a", timeout_outcome="approve", deadline=time.time() - 1, card_ts="1.2")
    await missed(home, other, home.freezes.freeze("all", reason="incident", by="U0ADMIN"))
    assert await other.approvals.time_out_due(time.time()) == ([], False)  # left due (its claim's lease), not approved
    assert (await other.approvals.get(due)).status == "pending"  # type: ignore[union-attr]
    await home.freezes.copies.respread()
    timed_out, _ = await other.approvals.time_out_due(time.time() + 10)  # (past the claim's lease)
    assert [(r.approval.id, r.approval.timeout_outcome) for r in timed_out if r.approval] == [(due, "reject")]


async def test_an_approved_call_is_not_used_while_a_freeze_is_not_spread_to_its_workspace(home: Store) -> None:
    await home.tenants.remember(WorkspaceRef(team="T0WSA"))
    other = home.for_tenant("T0WSA", home="T0HOME")
    made = await home.api_keys.create("emailer", ["C0SALES"], by="U0BOB")
    assert made is not None
    asked = replace(approval("frz-0005-a"), team="T0WSA", asked_by="emailer", key_id=made.record.id)
    assert await other.approvals.create(asked) == "ok"
    assert (await other.approvals.decide(asked.id, outcome="approved", by="U0BOB")).status == "ok"
    await missed(home, other, home.freezes.freeze("channel:C0OPS", reason="incident", by="U0ADMIN"))
    stored = await other.approvals.get(asked.id)
    assert stored is not None
    assert await other.approvals.use(stored, by="token-1", key=made.record) == ("frozen", "unspread", 0.0)
    said = use_refused("frozen", "unspread", asked.id)  # the program told to try again, not that it is frozen
    assert (said.status, said.code, said.retry_after) == (423, "frozen", 5) and "try again" in said.message
    await home.freezes.copies.respread()
    assert (await other.approvals.use(stored, by="token-1", key=made.record))[0] == "ok"

async def elsewhere(cluster: LocalCluster, redis: Any) -> tuple[Store, Store, int, int]:
    """The home store on `cluster`, a workspace known whose copy is on another primary than the root's, and the
    ports of those two primaries."""
    home = Store(redis, prefix="{hitl}", sharded=True)
    await home.tenants.learn_home(WorkspaceRef(team="T0HOME"))
    root = cluster.primary_of(key_slot(home.keys.frozen))
    team = next(t for t in (f"T0WS{n:02d}" for n in range(100))
                if cluster.primary_of(key_slot(home.for_tenant(t, home="T0HOME").keys.frozen_here)) != root)
    await home.tenants.remember(WorkspaceRef(team=team))
    other = home.for_tenant(team, home="T0HOME")
    return home, other, root, cluster.primary_of(key_slot(other.keys.frozen_here))


@pytest.mark.slow
async def test_on_the_cluster_a_freeze_and_an_unfreeze_a_node_refused_reach_it_by_the_loop_and_fail_closed_meanwhile(
        redis_cluster: LocalCluster) -> None:
    """On the real local cluster (Redis 7, three primaries): a workspace's primary refuses writes (NOREPLICAS: too
    few replicas) while a freeze spreads, so its copy is not written and the freeze says so; the node back, an
    Approve there is refused all the same, the loop then writes the copy; an unfreeze it missed leaves it frozen
    there until the loop's spread."""
    redis = connect(redis_cluster.url)
    try:
        home, other, _, node = await elsewhere(redis_cluster, redis)
        waiting = await opened(other, "frz-0004-a")

        async def refused_there(change: Awaitable[Any]) -> None:
            redis_cluster.ask(node, "CONFIG", "SET", "min-replicas-to-write", "2")  # (one replica each)
            try:
                with pytest.raises(ResponseError, match="NOREPLICAS"):
                    await change
            finally:
                redis_cluster.ask(node, "CONFIG", "SET", "min-replicas-to-write", "0")  # the node back

        await refused_there(home.freezes.freeze("all", reason="incident", by="U0ADMIN"))
        assert set(await home.freezes.all()) == {"all"} and await other.freezes.copies.copy_of() == {}
        refused = await other.approvals.decide(waiting, outcome="approved", by="U0BOB")
        assert refused.status == "frozen" and "incident" in refused.frozen
        spreader = FreezeSpreader(home, every=0.05)
        await spreader.start()
        try:
            await until(other.freezes.copies.copy_of, within=10, what="the freeze copied by the loop")
            assert (await other.approvals.decide(waiting, outcome="approved", by="U0BOB")).status == "frozen"
            await spreader.stop()  # (the unfreeze's spread missed in turn, seen before the loop runs again)
            await refused_there(home.freezes.unfreeze("all", by="cli:ops", direct=True))
            assert await home.freezes.all() == {} and set(await other.freezes.copies.copy_of()) == {"all"}
            assert (await other.approvals.decide(waiting, outcome="approved", by="U0BOB")).status == "frozen"
            spreader = FreezeSpreader(home, every=0.05)
            await spreader.start()
            await until(lambda: _empty(other), within=10, what="the unfreeze copied by the loop")
        finally:
            await spreader.stop()
        assert (await other.approvals.decide(waiting, outcome="approved", by="U0BOB")).status == "ok"
    finally:
        await redis.aclose()


@pytest.mark.slow
async def test_on_the_cluster_a_worker_hears_the_freezes_number_and_forgets_it_the_moment_its_subscription_ends(
        redis_cluster: LocalCluster, monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker's waiter hears each freeze's number on `frozen:told` (SPUBLISH in the freeze's own step), so an
    Approve reads no global key (no GET on the root's primary), and a workspace a freeze's spread missed still
    refuses it; the subscription killed, the number is forgotten at once (each Approve reads it again) and heard again
    once subscribed; a freeze that told no number (a release before) is learnt by the loop."""
    redis = connect(redis_cluster.url)
    try:
        home, other, root, node = await elsewhere(redis_cluster, redis)
        assert await home.use_sharded()
        heard = home.shared.freeze_heard
        assert other.shared.freeze_heard is heard  # (one for every tenant's store)
        waiter = DecisionWaiter(home, "w1")
        await waiter.start()
        try:
            assert await waiter.listening()
            assert heard.number == 0
            waiting = await opened(other, "frz-0005-a")

            redis_cluster.ask(node, "CONFIG", "SET", "min-replicas-to-write", "2")  # the spread misses `other`
            try:
                with pytest.raises(ResponseError, match="NOREPLICAS"):
                    await home.freezes.freeze("all", reason="incident", by="U0ADMIN")
            finally:
                redis_cluster.ask(node, "CONFIG", "SET", "min-replicas-to-write", "0")
            told = int(await redis.get(home.keys.frozen_at))
            await until(lambda: heard.number == told, within=10, what="the freeze's number heard")
            redis_cluster.ask(root, "CONFIG", "RESETSTAT")
            refused = await other.approvals.decide(waiting, outcome="approved", by="U0BOB")
            assert refused.status == "frozen" and "incident" in refused.frozen
            assert "cmdstat_get" not in redis_cluster.client(root).info("commandstats")  # heard, not read

            redis_cluster.ask(root, "CLIENT", "KILL", "TYPE", "pubsub")  # the subscription ends
            await until(lambda: heard.number is None, within=10, what="the number not trusted")
            await until(lambda: heard.number == told and waiter.reconnects > 0, within=20, what="heard again")
            monkeypatch.setattr(shared, "HEARD_FOR", 0.2)  # (nothing read again or told for that long: a cut network)
            heard.told(told)
            assert heard.number == told
            await until(lambda: heard.number is None, within=5, what="the number not trusted once it is old")
            monkeypatch.setattr(shared, "HEARD_FOR", 15.0)
            await home.freezes.copies.respread()  # (each worker's loop: read again, trusted again)
            assert heard.number == told

            await waiter.stop()
            assert heard.number is None  # (nothing heard: each Approve reads it)
            redis_cluster.ask(root, "CONFIG", "RESETSTAT")
            assert (await other.approvals.decide(waiting, outcome="approved", by="U0BOB")).status == "frozen"
            assert redis_cluster.client(root).info("commandstats")["cmdstat_get"]["calls"] == 1
        finally:
            await waiter.stop()

        class Subscribed:  # (the waiter stopped: as if it still heard)
            live = True

        heard.heard_from(told, on=Subscribed())  # a freeze of a release before: its step tells no number
        assert (await home.freezes.unfreeze("all", by="cli:ops", direct=True))[0] == "ok"
        await home.shared.script("freeze")(keys={"frozen": home.keys.frozen, "spread": home.keys.frozen_spread,
                                                 "at": home.keys.frozen_at, "changed": home.keys.frozen_changed},
                                           args={"scope": "key:ci", "held": '{"reason": "r", "by": "U0A", "at": 1}'})
        assert heard.number == told
        assert await home.freezes.copies.respread() >= 1
        assert heard.number == int(await redis.get(home.keys.frozen_at)) > told
    finally:
        await redis.aclose()

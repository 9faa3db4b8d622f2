"""Moving a store from one hash tag to a tag per workspace (issue 89 item 4, `python -m bot store move-workspaces`,
bot/store/workspace_move.py, bot/cli/move.py), on one real Redis node under the `{hitl}` prefix (the names are
Cluster's; the slots are computed as `CLUSTER KEYSLOT` answers): every workspace's keys under its own tag with their
times to live, its API keys' pending sets and Idempotency-Keys in its slot, its freeze copy and due index written,
the stored format 3; run again, nothing moves; a worker alive (of a version before, or of this one on one tag) stops
it with nothing changed; cut half-way, the next run finishes with nothing lost; a worker's setting and the store's
layout never disagree silently. On the local cluster with real workers: tests/store/test_move_cluster.py."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

import bot
from bot.cli.move import move_workspaces
from bot.core.workspaces import WorkspaceRef
from bot.store import LayoutDisagrees, Store, StoreHeld, StoreUnavailable, connect
from bot.store.connection import aw, hold_of, persistently
from bot.store.slots import key_slot
from bot.store.stored_format import ONE_TAG, WORKSPACE_TAGS
from bot.store.workspace_move import WorkspaceMove
from tests.support.moves import SeededWorkspace, idempotency, seed_workspace

HOME = "T0HOME"
WORKSPACES = [f"T0WS{i:02d}" for i in range(6)]


@pytest.fixture
async def redis(redis_url: str) -> AsyncIterator[Redis]:
    client = connect(redis_url)
    yield client
    await client.aclose()


async def seed(home: Store, tenants: list[str]) -> dict[str, SeededWorkspace]:
    """Each workspace seeded (tests/support/moves.py); the channel C0FROZEN frozen."""
    await home.tenants.learn_home(WorkspaceRef(HOME))
    found = {tenant: await seed_workspace(home, HOME, n, tenant, tag="mv") for n, tenant in enumerate(tenants)}
    await home.freezes.freeze("channel:C0FROZEN", reason="drill", by="U0ADMIN")
    return found


async def value(redis: Redis, key: str) -> object:
    """What `key` holds, whatever its encoding (a set's DUMP differs with its members' order)."""
    kind = str(await redis.type(key))
    reads = {"string": redis.get, "hash": redis.hgetall, "set": redis.smembers,
             "list": lambda k: redis.lrange(k, 0, -1), "stream": redis.xrange,
             "zset": lambda k: redis.zrange(k, 0, -1, withscores=True)}
    return kind, await aw(reads[kind](key))  # type: ignore[no-untyped-call]


async def everything(redis: Redis) -> dict[str, tuple[object, int]]:
    """Every key: what it holds and its time to live (ms; -1: none)."""
    found = {}
    async for key in redis.scan_iter(match="*", count=1000):
        found[str(key)] = (await value(redis, str(key)), int(await aw(redis.pttl(key))))
    return found


def data(snapshot: dict[str, tuple[object, int]]) -> dict[str, tuple[object, bool]]:
    """Each key's data and whether it has a time to live (what a look later must find the same)."""
    return {key: (payload, ttl >= 0) for key, (payload, ttl) in snapshot.items()}


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_every_workspace_moves_to_its_own_tag_with_its_ttls_and_extras_and_a_second_run_moves_nothing(
        redis: Redis, capsys: pytest.CaptureFixture[str]) -> None:
    single = Store(redis, prefix="{hitl}")
    seeded = await seed(single, WORKSPACES)
    before = await everything(redis)
    old_names = [k for k in before if k.startswith("{hitl}:ws:")]
    assert {k.split(":")[2] for k in old_names} == set(WORKSPACES)
    audits = {t: await aw(redis.xrange(single.for_tenant(t, home=HOME).keys.audit)) for t in WORKSPACES}

    assert await move_workspaces(WorkspaceMove(single.shared), dry_run=True, wait=0, by="cli:ops") == 0
    assert data(await everything(redis)) == data(before)  # (a dry run changes nothing)
    assert f"{len(WORKSPACES)} workspaces" in capsys.readouterr().out

    assert await move_workspaces(WorkspaceMove(single.shared), dry_run=False, wait=0, by="cli:ops") == 0
    said = capsys.readouterr().out
    assert "done:" in said and "REDIS_WORKSPACE_TAGS=true" in said, said
    after = await everything(redis)
    assert not [k for k in after if k.startswith("{hitl}:ws:")]  # nothing left under the old names
    tags = Store(redis, prefix="{hitl}", sharded=True)
    for key in old_names:  # each moved, its data and time to live kept
        tenant = key.split(":")[2]
        new = key.replace(f"{{hitl}}:ws:{tenant}", f"hitl:{{ws:{tenant}}}", 1)
        assert after[new][0] == before[key][0], key
        assert (after[new][1] > 0) == (before[key][1] > 0), key
        assert before[key][1] - 60_000 < after[new][1] <= before[key][1] or before[key][1] < 0, key
    for tenant in WORKSPACES:
        ws = tags.for_tenant(tenant, home=HOME)
        mine = [k for k in after if k.startswith(ws.keys.prefix + ":")]
        assert mine and {key_slot(k) for k in mine} == {key_slot(ws.keys.prefix + ":x")}
        key_id = seeded[tenant].key_id
        assert await aw(redis.smembers(ws.keys.api_pending(key_id))) == {seeded[tenant].pending}
        assert not await redis.exists(single.keys.api_pending(key_id))
        assert await redis.exists(ws.keys.api_idempotency(key_id, idempotency(WORKSPACES.index(tenant))))
        assert set(await ws.freezes.copies.copy_of()) == {"channel:C0FROZEN"}
        assert await aw(redis.zrange(ws.keys.due_here, 0, -1))  # its due work indexed in its slot
        assert await aw(redis.xrange(ws.keys.audit)) == audits[tenant]  # its chain as it was
        pending = await ws.approvals.get(seeded[tenant].pending)
        assert pending is not None and pending.status == "pending"
        decided = await ws.approvals.get(seeded[tenant].decided)
        assert decided is not None and decided.status == "approved"
        assert (await ws.approvals.decide(pending.id, outcome="approved", by="U0BOB")).status == "ok"
        again = await ws.approvals.decide(pending.id, outcome="rejected", by="U0BOB")
        assert again.status != "ok"  # decided once
    assert await tags.format.stored() == WORKSPACE_TAGS
    assert await tags.format.moving() is None
    assert await WorkspaceMove(tags.shared).moved() == WORKSPACES
    _, last = (await aw(redis.xrevrange(tags.keys.audit, count=1)))[0]  # audited in home's chain, naming who
    assert (last["event"], last["by"], last["workspaces"]) == ("workspaces_moved", "cli:ops", str(len(WORKSPACES)))

    settled = await everything(redis)
    assert await move_workspaces(WorkspaceMove(single.shared), dry_run=False, wait=0, by="cli:ops") == 0
    assert "nothing to move" in capsys.readouterr().out
    assert data(await everything(redis)) == data(settled)


@pytest.mark.slow  # (waits for a heartbeat to lapse: about 2 s)
async def test_a_worker_of_a_release_before_stops_the_move_with_nothing_changed_or_is_waited_for(
        redis: Redis, capsys: pytest.CaptureFixture[str]) -> None:
    single = Store(redis, prefix="{hitl}")
    await seed(single, WORKSPACES[:2])
    await redis.set(single.keys.heartbeat("w-old"), "1700000000.0", px=60_000)  # (0.8.0's: "<time>")
    before = await everything(redis)
    assert await move_workspaces(WorkspaceMove(single.shared), dry_run=False, wait=0, by="cli:ops") == 1
    err = capsys.readouterr().err
    assert "w-old (a version before 0.9 (its heartbeat says no version))" in err and "nothing changed" in err, err
    assert data(await everything(redis)) == data(before)

    await redis.pexpire(single.keys.heartbeat("w-old"), 1500)  # gone while the move waits
    started = time.monotonic()
    assert await move_workspaces(WorkspaceMove(single.shared), dry_run=False, wait=30, by="cli:ops") == 0
    assert "waiting for w-old" in capsys.readouterr().out
    assert time.monotonic() - started < 30
    assert await single.format.stored() == WORKSPACE_TAGS


@pytest.mark.slow  # (waits a second for a hold that never comes)
async def test_a_worker_of_this_release_that_does_not_hold_stops_the_move_with_the_mark_taken_back(
        redis: Redis, capsys: pytest.CaptureFixture[str]) -> None:
    single = Store(redis, prefix="{hitl}")
    await seed(single, WORKSPACES[:2])
    await single.format.keep(version="0.9.0")
    await redis.set(single.keys.heartbeat("w-stuck"), "1700000000.0 0.9.0 one-tag", px=60_000)
    before = await everything(redis)
    assert await move_workspaces(WorkspaceMove(single.shared), dry_run=False, wait=0, by="cli:ops",
                                 hold_within=1) == 1
    err = capsys.readouterr().err
    assert "did not hold their commands" in err and "w-stuck (version 0.9.0, one hash tag)" in err, err
    assert data(await everything(redis)) == data(before)  # (the mark taken back: the format as it was)


@pytest.mark.slow
async def test_a_worker_of_this_release_holds_its_commands_from_the_mark_and_for_good_once_moved(
        redis: Redis, redis_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    single = Store(redis, prefix="{hitl}")
    seeded = await seed(single, WORKSPACES[:3])
    client = connect(redis_url)  # the worker's own client (a hold is its client's)
    try:
        worker = Store(client, prefix="{hitl}")
        worker.hidden.use(single.hidden.keyring)
        hold = hold_of(client)
        hold.SECONDS = 0.3
        await worker.workers.beat("w-1", ttl=30)
        assert not hold.held and list(await WorkspaceMove(single.shared).unheld()) == ["w-1"]
        mover = WorkspaceMove(single.shared)
        was = await mover.mark("cli:ops")
        await worker.workers.beat("w-1", ttl=30)  # sees the mark: held, and says so at once (nothing in flight)
        assert hold.held and await mover.unheld() == {}
        assert (await single.workers.beats())["w-1"].endswith(" one-tag held")
        ws = worker.for_tenant(WORKSPACES[0], home=HOME)
        with pytest.raises(StoreUnavailable, match="being moved"):  # fails closed: the caller retries
            await ws.approvals.decide(seeded[WORKSPACES[0]].pending, outcome="approved", by="U0BOB")
        await mover.unmark(*was)  # called off: its commands go on
        await worker.workers.beat("w-1", ttl=30)
        assert not hold.held

        await mover.mark("cli:ops")
        await worker.workers.beat("w-1", ttl=30)
        assert await move_workspaces(WorkspaceMove(single.shared), dry_run=False, wait=0, by="cli:ops") == 0
        assert "resuming" in capsys.readouterr().out
        await worker.workers.beat("w-1", ttl=30)  # moved: held for good (its names are not the workspaces' now)
        assert hold.held
        with pytest.raises(StoreUnavailable, match="being moved"):
            await ws.approvals.decide(seeded[WORKSPACES[0]].pending, outcome="approved", by="U0BOB")
        calls = 0

        async def read() -> object:
            nonlocal calls
            calls += 1
            return await ws.approvals.get(seeded[WORKSPACES[0]].pending)

        with pytest.raises(StoreHeld):  # held until it restarts: no blip to ride out (an ask's 503 now, not in 60 s)
            await persistently(read, what="reading an approval", patience=60)
        assert calls == 1
        moved = Store(redis, prefix="{hitl}", sharded=True).for_tenant(WORKSPACES[0], home=HOME)
        assert (await moved.approvals.get(seeded[WORKSPACES[0]].pending)).status == "pending"
    finally:
        await client.aclose()


async def test_a_worker_of_the_workspace_tags_layout_is_not_in_the_way(redis: Redis) -> None:
    single = Store(redis, prefix="{hitl}")
    await seed(single, WORKSPACES[:1])
    await redis.set(single.keys.heartbeat("w-new"), "1700000000.0 0.9.0 tags", px=60_000)
    assert await WorkspaceMove(single.shared).blockers() == {}


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_move_cut_half_way_is_finished_by_the_next_with_nothing_lost_or_moved_twice(
        redis: Redis, capsys: pytest.CaptureFixture[str]) -> None:
    single = Store(redis, prefix="{hitl}")
    seeded = await seed(single, WORKSPACES)
    before = await everything(redis)
    mover = WorkspaceMove(single.shared)
    await mover.mark("cli:ops")  # as a run killed after two workspaces and one key of a third restored, not deleted
    plan = await mover.plan()
    keyed = await mover.key_workspaces()
    for tenant in WORKSPACES[:2]:
        await mover.move_one(tenant, plan.keys[tenant], keyed[tenant])
    half = plan.keys[WORKSPACES[2]][0]
    new = half.replace(f"{{hitl}}:ws:{WORKSPACES[2]}", f"hitl:{{ws:{WORKSPACES[2]}}}", 1)
    await redis.restore(new, 0, await redis.dump(half))
    tags = Store(redis, prefix="{hitl}", sharded=True)
    with pytest.raises(LayoutDisagrees, match="being moved"):  # no worker starts meanwhile, of either layout
        await tags.format.keep(version="0.9.0")
    with pytest.raises(LayoutDisagrees, match="being moved"):
        await single.format.keep(version="0.9.0")

    assert await move_workspaces(WorkspaceMove(single.shared), dry_run=False, wait=0, by="cli:ops") == 0
    assert "resuming" in capsys.readouterr().out
    after = await everything(redis)
    assert not [k for k in after if k.startswith("{hitl}:ws:")]
    moved = {k: v[0] for k, v in before.items() if k.startswith("{hitl}:ws:")}
    for key, payload in moved.items():
        tenant = key.split(":")[2]
        assert after[key.replace(f"{{hitl}}:ws:{tenant}", f"hitl:{{ws:{tenant}}}", 1)][0] == payload, key
    for tenant in WORKSPACES:
        ws = tags.for_tenant(tenant, home=HOME)
        assert (await ws.approvals.get(seeded[tenant].pending)).status == "pending"  # type: ignore[union-attr]
    assert await tags.format.stored() == WORKSPACE_TAGS and await tags.format.moving() is None


async def test_a_workers_setting_and_the_stores_layout_never_disagree_silently(redis: Redis) -> None:
    single = Store(redis, prefix="{hitl}")
    tags = Store(redis, prefix="{hitl}", sharded=True)
    assert await tags.format.keep(version="0.9.0") == (1, WORKSPACE_TAGS)  # a new store: nothing to move
    with pytest.raises(LayoutDisagrees, match="REDIS_WORKSPACE_TAGS=true"):
        await single.format.keep(version="0.9.0")
    await redis.flushall()

    await seed(single, WORKSPACES[:1])
    assert await single.format.keep(version="0.9.0") == (1, ONE_TAG)
    with pytest.raises(LayoutDisagrees, match="move-workspaces"):
        await tags.format.keep(version="0.9.0")
    assert await single.format.stored() == ONE_TAG  # (refused: nothing changed)


async def test_a_heartbeat_says_the_workers_version_and_layout(redis: Redis) -> None:
    single, tags = Store(redis, prefix="{hitl}"), Store(redis, prefix="{hitl}", sharded=True)
    await single.workers.beat("w-one", ttl=30)
    await tags.workers.beat("w-tags", ttl=30)
    beats = await single.workers.beats()
    assert beats["w-one"].split(" ")[1:] == [bot.__version__, "one-tag"]
    assert beats["w-tags"].split(" ")[1:] == [bot.__version__, "tags"]
    assert await WorkspaceMove(single.shared).blockers() == {}  # (this release's: it holds when asked)
    assert list(await WorkspaceMove(single.shared).unheld()) == ["w-one"]
    await redis.set(single.keys.heartbeat("w-old"), "1700000000.0", px=60_000)
    assert list(await WorkspaceMove(single.shared).blockers()) == ["w-old"]

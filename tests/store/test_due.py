"""The index of due work per tenant (issue 78, bot/store/due.py): written where an approval opens or is decided,
never later than the data (`ZADD LT`), settled by the loop that did a tenant's work, repaired at a worker's start
for what was written without it; and which tenant holds an approval, one lookup."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from bot.approvals.due_loops import DeadlineSweeper, DueTenants, Sweeps
from bot.store import Store, connect
from bot.store.approvals import DecideResult
from bot.store.due import HOME, KINDS, DueWork
from tests.support.hitl import until
from tests.support.records import approval


@pytest.fixture(params=["one_slot", "sharded"])
async def store(redis_url: str, request: pytest.FixtureRequest) -> AsyncIterator[Store]:
    """Today's layout (the worker-wide indexes written in the tenant's step), and sharded (issue 89: the tenant's
    own index in its step, the worker-wide ones written after)."""
    redis = connect(redis_url)
    yield Store(redis) if request.param == "one_slot" else Store(redis, prefix="{hitl}", sharded=True)
    await redis.aclose()


async def test_an_approval_opened_in_a_tenant_puts_that_tenant_in_the_due_index_at_its_deadline(store: Store) -> None:
    other = store.for_tenant("T0OTHER", home="T0HOME")
    soon, later = approval("due-0000-a", deadline_in=60), approval("due-0000-b", deadline_in=600)
    await other.approvals.create(replace(later, team="T0OTHER"))
    await other.approvals.create(replace(soon, team="T0OTHER"))
    assert await store.due.due("deadlines", time.time() + 30) == []
    assert await store.due.due("deadlines", time.time() + 120) == ["T0OTHER"]
    assert abs((await store.due.next_at("deadlines") or 0) - soon.deadline) < 0.01  # its earliest
    assert await store.due.holder(soon.id) == "T0OTHER" and await store.due.holder("not-0000-x") is None
    await store.approvals.create(approval("home-0000-a", deadline_in=30))  # home is a tenant like any other
    assert await store.due.due("deadlines", time.time() + 45) == [HOME]
    assert await store.due.holder("home-0000-a") == ""


async def test_settling_a_tenant_sets_its_next_due_time_or_takes_it_out(store: Store) -> None:
    other = store.for_tenant("T0OTHER", home="T0HOME")
    first = replace(approval("due-0000-a", deadline_in=60), team="T0OTHER")
    await other.approvals.create(first)
    await other.approvals.create(replace(approval("due-0000-b", deadline_in=600), team="T0OTHER"))
    assert (await other.approvals.decide(first.id, outcome="approved", by="U0BOB")).status == "ok"
    await other.due.settle("deadlines")
    assert await store.due.due("deadlines", time.time() + 120) == []  # the next is in ten minutes
    assert await store.due.due("deadlines", time.time() + 700) == ["T0OTHER"]
    assert await store.due.due("slack", time.time() + 30) == ["T0OTHER"]  # its card due a redraw (the outbox)
    assert await store.due.next_at("runs") is None  # (Slack's due work is its own kind, not the runs')
    await other.redis.delete(other.keys.deadlines, other.keys.outbox)
    await other.due.settle("deadlines")
    await other.due.settle("slack")
    assert await store.due.next_at("deadlines") is None and await store.due.next_at("slack") is None


async def test_work_written_without_its_note_is_indexed_at_a_workers_start(store: Store) -> None:
    """A worker that died between a write and its note, or a version before the index, left work unindexed."""
    others = [store.for_tenant(f"T0W{n}", home="T0HOME") for n in range(3)]
    for n, tenant in enumerate(others):
        await tenant.redis.zadd(tenant.keys.nudges, {f"old-000{n}-a": 100.0 + n})
    await store.due.drop("nudges", "T0W0")
    assert await store.due.next_at("nudges") is None
    await DueWork.repair(t.due for t in others)
    assert await store.due.due("nudges", time.time()) == ["T0W0", "T0W1", "T0W2"]
    assert await store.due.next_at("nudges") == 100.0


async def test_each_surfaces_due_set_is_a_kind_of_its_own_settled_apart(store: Store) -> None:
    """Slack's outbox, Teams' and the e-mails' due sets each in an index of their own (#88): one surface's loop
    settling its tenant leaves the other surfaces' entries as they were, and none is the runs' work."""
    now = time.time()
    await store.outbox.add("due-0000-a", due=now + 10)
    await store.teams_due.add("due-0000-b", due=now + 20)
    await store.email_due.add("due-0000-c", due=now + 30)
    found = [await store.due.next_at(kind) for kind in ("slack", "teams", "email")]
    assert found == [now + 10, now + 20, now + 30] and await store.due.next_at("runs") is None
    await store.redis.delete(store.keys.teams("due"))
    await store.due.settle("teams")
    assert await store.due.next_at("teams") is None
    assert [await store.due.next_at(kind) for kind in ("slack", "email")] == [now + 10, now + 30]


async def test_sharded_a_note_between_a_settles_step_and_its_write_is_kept(store: Store) -> None:
    """Sharded, a settle writes the worker-wide index after its tenant's step: work noted between the two (its note's
    own write to the index still to come) is not lost under the settle's later time (the settle reads the tenant's
    own entry again after its write, and lowers to it)."""
    if not store.due.sharded:
        return  # (today's layout: the index is written in the tenant's step)
    other = store.for_tenant("T0OTHER", home="T0HOME")
    step = other.shared.script("due_note")
    await other.redis.zadd(other.keys.deadlines, {"due-0000-a": 1000.0})
    keys, args = other.due._step(KINDS, exact="deadlines")
    found = await step(keys=keys, args=args)  # the settle's step: next at 1000
    await other.redis.zadd(other.keys.deadlines, {"due-0000-b": 500.0})
    keys, args = other.due._step(KINDS, exact=False)
    await step(keys=keys, args=args)  # a note's step, its write to the worker-wide index not yet done
    await other.due._spread(dict(zip(KINDS, (str(at) for at in found), strict=True)), exact="deadlines", held="")
    assert await store.due.next_at("deadlines") == 500.0
    assert await store.redis.zscore(other.keys.due_here, "deadlines") == 500.0


async def calls(store: Store, command: str) -> int:
    """How often the server has run `command` (INFO commandstats; a Lua step's own commands counted)."""
    found = (await store.redis.info("commandstats")).get(f"cmdstat_{command}")
    return int(found["calls"]) if isinstance(found, dict) else 0


async def test_sharded_a_note_that_adds_no_earlier_work_writes_nothing_worker_wide_but_held_by(store: Store) -> None:
    """Issue 89's benchmark: an ask due later than its workspace's earliest (and its decision) leave the tenant's own
    entry as it was, so no step runs in the root's slot: `held_by`'s SET alone (one node: one step, as always)."""
    other = store.for_tenant("T0OTHER", home="T0HOME")
    first = replace(approval("due-0000-a", deadline_in=60), team="T0OTHER")
    await other.approvals.create(first)
    assert (await other.approvals.decide(first.id, outcome="approved", by="U0BOB")).status == "ok"
    assert await store.due.due("slack", time.time() + 30) == ["T0OTHER"]  # (its redraw: lowered, written)
    before = await calls(store, "evalsha")
    later = replace(approval("due-0000-b", deadline_in=600), team="T0OTHER")
    await other.approvals.create(later)
    assert (await other.approvals.decide(later.id, outcome="approved", by="U0BOB")).status == "ok"
    assert await calls(store, "evalsha") - before == 4  # open, its note, decide, its note: no lua/due_index.lua
    assert await store.due.holder(later.id) == "T0OTHER"
    assert abs((await store.due.next_at("deadlines") or 0) - first.deadline) < 0.01  # (before it: the loop settles)


async def test_sharded_a_note_whose_work_a_settles_step_saw_first_is_kept_by_the_settles_write(store: Store) -> None:
    """A note's step that finds its work in the tenant's entry already (a settle's step read it first) writes nothing
    worker-wide: the settle's own write carries it. And a note that lowered the entry after a settle's step is kept
    whichever of the two writes comes last."""
    if not store.due.sharded:
        return  # (one slot: the index is written in the tenant's step)
    other = store.for_tenant("T0OTHER", home="T0HOME")
    step = other.shared.script("due_note")

    async def run(exact: str | bool) -> dict[str, str]:
        keys, args = other.due._step(KINDS, exact=exact)
        return dict(zip(KINDS, (str(at) for at in await step(keys=keys, args=args)), strict=True))

    await other.redis.zadd(other.keys.deadlines, {"due-0000-a": 1000.0})
    await other.due.note()
    await other.redis.zrem(other.keys.deadlines, "due-0000-a")  # done; its loop settles the tenant...
    await other.redis.zadd(other.keys.deadlines, {"due-0000-b": 2000.0})  # ...as an ask due later is written
    settled = await run("deadlines")  # the settle's step: next at 2000 (b seen)
    assert (await run(False))["deadlines"] == ""  # b's note: the entry stood (at 2000), nothing to write
    await other.due._spread(settled, exact="deadlines", held="")
    assert await store.due.next_at("deadlines") == 2000.0

    await other.redis.zrem(other.keys.deadlines, "due-0000-b")
    settled = await run("deadlines")  # nothing left: the settle removes the tenant...
    await other.redis.zadd(other.keys.deadlines, {"due-0000-c": 3000.0})
    lowered = await run(False)  # ...while c's note lowers (adds) the tenant's entry
    assert lowered["deadlines"] == "3000"
    for first, second in ((settled, lowered), (lowered, settled)):  # whichever write comes last
        await other.due._spread(first, exact="deadlines" if first is settled else False, held="")
        await other.due._spread(second, exact="deadlines" if second is settled else False, held="")
        assert await store.due.next_at("deadlines") == 3000.0, (first, second)


@pytest.mark.slow
async def test_a_timeout_due_after_the_workspaces_earliest_still_fires_on_time(store: Store) -> None:
    """The ask due later than its workspace's entry writes nothing worker-wide (its note stood); the deadline loop
    visits the tenant at the earlier entry, settles it at the later ask's deadline, and times it out then."""
    other = store.for_tenant("T0OTHER", home="T0HOME")
    first = replace(approval("due-0000-a", deadline_in=0.3), team="T0OTHER")
    later = replace(approval("due-0000-b", deadline_in=0.8), team="T0OTHER")
    await other.approvals.create(first)
    await other.approvals.create(later)
    assert (await other.approvals.decide(first.id, outcome="approved", by="U0BOB")).status == "ok"
    fired: dict[str, float] = {}

    async def on_decided(result: DecideResult) -> None:
        assert result.approval is not None
        fired[result.approval.id] = time.time()

    sweeper = DeadlineSweeper(other, on_decided=on_decided)

    async def of(tenant: str) -> tuple[Sweeps, Store] | None:
        return (sweeper, other) if tenant == "T0OTHER" else None

    loop = DueTenants(store, "deadlines", of=of, max_sleep=1.0, floor=0.01)
    await loop.start()
    try:
        await until(lambda: later.id in fired, within=5, what="the later ask timed out")
    finally:
        await loop.stop()
    assert later.deadline <= fired[later.id] < later.deadline + 0.5  # on time (the loop sleeps to the next entry)
    assert (await other.approvals.get(later.id)).status == "timed_out"  # type: ignore[union-attr]
    assert first.id not in fired


async def test_a_decisions_note_is_named_and_encoded_once_a_store_and_still_lowers_each_time(store: Store) -> None:
    """#89: the note after every decision (each kind lowered, nothing held) is the same step each time: its keys named
    and its arguments encoded once a store (`DueWork._noting`), yet each note still lowers the tenant's entries."""
    other = store.for_tenant("T0OTHER", home="T0HOME")
    named = 0
    step = other.due._step

    def counted(*args: object, **kwargs: object) -> object:
        nonlocal named
        named += 1
        return step(*args, **kwargs)  # type: ignore[arg-type]

    other.due._step = counted  # type: ignore[method-assign, assignment]
    for n, deadline_in in enumerate((600, 60)):  # the second due earlier: its note lowers the entry
        asked = replace(approval(f"due-000{n}-a", deadline_in=deadline_in), team="T0OTHER")
        await other.approvals.create(asked)
        assert (await other.approvals.decide(asked.id, outcome="approved", by="U0BOB")).status == "ok"
        await other.redis.zadd(other.keys.deadlines, {f"x{n}": asked.deadline})  # (work left due at its deadline)
        await other.due.note()
        assert abs((await store.due.next_at("deadlines") or 0) - asked.deadline) < 0.01
    assert named == 1  # two notes, one step named (the decisions' own: `Approvals`' `DueWork`, as once)

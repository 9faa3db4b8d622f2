"""The index of due work per tenant (issue 78, bot/store/due.py): written where an approval opens or is decided,
never later than the data (`ZADD LT`), settled by the loop that did a tenant's work, repaired at a worker's start
for what was written without it; and which tenant holds an approval, one lookup."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from dataclasses import replace

import pytest

from bot.store import Store, connect
from bot.store.due import HOME, KINDS, DueWork
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

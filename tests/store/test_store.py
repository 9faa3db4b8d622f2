"""The approval engine against a real redis-server: one atomic decide step, the waiter, deadlines."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from pathlib import Path

import pytest
from agent_approvals.approver import Decision

import bot.store
from bot.api.service import ApiWaiters
from bot.approvals.due_loops import DeadlineSweeper
from bot.approvals.waiter import DecisionWaiter
from bot.core.records import API_OWNER, ApprovalRecord
from bot.store import DecideResult, Opening, Store
from bot.store.connection import connect
from tests.support.records import approval


async def test_decide_is_exactly_once_under_a_race(store: Store) -> None:
    await store.approvals.create(approval())
    await store.approvals.attach_card("a1b2c3d4-0000", channel="C0APPROVALS", ts="1.000100")
    outcomes = ["approved", "rejected", "revised"] * 34
    results = await asyncio.gather(
        *(
            store.approvals.decide("a1b2c3d4-0000", outcome=o, by=f"U{i:04d}", card=("C0APPROVALS", "1.000100"))
            for i, o in enumerate(outcomes)
        )
    )
    winners = [r for r in results if r.status == "ok"]
    assert len(winners) == 1
    assert all(r.status == "already" for r in results if r.status != "ok")
    assert all(
        r.approval is not None and r.approval.decided_by == winners[0].approval.decided_by  # type: ignore[union-attr]
        for r in results
        if r.status == "already"
    )
    assert [e["event"] for e in await store.audit.entries()] == ["requested", "decision"]
    assert await store.approvals.next_deadline() is None  # the deadline went with the decision


async def test_click_racing_the_timeout_has_one_winner(store: Store) -> None:
    for i in range(30):
        approval_id = f"race-{i:04d}-x"
        await store.approvals.create(approval(approval_id, deadline_in=-0.001))
        click, timeout = await asyncio.gather(
            store.approvals.decide(approval_id, outcome="approved", by="U0BOB"),
            store.approvals.decide(approval_id, outcome="timed_out", by="timeout"),
        )
        assert sorted([click.status, timeout.status]) == ["already", "ok"]


async def test_timeout_is_refused_before_the_deadline(store: Store) -> None:
    await store.approvals.create(approval(deadline_in=60))
    early = await store.approvals.decide("a1b2c3d4-0000", outcome="timed_out", by="timeout")
    assert early.status == "not_due" and early.approval is None
    record = await store.approvals.get("a1b2c3d4-0000")
    assert record is not None and record.pending


async def test_decision_must_come_from_its_own_card(store: Store) -> None:
    await store.approvals.create(approval())
    await store.approvals.attach_card("a1b2c3d4-0000", channel="C0APPROVALS", ts="1.000100")
    decide = store.approvals.decide
    other_ts = await decide("a1b2c3d4-0000", outcome="approved", by="U0BOB", card=("C0APPROVALS", "2.000200"))
    other_channel = await decide("a1b2c3d4-0000", outcome="approved", by="U0BOB", card=("C0OTHER", "1.000100"))
    missing = await store.approvals.decide("zzzzzzzz-0000", outcome="approved", by="U0BOB")
    assert (other_ts.status, other_channel.status, missing.status) == ("mismatch", "mismatch", "missing")
    record = await store.approvals.get("a1b2c3d4-0000")
    assert record is not None and record.pending and record.card_ts == "1.000100"


async def test_waiter_wakes_from_the_subscription_and_reconciles(store: Store) -> None:
    waiter = DecisionWaiter(store, "w1")
    await waiter.start()
    try:
        future = waiter.expect("a1b2c3d4-0000")
        await store.approvals.create(approval())
        await store.approvals.decide("a1b2c3d4-0000", outcome="revised", by="U0BOB", feedback="shorter please")
        await asyncio.wait_for(future, timeout=5)  # woken; the decision is read from the record, once
        status, decided, _ = await store.runs.consume("rabcdefg", "a1b2c3d4-0000", fence=("", 0))
        assert status == "ok" and decided is not None
        decision = decided.decision()
        assert decision == Decision("a1b2c3d4-0000", "revised", "U0BOB", "shorter please", "reject")
        assert decision.reply_text() == "shorter please"
    finally:
        await waiter.stop()
    # decided while nobody listened: a fresh subscription re-reads what it waits for
    await store.approvals.create(approval("b1b2c3d4-0000"))
    await store.approvals.decide("b1b2c3d4-0000", outcome="approved", by="U0CAROL")
    late = DecisionWaiter(store, "w1")
    future = late.expect("b1b2c3d4-0000")
    await late.start()
    try:
        await asyncio.wait_for(future, timeout=5)
        decided = await store.approvals.get("b1b2c3d4-0000")
        assert decided is not None and decided.decision().outcome == "approved"
    finally:
        await late.stop()


def side_tasks() -> list[str]:
    """The tasks running beside the test's and the waiter's own: what `next_message` would start for each message
    (the subscription's read, the wait for a tenant's arrival)."""
    found = [task.get_coro() for task in asyncio.all_tasks()]
    return [name for name in (getattr(coro, "__qualname__", "") for coro in found)
            if name.endswith(("get_message", "Event.wait"))]


async def test_where_no_tenant_has_channels_of_its_own_the_waiter_reads_its_subscription_in_its_own_task(
        store: Store, redis_url: str) -> None:
    """One node, plain pub/sub (#89's review): no task a message beside the waiter's, and a decision still wakes it.
    Workspaces on tags of their own with sharded pub/sub: a tenant's arrival raced with the read."""
    waiter = DecisionWaiter(store, "w1")
    await waiter.start()
    try:
        assert side_tasks() == []
        future = waiter.expect("a1b2c3d4-0000")
        await store.approvals.create(approval())
        await store.approvals.decide("a1b2c3d4-0000", outcome="approved", by="U0BOB")
        await asyncio.wait_for(future, timeout=5)
        assert side_tasks() == []
    finally:
        await waiter.stop()
    tagged = Store(connect(redis_url), prefix="{hitl}", sharded=True)
    tagged.shared.publish = "SPUBLISH"  # (as `use_sharded` sets it on a Redis 7 Cluster; the names alone here)
    racing = DecisionWaiter(tagged, "w1")
    await racing.start()
    try:
        assert side_tasks() != []  # (the read, the wait for a tenant: beside the waiter's task)
    finally:
        await racing.stop()
        await tagged.close()


async def test_a_decision_made_on_the_owner_wakes_its_waiters_there_without_the_message(store: Store) -> None:
    """The worker that decides wakes what waits here at once (`decided_here`): the run, or an API long-poll. No
    subscription runs in this test, so nothing published could have woken them."""
    api = ApiWaiters()
    waiter = DecisionWaiter(store, "w1", also={API_OWNER: api})
    run_waits, poll_waits = waiter.expect("a1b2c3d4-0000"), api.expect("b1b2c3d4-0000")
    waiter.decided_here("w2", "a1b2c3d4-0000")  # another worker's approval: not this worker's to wake
    assert not run_waits.done()
    waiter.decided_here("w1", "a1b2c3d4-0000")
    waiter.decided_here(API_OWNER, "b1b2c3d4-0000")
    assert run_waits.done() and poll_waits.done()
    waiter.decided_here("w1", "a1b2c3d4-0000")  # the published message, or a second decision: nobody twice


async def test_decisions_go_to_the_owner_worker_only(store: Store) -> None:
    pubsub = store.redis.pubsub()
    await pubsub.subscribe(store.keys.worker_channel("w2"))
    await store.approvals.create(approval(owner="w2"))
    await store.approvals.decide("a1b2c3d4-0000", outcome="approved", by="U0BOB")
    message = None
    deadline = time.monotonic() + 5
    while message is None and time.monotonic() < deadline:
        message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=1)
    await pubsub.aclose()  # type: ignore[no-untyped-call]
    assert message is not None
    # it only wakes the owner's waiter: the decision is read from the record
    assert json.loads(message["data"]) == {"t": "decision", "id": "a1b2c3d4-0000"}


async def test_sweeper_times_out_overdue_approvals_once(store: Store) -> None:
    fired: list[ApprovalRecord] = []
    done = asyncio.Event()

    async def on_decided(result: DecideResult) -> None:
        assert result.status == "ok" and result.approval is not None
        fired.append(result.approval)
        if len(fired) == 3:
            done.set()

    await store.approvals.create(approval("late-0000-a", deadline_in=0.05))
    await store.approvals.create(approval("late-0000-b", deadline_in=0.1))
    await store.approvals.create(approval("late-0000-c", deadline_in=0.15))
    await store.approvals.create(approval("not-yet-0000", deadline_in=600))
    sweepers = [DeadlineSweeper(store, on_decided=on_decided) for _ in range(3)]  # three workers
    for sweeper in sweepers:
        await sweeper.start()
    try:
        await asyncio.wait_for(done.wait(), timeout=5)
    finally:
        for sweeper in sweepers:
            await sweeper.stop()
    assert sorted(r.id for r in fired) == ["late-0000-a", "late-0000-b", "late-0000-c"]
    assert all(r.status == "timed_out" and r.decided_at >= r.deadline for r in fired)
    pending = await store.approvals.get("not-yet-0000")
    assert pending is not None and pending.pending


async def test_a_sweeper_stopped_in_the_tick_it_is_woken_stops(store: Store) -> None:
    """Python 3.11's `asyncio.wait_for` returns, instead of raising, when its cancellation comes in the tick its
    awaitable completes: a loop sleeping in it until woken would go on after `stop()` (a nudger that kept posting
    reminders on a stopping worker; a test saw it claim what it should have left)."""
    class Sleeping(DeadlineSweeper):
        sleeping = asyncio.Event()

        async def sweep(self) -> int:
            return 0

        async def next_due(self) -> float | None:
            self.sleeping.set()  # what the loop does next, with no await between: sleep until woken
            return None

    for _ in range(5):
        sweeper = Sleeping(store, on_decided=lambda _: asyncio.sleep(0), max_sleep=60)
        sweeper.sleeping = asyncio.Event()  # (this one's)
        await sweeper.start()
        await sweeper.sleeping.wait()
        sweeper.wake()
        await asyncio.sleep(0)  # the sleep's wait completes...
        task = sweeper._task
        await sweeper.stop()  # ...and the stop comes in the same tick
        assert task is not None and task.done(), "the sweeper went on after stop()"


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_task_cancelled_while_its_redis_command_is_on_its_way_stops(redis_url: str) -> None:
    """Workers connect with a command timeout, under which redis-py sends each command in `asyncio.wait_for`, and
    on Python 3.11 that loses a cancellation coming in the tick the send completes (one cancel in three here, and
    a stopped nudger went on claiming reminders): the store's boundary (`guarded`) raises it again."""
    redis = connect(redis_url, command_timeout=5.0)

    async def forever() -> None:
        while True:
            await redis.get("x")

    went_on = None
    try:
        for n in range(300):
            task = asyncio.create_task(forever())
            await asyncio.sleep(n % 30 / 10_000)  # the cancel comes 0 to 3 ms in: anywhere in a command
            task.cancel()
            done, _ = await asyncio.wait([task], timeout=1)
            if not done:
                went_on = n
                while not task.done():
                    task.cancel()
                    await asyncio.wait([task], timeout=0.1)
                break
    finally:
        await redis.aclose()
    assert went_on is None, f"task {went_on} went on after being cancelled"


def busy(seconds: float) -> None:
    """Hold the event loop as work does: nothing else of it runs meanwhile."""
    until = time.monotonic() + seconds
    while time.monotonic() < until:
        pass


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
async def test_a_connection_opened_while_the_event_loop_is_late_is_used(redis_url: str) -> None:
    """A worker's loop a few seconds late (20 teams starting on a loaded 2-core machine) finds the connection it
    was opening accepted long ago: within `command_timeout` it is used, not failed at a fixed 2 s (CI saw `/agent`
    refused "Redis unreachable (TimeoutError)" so). The loop is held here as a busy one holds it."""
    redis = connect(redis_url, command_timeout=10.0)  # a fresh pool: the command opens its connection
    try:
        command = asyncio.create_task(redis.set("late", "yes"))
        await asyncio.sleep(0)  # it starts connecting
        busy(3.0)  # the loop is late: 3 s pass before anything else of it runs
        assert await command
        assert await redis.get("late") == "yes"
    finally:
        await redis.aclose()
    quick = connect(redis_url, command_timeout=0.5)  # a probe's short commands still connect within 2 s
    try:
        command = asyncio.create_task(quick.set("late", "again"))
        await asyncio.sleep(0)
        busy(1.0)
        assert await command
    finally:
        await quick.aclose()


async def test_a_claimed_outbox_entry_stays_until_its_card_is_redrawn(store: Store) -> None:
    await store.approvals.create(approval("outbox-0000-a"))
    result = await store.approvals.decide("outbox-0000-a", outcome="approved", by="U0BOB")
    assert result.status == "ok"
    later = time.time() + store.shared.card_grace + 1  # nobody redrew it in time
    assert await store.outbox.claim(later, lease=0.2) == ["outbox-0000-a"]
    assert await store.outbox.claim(later, lease=0.2) == []  # one claimer per lease
    # the claimer died before redrawing: due again once the lease is over
    assert await store.outbox.claim(later + 0.3, lease=0.2) == ["outbox-0000-a"]
    await store.outbox.defer(["outbox-0000-a", "not-in-outbox"], due=later + 60)  # queued for a redraw here
    assert await store.outbox.claim(later + 30, lease=0.2) == []
    assert await store.redis.zscore(store.keys.outbox, "not-in-outbox") is None  # only entries still there move
    assert result.approval is not None
    await store.outbox.done([result.approval])  # redrawn as decided
    assert await store.outbox.claim(later + 120, lease=0.2) == []


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_many_due_timeouts_are_swept_in_batches_once_each_and_say_if_the_owner_heard(
    store: Store,
) -> None:
    waiter = DecisionWaiter(store, "w-alive")  # one owner is subscribed, the other is gone
    await waiter.start()
    for i in range(450):
        await store.approvals.create(approval(f"bulk-{i:04d}-x", deadline_in=-1, owner=("w-alive", "w-gone")[i % 2]))
    await store.approvals.create(approval("bulk-later-x", deadline_in=600))
    await store.redis.zadd(store.keys.deadlines, {"stray-0000-x": 1.0})  # a deadline whose approval expired
    fired: list[list[DecideResult]] = [[], []]

    def collect(into: list[DecideResult]) -> Callable[[DecideResult], Awaitable[None]]:
        async def on_decided(result: DecideResult) -> None:
            into.append(result)

        return on_decided

    sweepers = [DeadlineSweeper(store, on_decided=collect(fired[n]), batch=50) for n in range(2)]  # two workers
    try:
        counts = await asyncio.gather(*(sweeper.sweep() for sweeper in sweepers))
    finally:
        await waiter.stop()
    results = fired[0] + fired[1]
    assert sum(counts) == len(results) == 450 and all(fired)  # both took part, nothing twice
    assert len({r.approval.id for r in results if r.approval}) == 450
    assert all(r.approval and r.approval.status == "timed_out" and r.approval.decided_by == "timeout" for r in results)
    heard = {r.approval.id: r.owner_heard for r in results if r.approval}
    assert all(heard[f"bulk-{i:04d}-x"] == (i % 2 == 0) for i in range(450))
    assert await store.redis.zrange(store.keys.deadlines, 0, -1) == ["bulk-later-x"]  # the stray one is gone too
    assert await store.redis.zcard(store.keys.outbox) == 450  # every card is due a redraw


async def test_long_texts_live_apart_so_the_approval_hash_stays_compact(store: Store) -> None:
    long = replace(
        approval("text-0000-a"),
        task="Email the ten largest customers about the price change " * 3,
        proposal="Subject: prices\n\nDear customer, from 1 July our prices rise by 4%. " * 20,
        kind="tool",
        tool_name="send_email",
        arguments='{"to": ["a@example.com"], "body": "' + "x" * 300 + '"}',
        why="the tool send_email is marked risky: a human approves every call",
    )
    await store.approvals.create(long, checkpoint='{"state": "' + "y" * 3000 + '"}')
    encoding = await store.redis.object("ENCODING", store.keys.approval(long.id))
    assert encoding in ("listpack", "ziplist")  # not a hash table: several times smaller
    assert await store.approvals.get(long.id) == replace(long, version=1)  # the store's change counter
    assert await store.approvals.checkpoint(long.id) == '{"state": "' + "y" * 3000 + '"}'
    assert len(await store.redis.get(store.keys.checkpoint(long.id))) < 200  # stored compressed
    result = await store.approvals.decide(long.id, outcome="approved", by="U0BOB")
    assert result.approval is not None
    decided_at = result.approval.decided_at
    expected = replace(long, status="approved", decided_by="U0BOB", decided_at=decided_at, version=2,
                       decided_audit_seq=2, decided_audit_id=result.approval.decided_audit_id)  # its audit entry
    assert result.approval == expected
    assert 0 < await store.redis.ttl(store.keys.texts(long.id)) <= 30 * 86400  # expires with the decided approval
    # an approval stored before the texts moved out of the hash reads as it always did
    legacy = approval("text-0000-b")
    await store.redis.hset(store.keys.approval(legacy.id), mapping=legacy.to_redis())  # type: ignore[misc]
    assert await store.approvals.get(legacy.id) == legacy
    rejected = await store.approvals.decide(legacy.id, outcome="rejected", by="U0BOB")
    assert rejected.approval is not None and rejected.approval.proposal == legacy.proposal


async def test_empty_texts_and_a_deadline_the_approval_moved_later(store: Store) -> None:
    empty = replace(approval("empty-0000-a", deadline_in=-1), task="", proposal="")  # e.g. an empty code block
    await store.approvals.create(empty)
    assert await store.approvals.get(empty.id) == replace(empty, version=1)
    later = approval("later-0000-a", deadline_in=600)
    await store.approvals.create(later)
    await store.redis.zadd(store.keys.deadlines, {later.id: 1.0})  # the index says due, the approval says later
    results, more = await store.approvals.time_out_due(time.time(), limit=2)
    assert [r.approval.id for r in results if r.approval] == [empty.id] and more  # a full batch was due
    assert results[0].approval == replace(
        empty,
        status="timed_out",
        decided_by="timeout",
        decided_at=results[0].approval.decided_at,  # type: ignore[union-attr]
        version=3,  # opened (1), the other one opened (2), timed out (3)
    )
    assert await store.redis.zscore(store.keys.deadlines, later.id) == later.deadline  # due when the approval says
    assert (await store.approvals.time_out_due(time.time(), limit=2)) == ([], False)  # so the sweep does not spin


async def test_a_redrawn_card_leaves_the_outbox_only_if_nothing_changed_since(store: Store) -> None:
    await store.approvals.create(replace(approval("quorum-0000-a"), required_approvals=2))
    vote = await store.approvals.decide("quorum-0000-a", outcome="approved", by="U0BOB")
    final = await store.approvals.decide("quorum-0000-a", outcome="approved", by="U0CAROL")
    assert vote.status == "vote" and final.status == "ok" and vote.approval and final.approval
    await store.outbox.done([vote.approval])  # the vote was drawn, but the decision since is not
    assert await store.redis.zscore(store.keys.outbox, "quorum-0000-a") is not None
    await store.outbox.done([final.approval])
    assert await store.redis.zscore(store.keys.outbox, "quorum-0000-a") is None


def test_every_lua_step_names_its_keys_and_arguments() -> None:
    lua = Path(bot.store.__file__).parent / "lua"
    scripts = sorted(lua.rglob("*.lua"))
    assert len(scripts) > 10
    for path in scripts:
        text = path.read_text()
        assert "ARGV" not in text and "KEYS[" not in text, f"{path.name}: positions instead of names"
        if path.parent.name != "lib":
            assert text.startswith("--! keys: "), f"{path.name} does not declare its keys"


async def test_a_lua_step_refuses_keys_it_does_not_declare(store: Store) -> None:
    beat = store.shared.script("beat")
    with pytest.raises(TypeError, match="takes keys"):
        await beat(keys={"heartbeat": store.keys.heartbeat("w1"), "other": "x"}, args={"now": "1", "ttl_ms": "1000"})
    with pytest.raises(TypeError, match="takes keys"):
        await beat(keys={}, args={"now": "1", "ttl_ms": "1000"})
    assert await store.redis.exists(store.keys.heartbeat("w1")) == 0


async def test_a_count_windows_total_is_how_many_calls_it_holds_a_sum_windows_their_amounts(store: Store) -> None:
    """Both where the policies read a window (`Windows.totals`) and where the open step checks it again."""
    key, now = store.keys.window("w:1"), time.time()
    await store.redis.zadd(key, {"a1 5": now - 10, "a2 7": now - 5, "a0 9": now - 120})  # (a0: before the window)
    assert await store.windows.totals([key, key], [now - 60, now - 60], [True, False]) == [2, 12]
    mark = {"name": "w", "key": key, "since": repr(now - 60), "expect": 2, "ttl": 60, "member": "a3 1"}
    assert (await store.approvals.open(Opening(approval("a3"), windows=[{**mark, "count": False}])))[0] == "stale"
    assert (await store.approvals.open(Opening(approval("a3"), windows=[{**mark, "count": True}])))[0] == "ok"
    assert await store.windows.totals([key], [now - 60], [True]) == [3]


async def test_the_open_step_stores_nothing_decided_under_settings_changed_since_they_were_read(store: Store) -> None:
    """`ChannelSettingsStore.read` gives the settings with what their hash held; the open step compares the hash with
    it, in its one atomic step: changed since (by `set`, by a write to the hash itself, by its removal),
    "unsettled" and nothing stored; unchanged, or read again, it opens."""
    channel = "C0DIGEST"
    seen = await store.settings.read(channel, default_timeout=600)
    assert seen == await store.settings.copy(channel, default_timeout=600)  # the worker's copy: no read
    await store.settings.set(channel, "timeout", "120", by="U0ALICE")
    assert (await store.settings.copy(channel, default_timeout=600)).settings.timeout == 600  # (until read again)
    assert await store.approvals.open(Opening(approval("d1"), settings=(channel, seen.held))) == ("unsettled", "")
    assert await store.approvals.get("d1") is None
    now = await store.settings.read(channel, default_timeout=600)
    assert now.settings.timeout == 120 and now.held != seen.held
    assert (await store.settings.copy(channel, default_timeout=600)) == now
    await store.redis.hset(store.keys.settings(channel), "timeout", "300")
    assert (await store.approvals.open(Opening(approval("d1"), settings=(channel, now.held))))[0] == "unsettled"
    await store.redis.delete(store.keys.settings(channel))
    gone = await store.settings.read(channel, default_timeout=600)
    assert gone.held == seen.held and gone.settings.timeout == 600  # (what it holds, not how it got there)
    assert (await store.approvals.open(Opening(approval("d1"), settings=(channel, now.held))))[0] == "unsettled"
    assert (await store.approvals.open(Opening(approval("d1"), settings=(channel, gone.held))))[0] == "ok"


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_every_refusal_is_audited_the_rest_of_a_window_as_one_entry_with_its_count(store: Store) -> None:
    """The first of a window at once, the others counted; the summary written by the next refusal after the window
    (or a sweeper, `summarise_refusals`), once, in the step that deletes the count."""
    said = dict(by="U0EVE", reason="outsider: guest")
    assert await store.audit.refusal("outsider:U0EVE:guest", "refused", window=1, **said)
    assert [await store.audit.refusal("outsider:U0EVE:guest", "refused", window=1, **said) for _ in range(4)] == [
        False] * 4
    entries = await store.audit.entries()
    assert len(entries) == 1 and "count" not in entries[0]
    deadline, counted = time.monotonic() + 10, 4
    while not await store.audit.refusal("outsider:U0EVE:guest", "refused", window=1, **said):  # the next window
        counted += 1  # (each try is an attempt too)
        assert time.monotonic() < deadline, "the window did not close"
        await asyncio.sleep(0.05)
    first, summary, again = await store.audit.entries()
    assert (summary["event"], summary["by"], summary["reason"], summary["count"]) == ("refused", "U0EVE",
                                                                                     "outsider: guest", str(counted))
    assert summary["since"] == first["at"] and float(summary["at"]) >= float(first["at"]) and "count" not in again
    assert await store.audit.summarise_refusals(time.time() + 2) == 0  # nothing counted since: no summary
    assert len(await store.audit.entries()) == 3
    assert await store.redis.zcard(store.keys.refusals_due) == 0 and not await store.redis.keys("*:refusal:*")


async def test_a_step_runs_after_redis_forgot_the_scripts(store: Store) -> None:
    """Each step is called by its SHA-1 (computed once per process); a Redis that no longer knows it (restarted,
    SCRIPT FLUSH) is given the script again, and the step runs."""
    await store.approvals.create(approval())
    await store.redis.script_flush()
    decided = await store.approvals.decide("a1b2c3d4-0000", outcome="approved", by="U0BOB")
    assert decided.status == "ok"
    assert await store.redis.script_exists(store.shared.script("decide").sha) == [True]

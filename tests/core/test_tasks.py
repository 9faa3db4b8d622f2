"""`RunsFirst`: the Slack work a decision set off waits its turn while a run this worker woke is on its way, until
the run arrives (or ends), or for the patience given; several runs, each its own; never for runs woken after the
turn was asked (a stream of decisions cannot hold it past its patience)."""

from __future__ import annotations

import asyncio

import pytest

from bot.core.tasks import Background, RunsFirst, gather_few


async def test_a_turn_is_free_when_no_run_is_on_its_way() -> None:
    first = RunsFirst(patience=60)
    await asyncio.wait_for(first.turn(), 5)  # returns at once: nothing waits
    first.arrived("r1")  # a run that never set off arrives: nothing changes
    await asyncio.wait_for(first.turn(), 5)


async def test_the_work_waits_until_every_run_on_its_way_arrived() -> None:
    first = RunsFirst(patience=60)
    first.going("r1")
    first.going("r2")
    waiting = asyncio.create_task(first.turn())
    others = asyncio.create_task(first.turn())
    await asyncio.sleep(0)  # both wait (an event, not a timer: nothing can finish them but an arrival)
    first.arrived("r1")
    await asyncio.sleep(0)
    assert not waiting.done() and not others.done()  # r2 is still on its way
    first.arrived("r2")
    await asyncio.wait_for(asyncio.gather(waiting, others), 5)


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_run_that_never_arrives_holds_the_work_for_its_patience_only() -> None:
    first = RunsFirst(patience=1.0)
    first.going("r1")
    waiting = asyncio.create_task(first.turn())
    await asyncio.sleep(0.1)
    assert not waiting.done()  # r1 still within its patience
    await asyncio.wait_for(waiting, 5)  # then it ran out
    await asyncio.wait_for(first.turn(), 1)  # r1 no longer counts: free at once


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_run_woken_again_holds_the_turns_asked_after_not_those_before() -> None:
    first = RunsFirst(patience=1.0)
    first.going("r1")
    before = asyncio.create_task(first.turn())
    await asyncio.sleep(0.6)
    first.going("r1")  # a second decision of the same run (before it arrived)
    await asyncio.wait_for(before, 5)  # bounded by the patience from when it asked
    after = asyncio.create_task(first.turn())
    await asyncio.sleep(0.05)
    assert not after.done()  # about 1.05 s after the first decision: the second's patience (to 1.6 s) still runs
    first.arrived("r1")
    await asyncio.wait_for(after, 5)


async def test_cancelling_a_waiting_turn_leaves_the_others() -> None:
    first = RunsFirst(patience=60)
    first.going("r1")
    cancelled, other = asyncio.create_task(first.turn()), asyncio.create_task(first.turn())
    await asyncio.sleep(0)
    cancelled.cancel()
    await asyncio.gather(cancelled, return_exceptions=True)
    assert cancelled.cancelled() and not other.done()
    first.arrived("r1")
    await asyncio.wait_for(other, 5)


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_runs_woken_after_a_turn_was_asked_do_not_hold_it() -> None:
    first = RunsFirst(patience=0.3)
    first.going("r0")
    waiting = asyncio.create_task(first.turn())
    for n in range(1, 11):  # a stream of decisions for 1 s, each waking another run, none arriving
        await asyncio.sleep(0.1)
        first.going(f"r{n}")
    assert waiting.done()  # within r0's patience: the stream (which holds the turns asked during it) did not hold it


async def test_a_run_that_arrives_while_others_go_frees_only_turns_that_waited_for_it_alone() -> None:
    first = RunsFirst(patience=60)
    first.going("r1")
    for_r1 = asyncio.create_task(first.turn())
    await asyncio.sleep(0)
    first.going("r2")
    for_both = asyncio.create_task(first.turn())
    await asyncio.sleep(0)
    first.arrived("r1")
    await asyncio.wait_for(for_r1, 5)  # r2 set off after it asked: not waited for
    await asyncio.sleep(0)
    assert not for_both.done()
    first.arrived("r2")
    await asyncio.wait_for(for_both, 5)


async def test_gather_few_runs_every_work_but_only_so_many_at_once() -> None:
    """A step over every workspace (a thousand OAuth installations asked at start) takes at most `at_once` of the
    Redis pool's connections: asked all at once, a loaded worker ran out of them ("No connection available")."""
    running, peak, done = 0, 0, []

    async def work(i: int) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0)
        running -= 1
        done.append(i)

    await gather_few((work(i) for i in range(1000)), at_once=16)
    assert peak == 16 and sorted(done) == list(range(1000))


async def test_gather_few_leaves_no_work_unawaited_when_one_fails() -> None:
    started: list[int] = []

    async def work(i: int) -> None:
        started.append(i)
        if i == 0:
            raise RuntimeError("Slack said no")
        await asyncio.sleep(0.01)

    works = [work(i) for i in range(50)]
    with pytest.raises(RuntimeError, match="Slack said no"):
        await gather_few(works, at_once=4)
    assert len(started) < 50 and all(w.cr_frame is None for w in works)  # each run to its end, or closed unstarted


async def test_each_works_the_items_in_turn_in_one_task_and_spawns_none_for_none() -> None:
    background, done, running = Background(), asyncio.Event(), []
    worked: list[str] = []

    async def work(item: str) -> None:
        running.append(len(asyncio.all_tasks()))
        worked.append(item)
        if len(worked) == 3:
            done.set()

    background.each([], work, name="none")
    assert not background._tasks  # nothing due: no task
    background.each(["a", "b", "c"], work, name="due")
    await asyncio.wait_for(done.wait(), 5)
    assert worked == ["a", "b", "c"] and len(set(running)) == 1  # in order, one task throughout
    await background.drain()

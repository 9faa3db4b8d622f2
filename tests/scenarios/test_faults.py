"""Correct under real faults done to the workers: real `python -m bot` worker processes, a real redis-server and
the Slack stand-in, with the faults done for real (SIGSTOP/SIGCONT, SIGTERM, SIGKILL, a card's `chat.postMessage`
held in flight, a burst of starts, junk in Redis and on pub/sub).

Each test waits on conditions with deadlines; the only sleeps hold a fault for its stated duration.
"""

from __future__ import annotations

import asyncio
import json
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from bot.core.records import ApprovalRecord
from bot.devslack.server import HeldCall, SlackStandIn
from bot.store import Store
from tests.conftest import (
    ALICE,
    CAROL,
    SALES,
    find_header,
    reply_text,
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
    run_status,
    run_with_card,
    worker_id,
)
from tests.support.faults import approval_of, card_post, cards_match_redis, finished_once, unconsumed
from tests.support.flow import TASK, start_run
from tests.support.hitl import until

pytestmark = pytest.mark.slow  # workers as processes, killed and stalled

EMAIL_TASK = "--team email Email our vendor asking for a 10% discount on the Q2 order"


LIMIT_REFUSAL = "You already have 3 active runs"


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
    async def sent_and_noted() -> bool:  # the email is out and the run's ledger says so (then the worker dies)
        noted = await store.redis.hvals(store.keys.ledger(run_id))
        return bool(list(outbox.glob("*.eml"))) and any(json.loads(entry).get("state") == "done" for entry in noted)

    await until(sent_and_noted, within=15, what="the email in the outbox and in the run's ledger")
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

"""A run's ask through a Redis restart (#88's leftovers; seen in CI's soak tests): Redis stopped and started again
while `RunManager.request_approval` posts the card, the ask is tried again (`persistently`) instead of ending the
run `failed`, and a retried ask is the same ask (one card, by its approval id)."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from agent_approvals.approver import ApprovalRequest, Decision

from bot.devslack.server import SlackStandIn
from tests.benchmarks.common import bench_run
from tests.conftest import APPROVALS, BOB, SALES, RedisServer, Worker, bot_env, card_of, start_redis, start_worker
from tests.support.faults import card_post
from tests.support.hitl import click, until

pytestmark = pytest.mark.slow  # a worker and a redis-server of its own


@pytest.fixture
async def own(slack: SlackStandIn, tmp_path: Path) -> AsyncIterator[tuple[Worker, RedisServer]]:
    """A worker on a redis-server of this test's (AOF on: a restart keeps what was written)."""
    (tmp_path / "redis").mkdir()
    redis = start_redis(workdir=str(tmp_path / "redis"), appendonly=True)
    worker = await start_worker(bot_env(slack=slack, redis_url=redis.url, model_config=None))
    slack.events_url = worker.url + "/slack/events"
    try:
        yield worker, redis
    finally:
        await worker.stop()
        redis.process.kill()
        redis.process.wait(timeout=10)
        shutil.rmtree(redis.workdir, ignore_errors=True)


def asked(worker: Worker, run: Any, approval_id: str) -> asyncio.Task[Decision]:
    state = worker.services.runs._active[run.id]
    request = ApprovalRequest(approval_id=approval_id, proposal="Draft v1", author="writer")
    return asyncio.create_task(worker.services.runs.request_approval(state, request))


async def carded(worker: Worker, approval_id: str) -> bool:
    approval = await worker.services.store.approvals.get(approval_id)
    return approval is not None and bool(approval.card_ts)


def card_posts(slack: SlackStandIn) -> int:
    return sum(card_post(call.args) for call in slack.calls("chat.postMessage"))


async def test_a_redis_restart_while_the_card_is_drawn_fails_no_run(
    slack: SlackStandIn, own: tuple[Worker, RedisServer]
) -> None:
    """Redis stops as the card is drawn (the channel looked up in Slack, then the freezes read from Redis: no blip
    retry of its own): the ask goes on once Redis is back, one card, and its approval reaches the run."""
    worker, redis = own
    run = await bench_run(worker.services, channel=SALES)
    held = slack.hold("conversations.info", when=lambda args: args.get("channel") == APPROVALS)
    asking = asked(worker, run, "restart-1")
    await asyncio.wait_for(held.arrived.wait(), timeout=20)
    redis.process.send_signal(signal.SIGKILL)
    redis.process.wait(timeout=10)
    held.release()
    await asyncio.sleep(1.5)  # the fault: Redis down for 1.5 s
    redis.process = start_redis(port=redis.port, workdir=redis.workdir, appendonly=True).process
    card = await slack.wait_for(lambda: asking.done() or next(iter(card_of(slack, pending=True)), None), timeout=30)
    assert not asking.done(), asking.exception()  # (before: ConnectionError, the run ended `failed`)
    await click(slack, card, "approval_approve", user=BOB)
    decision = await asyncio.wait_for(asking, timeout=20)
    assert (decision.outcome, decision.decided_by) == ("approved", BOB)
    assert card_posts(slack) == 1


async def test_an_ask_tried_again_posts_no_second_card(slack: SlackStandIn, own: tuple[Worker, RedisServer]) -> None:
    """The same ask again (a retry after its card was posted): it finds its approval by id and waits on its card."""
    worker, _ = own
    run = await bench_run(worker.services, channel=SALES)
    first = asked(worker, run, "again-1")
    card = await slack.wait_for(lambda: next(iter(card_of(slack, pending=True)), None), timeout=20)
    await until(lambda: carded(worker, "again-1"), what="its card noted")
    first.cancel()  # (a blip after it: the ask again)
    with contextlib.suppress(asyncio.CancelledError):
        await first
    again = asked(worker, run, "again-1")
    await until(lambda: worker.services.waiter.waiting >= 1 or again.done(), what="the ask again waiting")
    decided = await worker.services.approvals.decisions.decide(BOB, "slack", "approve", approval_id="again-1",
                                                               where=f"{APPROVALS}/{card['ts']}")
    assert decided.status == "ok"
    decision = await asyncio.wait_for(again, timeout=20)
    assert decision.outcome == "approved"
    assert card_posts(slack) == 1
    assert [c["ts"] for c in card_of(slack)] == [card["ts"]]

"""Ownership, limits and retention at the store, against a real redis-server: every owner write is fenced
by the run's epoch, admission is one atomic step, timeouts approve only what was shown, ended runs expire."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from pathlib import Path

import pytest
from agent_approvals.approver import ApprovalRequest

from bot.approvals.opening import new_approval
from bot.core.records import ChannelSettings, RunRecord
from bot.devslack.server import SlackStandIn
from bot.store import Store
from tests.conftest import APPROVALS, BOB, SALES, Worker, block_texts, bot_env, find_header, start_worker, thread_of
from tests.support.flow import pending_card, run_status, start_run
from tests.support.records import approval

ALICE = "U0ALICE"


def run(run_id: str = "rabcdefg", *, owner: str = "w1", channel: str = "C0SALES") -> RunRecord:
    return RunRecord(
        id=run_id,
        requester=ALICE,
        channel=channel,
        task="t",
        owner=owner,
        status="running",
        created_at=time.time(),
        epoch=1,
    )


async def test_taking_a_decision_marks_the_run_running_in_the_same_step_unless_it_ended(store: Store) -> None:
    """The owner's consume is one step: the decision taken once and the run "running" again (what the run's update
    did after it, one round trip later); an ended run keeps its final status; a gone approval lets the run go on."""
    owner = ("w1", 1)
    await store.runs.create(run(), max_per_user=3, max_per_channel=10)
    await store.approvals.create(approval("a-wait-0001", owner="w1"), fence=owner)
    assert await store.runs.update("rabcdefg", fence=owner, status="waiting") == "ok"
    await store.approvals.decide("a-wait-0001", outcome="revised", by="U0BOB", feedback="shorter")
    status, taken, running = await store.runs.consume("rabcdefg", "a-wait-0001", fence=owner)
    assert (status, running) == ("ok", True) and taken is not None and taken.consumed
    current = await store.runs.get("rabcdefg")
    assert current is not None and current.status == "running"
    assert await store.runs.update("rabcdefg", fence=owner, status="waiting") == "ok"
    assert await store.runs.consume("rabcdefg", "a-gone-0001", fence=owner) == ("missing", None, True)
    current = await store.runs.get("rabcdefg")
    assert current is not None and current.status == "running"
    await store.approvals.create(approval("a-late-0001", owner="w1"), fence=owner)
    await store.approvals.decide("a-late-0001", outcome="approved", by="U0BOB")
    assert await store.runs.finish(current, status="cancelled", fence=owner) == "ok"
    status, taken, running = await store.runs.consume("rabcdefg", "a-late-0001", fence=owner)
    assert (status, running) == ("ok", False) and taken is not None
    ended = await store.runs.get("rabcdefg")
    assert ended is not None and ended.status == "cancelled"


async def test_a_taken_over_run_refuses_every_write_of_its_old_owner(store: Store) -> None:
    await store.runs.create(run(), max_per_user=3, max_per_channel=10)
    old, new = ("w1", 1), ("w2", 2)
    # w1 stalled past its heartbeat (no heartbeat key): w2 takes the run over, the epoch goes up
    assert await store.runs.adopt("rabcdefg", None, from_worker="w1", to_worker="w2") == ("ok", 2)
    assert await store.approvals.create(approval("a-stale-0001"), fence=old) == "fenced"
    assert await store.approvals.get("a-stale-0001") is None  # nothing stored, so no card is posted
    assert await store.runs.update("rabcdefg", fence=old, status="waiting") == "fenced"
    assert not await store.runs.ledger_begin("rabcdefg", "tool_call:send_email:d1", {"state": "running"}, fence=old)
    assert await store.runs.finish(run(), status="failed", fence=old) == "fenced"
    # the new owner writes
    assert await store.approvals.create(approval("a-fresh-0001", owner="w2"), fence=new) == "ok"
    assert await store.approvals.create(approval("a-fresh-0001", owner="w2"), fence=new) == "exists"  # a retry
    decided = await store.approvals.decide("a-fresh-0001", outcome="approved", by="U0BOB")
    assert decided.status == "ok"
    not_theirs = await store.runs.consume("rabcdefg", "a-fresh-0001", fence=old)
    assert not_theirs == ("fenced", None, False)  # not the old owner's
    status, taken, running = await store.runs.consume("rabcdefg", "a-fresh-0001", fence=new)
    assert status == "ok" and taken is not None and taken.consumed and running
    status, again, _ = await store.runs.consume("rabcdefg", "a-fresh-0001", fence=new)  # its answer lost: asked again
    assert status == "ok" and again is not None
    assert await store.runs.ledger_begin("rabcdefg", "tool_call:send_email:d1", {"state": "running"}, fence=new)
    current = await store.runs.get("rabcdefg")
    assert current is not None and current.owner == "w2" and current.epoch == 2 and current.status == "running"
    assert await store.runs.finish(current, status="completed", fence=new) == "ok"


async def test_a_decision_made_by_the_runs_own_worker_is_taken_in_its_decide_step_while_the_fence_holds(
    store: Store,
) -> None:
    """`decide(take=(run, fence))`: the worker deciding owns the run and waits for it, so the decide step takes the
    decision as the owner's consume would, in the same step (the run running again unless it ended). Not taken: a
    fence the run no longer has (taken over meanwhile: the new owner takes it), another
    worker's approval. Taken, it is taken once: the owner's consume gets it again, anyone else's is refused."""
    owner = ("w1", 1)
    await store.runs.create(run(), max_per_user=3, max_per_channel=10)
    await store.approvals.create(approval("a-take-0001", owner="w1"), fence=owner)
    assert await store.runs.update("rabcdefg", fence=owner, status="waiting") == "ok"
    result = await store.approvals.decide("a-take-0001", outcome="revised", by="U0BOB", take=("rabcdefg", owner))
    assert result.status == "ok" and result.taken and result.running and result.approval is not None
    assert result.approval.consumed and result.approval.consumed_by == "w1:1"
    stored = await store.approvals.get("a-take-0001")
    assert stored is not None and stored.consumed and stored.consumed_by == "w1:1"
    current = await store.runs.get("rabcdefg")
    assert current is not None and current.status == "running"
    status, again, running = await store.runs.consume("rabcdefg", "a-take-0001", fence=owner)  # (an answer lost)
    assert status == "ok" and again is not None and running

    await store.approvals.create(approval("a-take-0002", owner="w9"), fence=owner)  # not the taker's approval
    other = await store.approvals.decide("a-take-0002", outcome="approved", by="U0BOB", take=("rabcdefg", owner))
    assert other.status == "ok" and not other.taken
    assert not (await store.approvals.get("a-take-0002")).consumed  # type: ignore[union-attr]

    await store.approvals.create(approval("a-take-0003", owner="w1"), fence=owner)
    assert await store.runs.update("rabcdefg", fence=owner, status="waiting") == "ok"
    assert await store.runs.adopt("rabcdefg", None, from_worker="w1", to_worker="w2") == ("ok", 2)  # w1 stalled
    stale = await store.approvals.decide("a-take-0003", outcome="approved", by="U0BOB", take=("rabcdefg", owner))
    assert stale.status == "ok" and not stale.taken and not stale.running
    assert stale.approval is not None and not stale.approval.consumed
    assert await store.runs.consume("rabcdefg", "a-take-0003", fence=owner) == ("fenced", None, False)
    status, taken, _ = await store.runs.consume("rabcdefg", "a-take-0003", fence=("w2", 2))
    assert status == "ok" and taken is not None and taken.consumed_by == "w2:2"


async def test_simultaneous_admissions_never_pass_the_limit(store: Store) -> None:
    runs = [run(f"rsim{i:04d}") for i in range(40)]
    results = await asyncio.gather(*(store.runs.create(r, max_per_user=3, max_per_channel=10) for r in runs))
    assert results.count("ok") == 3 and results.count("user_limit") == 37
    assert await store.redis.scard(f"{store.keys.prefix}:active:user:{ALICE}") == 3
    admitted = [r for r, result in zip(runs, results, strict=True) if result == "ok"]
    for admitted_run in admitted:  # each admitted run is stored whole, in the same step
        stored = await store.runs.get(admitted_run.id)
        assert stored is not None and stored.epoch == 1
        assert await store.runs.finish(stored, status="completed") == "ok"
    assert await store.runs.create(run("rnext0001"), max_per_user=3, max_per_channel=10) == "ok"


async def test_ended_runs_and_their_indexes_expire(store: Store) -> None:
    store.shared.run_retention = 3600
    old = replace(run("rold00001"), created_at=time.time() - 7200)
    await store.runs.create(old, max_per_user=3, max_per_channel=10)
    await store.approvals.create(approval("a-ret-0001", owner="w1"))
    await store.redis.sadd(f"{store.keys.run('rold00001')}:approvals", "a-ret-0001")
    await store.redis.hset(store.keys.ledger("rold00001"), "x", "{}")
    assert await store.runs.finish(old, status="completed") == "ok"
    for key in (store.keys.run("rold00001"), store.keys.run_approvals("rold00001"), store.keys.ledger("rold00001")):
        assert 0 < await store.redis.ttl(key) <= 3600
    # the channel's index drops runs older than the retention as new ones are admitted
    await store.runs.create(run("rnew00001"), max_per_user=3, max_per_channel=10)
    assert [r.id for r in await store.runs.recent("C0SALES")] == ["rnew00001"]


async def test_a_timeout_approves_only_a_shown_card_and_never_an_empty_quorum(store: Store) -> None:
    unseen = replace(approval("a-unseen-01", deadline_in=-1), timeout_outcome="approve")
    shown = replace(approval("a-shown-001", deadline_in=-1), timeout_outcome="approve")
    quorum = replace(approval("a-quorum-01", deadline_in=-1), timeout_outcome="approve", required_approvals=2)
    for record in (unseen, shown, quorum):
        await store.approvals.create(record)
    await store.approvals.attach_card("a-shown-001", channel="C0APPROVALS", ts="1.000001")
    await store.approvals.attach_card("a-quorum-01", channel="C0APPROVALS", ts="1.000002")
    results, _ = await store.approvals.time_out_due(time.time())
    outcome = {r.approval.id: r.approval for r in results if r.approval is not None}
    assert outcome["a-shown-001"].decision().approves
    for refused in ("a-unseen-01", "a-quorum-01"):
        decision = outcome[refused].decision()
        assert not decision.approves and "does not approve" in decision.feedback


def test_a_tool_call_never_times_out_approved_unless_the_channel_says_so() -> None:
    settings = ChannelSettings(timeout=60, timeout_outcome="approve")
    request = ApprovalRequest(approval_id="a-tool-0001", proposal="{}", author="drafter", kind="tool_call")

    def made(settings: ChannelSettings, request: ApprovalRequest) -> str:
        run = RunRecord(id="rabcdefg", requester=ALICE, channel="C0SALES", task="t")
        return new_approval(
            request, run=run, owner="w1", settings=settings, default_channel="C0APPROVALS"
        ).timeout_outcome

    assert made(settings, request) == "reject"
    assert made(settings, replace(request, kind="code")) == "reject"
    assert made(settings, replace(request, kind="message")) == "approve"
    assert made(replace(settings, timeout_approves_tools=True), request) == "approve"


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_run_its_own_worker_lost_track_of_is_taken_back(
    slack: SlackStandIn, redis_url: str, model_config: Path
) -> None:
    """A live run owned by a live worker that has no task for it (its end could not be written, a bug):
    that worker's own scan takes it back (a new epoch) and goes on with it, so it does not stay "running"."""
    worker = await start_worker(
        bot_env(slack=slack, redis_url=redis_url, model_config=model_config, HEARTBEAT_SECONDS="1")
    )
    slack.events_url = worker.url + "/slack/events"
    try:
        store = worker.services.store
        stranded = replace(run("rstrand01", owner=worker.services.worker_id), task="Draft a note to the team")
        assert await store.runs.create(stranded, max_per_user=3, max_per_channel=10) == "ok"
        card = await pending_card(slack)  # the run went on: its first card
        taken = await store.runs.get("rstrand01")
        assert taken is not None and taken.epoch == 2 and taken.owner == worker.services.worker_id
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        await run_status(worker, "rstrand01", wanted="completed")
    finally:
        await worker.stop()


@pytest.mark.usefixtures("no_sessions")
async def test_the_notification_text_of_a_run_end_carries_no_reviewer_text(slack: SlackStandIn, worker: Worker) -> None:
    run_id = await start_run(slack)
    card = await pending_card(slack)
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
    view = await slack.wait_for(lambda: slack.open_views(BOB) and slack.open_views(BOB)[-1])
    reason = "reject: <https://evil.example|click me> secret"
    await slack.submit_view(user=BOB, view_id=view["id"], values={"feedback": {"feedback_input": reason}})
    await run_status(worker, run_id, wanted="rejected")
    header = await slack.wait_for(lambda: find_header(slack, SALES, run_id))
    ended = await slack.wait_for(
        lambda: next((m for m in thread_of(slack, SALES, header["ts"]) if "ended" in m.get("text", "")), None)
    )
    assert ended["text"] == f"Run {run_id} ended: rejected"  # what notifications show: no untrusted text
    assert "secret" in block_texts(ended) and "<https://evil" not in block_texts(ended)  # shown inert

"""What a Revise sets off in Slack (the old card redrawn decided, "sent back for revision" in the run's thread, the
run's header) is off the agent's path: with the stand-in holding each of those calls, the agent's next card is
posted anyway; released, each lands, and the run's header ends at its newest state (a later redraw waits for the
earlier one: it never loses to it). And the run goes first: those calls are made once its next card is posted."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from bot.core.records import ApprovalRecord
from bot.devslack.server import SlackStandIn
from bot.store import DecideResult, Fence, Store, StoreUnavailable
from tests.conftest import APPROVALS, BOB, SALES, Worker, card_of, find_header, thread_of
from tests.support.flow import pending_card, start_run


@pytest.mark.usefixtures("no_sessions")
async def test_the_next_card_does_not_wait_for_the_card_thread_and_header_updates(
    slack: SlackStandIn, worker: Worker
) -> None:
    run_id = await start_run(slack)
    card = await pending_card(slack)
    header = await slack.wait_for(lambda: find_header(slack, SALES, run_id))

    def header_text() -> str:
        shown = find_header(slack, SALES, run_id)
        return str(shown.get("text", "")) if shown else ""

    def said(words: str) -> bool:
        return any(words in str(m.get("text", "")) for m in thread_of(slack, SALES, header["ts"]))

    await slack.wait_for(lambda: header_text() == f"Run {run_id}: waiting" and said("Waiting for approval"))
    waiting_lines = sum("Waiting for approval" in str(m.get("text", "")) for m in thread_of(slack, SALES, header["ts"]))

    def is_header(args: dict[str, Any]) -> bool:
        return args.get("channel") == SALES and args.get("ts") == header["ts"]

    redraws = len([c for c in slack.calls("chat.update") if is_header(c.args)])
    old_card = slack.hold("chat.update", when=lambda args: args.get("ts") == card["ts"])
    told = slack.hold("chat.postMessage", when=lambda args: args.get("thread_ts") == header["ts"])
    running = slack.hold("chat.update", when=is_header)

    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
    view = await slack.wait_for(lambda: slack.open_views(BOB) and slack.open_views(BOB)[-1])
    answer = await slack.submit_view(user=BOB, view_id=view["id"],
                                     values={"feedback": {"feedback_input": "More formal, please."}})
    assert answer.status == 200

    second = await pending_card(slack, count=2)  # posted while all three are held (they go after it: RunsFirst)
    assert second["ts"] != card["ts"]
    await slack.wait_for(lambda: all(held.arrived.is_set() for held in (old_card, told, running)))
    assert not any(held.released.is_set() for held in (old_card, told, running))
    assert old_card.args is not None and "Sent back for revision" in str(old_card.args.get("blocks"))
    assert told.args is not None and "More formal, please." in str(told.args.get("blocks"))  # the requester told
    assert running.args is not None and running.args["text"] == f"Run {run_id}: running"
    # the header's "waiting" for the next card is asked for, but waits for the held "running" before it
    assert len([c for c in slack.calls("chat.update") if is_header(c.args)]) == redraws  # none answered since
    assert header_text() == f"Run {run_id}: waiting"  # not yet redrawn at all

    running.release()
    told.release()
    old_card.release()
    await slack.wait_for(lambda: len([c for c in slack.calls("chat.update") if is_header(c.args)]) == redraws + 2)
    header_states = [c.args["text"] for c in slack.calls("chat.update") if is_header(c.args)][redraws:]
    assert header_states == [f"Run {run_id}: running", f"Run {run_id}: waiting"]  # in the order asked
    assert header_text() == f"Run {run_id}: waiting"  # the newest state is what shows
    await slack.wait_for(
        lambda: sum("Waiting for approval" in str(m.get("text", "")) for m in thread_of(slack, SALES, header["ts"]))
        == waiting_lines + 1
    )
    thread = [str(m.get("text", "")) + str(m.get("blocks")) for m in thread_of(slack, SALES, header["ts"])
              if m["ts"] not in slack.sessions.streams]  # (the session's streamed plan aside)
    told_at = max(i for i, text in enumerate(thread) if "More formal, please." in text)
    assert told_at == len(thread) - 2 and "Waiting for approval" in thread[-1]  # in the order they were asked
    old = next(m for m in card_of(slack) if m["ts"] == card["ts"])
    assert "Sent back for revision" in str(old.get("blocks"))


@pytest.mark.usefixtures("no_sessions")
async def test_the_run_a_revise_woke_goes_before_the_redraws_it_set_off(slack: SlackStandIn, worker: Worker) -> None:
    """`RunsFirst`: the woken run's next card is posted before the old card is redrawn, the requester told and the
    header redrawn (their order on a loaded machine made certain: patience far longer than the run's turn)."""
    worker.services.approvals.runs_first.patience = 60
    run_id = await start_run(slack)
    card = await pending_card(slack)
    header = await slack.wait_for(lambda: find_header(slack, SALES, run_id))
    await slack.wait_for(lambda: any("Waiting for approval" in str(m.get("text", ""))
                                     for m in thread_of(slack, SALES, header["ts"])))
    since = slack.call_count()
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
    view = await slack.wait_for(lambda: slack.open_views(BOB) and slack.open_views(BOB)[-1])
    answer = await slack.submit_view(user=BOB, view_id=view["id"],
                                     values={"feedback": {"feedback_input": "Shorter, please."}})
    assert answer.status == 200
    second = await pending_card(slack, count=2)
    await slack.wait_for(lambda: "Sent back for revision" in str(next(m for m in card_of(slack)
                                                                      if m["ts"] == card["ts"]).get("blocks")))
    await slack.wait_for(lambda: any(c.method == "chat.update" and c.args.get("ts") == header["ts"]
                                     for c in slack.calls_since(since)))
    calls = slack.calls_since(since)

    def first(match: Any) -> int:
        found = [i for i, call in enumerate(calls) if match(call)]
        assert found, [(c.method, c.args.get("channel"), c.args.get("ts"), c.args.get("thread_ts")) for c in calls]
        return found[0]

    posted = first(lambda c: c.method == "chat.postMessage" and c.args.get("channel") == APPROVALS
                   and not c.args.get("thread_ts") and "Sent back" not in str(c.args.get("blocks")))
    redrawn = first(lambda c: c.method == "chat.update" and c.args.get("ts") == card["ts"])
    told = first(lambda c: c.method == "chat.postMessage" and c.args.get("thread_ts") == header["ts"])
    running = first(lambda c: c.method == "chat.update" and c.args.get("ts") == header["ts"])
    assert second["ts"] != card["ts"]
    assert posted < min(redrawn, told, running), [(c.method, c.args.get("channel"), c.args.get("ts")) for c in calls]


def consumes_counted(worker: Worker) -> list[str]:
    """The approvals the worker's runs read through their own consume step, from now on."""
    consumed: list[str] = []
    runs = worker.services.store.runs
    consume = runs.consume

    async def counted(run_id: str, approval_id: str, *, fence: Fence) -> Any:
        consumed.append(approval_id)
        return await consume(run_id, approval_id, fence=fence)

    runs.consume = counted  # type: ignore[method-assign]
    return consumed


async def revised_once(slack: SlackStandIn, store: Store) -> tuple[str, ApprovalRecord]:
    """A run started, its first card revised with a modal's feedback, its next card posted: (run id, the first
    approval as it was when pending)."""
    run_id = await start_run(slack)
    card = await pending_card(slack)
    first = next(a for a in await store.approvals.of_run(run_id) if a.pending)
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
    view = await slack.wait_for(lambda: slack.open_views(BOB) and slack.open_views(BOB)[-1])
    answer = await slack.submit_view(user=BOB, view_id=view["id"],
                                     values={"feedback": {"feedback_input": "Shorter, please."}})
    assert answer.status == 200
    await pending_card(slack, count=2)
    return run_id, first


async def taken_here(store: Store, worker: Worker, approval_id: str) -> ApprovalRecord:
    """The approval, revised and consumed by the worker's run."""
    taken = await store.approvals.get(approval_id)
    assert taken is not None and taken.status == "revised" and taken.consumed
    assert taken.consumed_by.startswith(worker.services.worker_id + ":")
    return taken


async def test_a_decision_made_on_the_runs_own_worker_needs_no_step_of_its_own_to_be_taken(
    slack: SlackStandIn, worker: Worker, store: Store
) -> None:
    """The worker a Revise reaches owns the run: its decide step takes the decision for the run (`take`), which goes
    on with it, reading nothing (no consume step). A decision made elsewhere (another worker's decide step, heard
    through the subscription) is taken by the run's own consume step, once, as before."""
    consumed = consumes_counted(worker)
    run_id, first = await revised_once(slack, store)
    taken = await taken_here(store, worker, first.id)
    assert consumed == []

    second = next(a for a in await store.approvals.of_run(run_id) if a.pending)
    elsewhere = await store.approvals.decide(second.id, outcome="revised", by=BOB, feedback="Shorter still.")
    assert elsewhere.status == "ok" and not elsewhere.taken
    await pending_card(slack, count=3)
    assert consumed == [second.id]
    again = await store.approvals.get(second.id)
    assert again is not None and again.consumed and again.consumed_by == taken.consumed_by


async def _revise_heard_first(slack: SlackStandIn, worker: Worker, store: Store, *, then_fail: bool) -> list[str]:
    """A Revise on the run's own worker whose decide step answers only after the worker's subscription has heard
    the decision it published (the order Redis may deliver them in), then answers (or, `then_fail`, raises as if
    Redis went away after the step ran): the approvals the run's own consume step read, once the next card is
    posted."""
    consumed = consumes_counted(worker)
    waiter = worker.services.waiter
    heard: list[str] = []
    heard_one = asyncio.Event()
    hear = waiter.heard

    def noted(approval_id: str) -> None:
        heard.append(approval_id)
        heard_one.set()
        hear(approval_id)

    waiter.heard = noted  # type: ignore[method-assign]
    approvals = worker.services.store.approvals
    decide = approvals.decide

    async def answered_after_the_message(*args: Any, **kwargs: Any) -> DecideResult:
        result = await decide(*args, **kwargs)
        if result.status == "ok":
            await asyncio.wait_for(heard_one.wait(), timeout=10)
            if then_fail:
                raise StoreUnavailable("connection lost after the decide step ran")
        return result

    approvals.decide = answered_after_the_message  # type: ignore[method-assign]
    _, first = await revised_once(slack, store)
    assert heard[:1] == [first.id]  # the message came in while the step was still to answer
    await taken_here(store, worker, first.id)
    return [a for a in consumed if a == first.id]  # (the run's later steps are not this test's)


async def test_a_decision_heard_before_its_decide_step_answers_is_still_taken_by_that_step(
    slack: SlackStandIn, worker: Worker, store: Store
) -> None:
    """Redis may deliver the decision's message on the worker's subscription before the decide step's own answer:
    the message is held while the step runs (`DecisionWaiter.deciding`), so the run is woken once, by the step, with
    the decision it took, and reads nothing."""
    assert await _revise_heard_first(slack, worker, store, then_fail=False) == []


async def test_a_decide_step_that_fails_after_taking_still_lets_its_message_wake_the_run(
    slack: SlackStandIn, worker: Worker, store: Store
) -> None:
    """The step ran in Redis (the decision taken for the run) but its answer never came back: the held message wakes
    the run when the step ends, and the run's consume step reads the decision taken for it, once; nothing waits
    forever."""
    assert len(await _revise_heard_first(slack, worker, store, then_fail=True)) == 1

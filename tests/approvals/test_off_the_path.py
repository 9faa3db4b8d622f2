"""What a Revise sets off in Slack (the old card redrawn decided, "sent back for revision" in the run's thread, the
run's header) is off the agent's path: with the stand-in holding each of those calls, the agent's next card is
posted anyway; released, each lands, and the run's header ends at its newest state (a later redraw waits for the
earlier one: it never loses to it)."""

from __future__ import annotations

from typing import Any

from bot.devslack.server import SlackStandIn
from tests.conftest import APPROVALS, BOB, SALES, Worker, card_of, find_header, thread_of
from tests.support.flow import pending_card, start_run


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

    second = await pending_card(slack, count=2)  # posted while all three are still held
    assert second["ts"] != card["ts"]
    for held in (old_card, told, running):
        assert held.arrived.is_set() and not held.released.is_set()
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
    thread = [str(m.get("text", "")) + str(m.get("blocks")) for m in thread_of(slack, SALES, header["ts"])]
    told_at = max(i for i, text in enumerate(thread) if "More formal, please." in text)
    assert told_at == len(thread) - 2 and "Waiting for approval" in thread[-1]  # in the order they were asked
    old = next(m for m in card_of(slack) if m["ts"] == card["ts"])
    assert "Sent back for revision" in str(old.get("blocks"))

"""A run's agent session within Slack's limits, against the local Slack: appends batched, a stream Slack closed on
its own finished with chat.update, a workspace without sessions said once."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import pytest
from slack_sdk.models.blocks import Block
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.records import RunRecord
from bot.devslack.server import SlackStandIn
from bot.sessions.chunks import CHUNK_TEXT, TITLE_LIMIT, outcome_title, task_chunk, text_chunk
from bot.sessions.run_session import CHUNKS_PER_CALL, RunSessions
from tests.conftest import ALICE, BOT_TOKEN, SALES
from tests.support.sessions import chunk_text, sent_chunks


async def a_run(
    slack: SlackStandIn, run_id: str = "r1", *, clock: Callable[[], float] = time.monotonic
) -> tuple[RunSessions, RunRecord]:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    header = await client.chat_postMessage(channel=SALES, text="run header")
    run = RunRecord(id=run_id, requester=ALICE, channel=SALES, task="Draft <!channel> an email", header_ts=header["ts"])
    return RunSessions(client, flush_every=0, clock=clock), run


async def test_chunks_are_batched_never_one_call_each(slack: SlackStandIn) -> None:
    sessions, run = await a_run(slack)
    assert await sessions.open(run)
    for n in range(CHUNKS_PER_CALL * 2):
        sessions.add(run.id, task_chunk(f"t{n}", f"step {n}", "complete"))
    before = len(slack.calls())
    await sessions.flush(run.id)
    made = [c.method for c in slack.calls()[before:]]
    assert made == ["chat.startStream", "chat.appendStream", "chat.appendStream"]  # the plan's title, 100 tasks
    stream = slack.sessions.snapshot(SALES, run.header_ts)["streams"][0]
    assert len(stream["tasks"]) == CHUNKS_PER_CALL * 2 and stream["streaming"]
    assert stream["plan"] == "Draft &lt;!channel&gt; an email"  # untrusted text escaped, never live markup


async def test_a_stream_slack_closed_is_finished_with_chat_update(slack: SlackStandIn) -> None:
    sessions, run = await a_run(slack)
    assert await sessions.open(run)
    sessions.add(run.id, text_chunk("First turn."), task_chunk("t1", "writer: turn 1", "complete"))
    await sessions.flush(run.id)
    [first] = slack.sessions.snapshot(SALES, run.header_ts)["streams"]
    slack.sessions.streams[first["ts"]].streaming = False  # Slack ended it on its own (its timeouts)
    sessions.add(run.id, text_chunk("Second turn."))
    await sessions.flush(run.id)
    refused = [c for c in slack.calls("chat.appendStream") if not c.ok]
    assert len(refused) == 1
    [update] = slack.calls("chat.update")
    assert update.args["ts"] == first["ts"] and "First turn." in update.args["text"] and "writer: turn 1" in \
        update.args["text"]
    _old, new = slack.sessions.snapshot(SALES, run.header_ts)["streams"]
    assert new["text"] == "Second turn." and new["streaming"]  # the rest goes on in a new stream
    await sessions.close(run.id)
    assert slack.sessions.snapshot(SALES, run.header_ts)["status"] == "active"


@pytest.mark.parametrize("error", ["not_allowed", "unknown_method"])
async def test_a_workspace_without_sessions_is_said_once(slack: SlackStandIn, caplog: Any, error: str) -> None:
    slack.sessions.refused = error
    sessions, run = await a_run(slack)
    with caplog.at_level(logging.WARNING):
        assert not await sessions.open(run)
        assert not await sessions.open(run.with_(id="r2"))
    assert len(slack.calls("agents.sessions.setStatus")) == 1
    assert [r.getMessage() for r in caplog.records if "no agent sessions" in r.getMessage()] == [
        f"this workspace has no agent sessions (agents.sessions.setStatus: {error}): runs post a header and a thread"
        " instead"]
    assert not sessions.add(run.id, text_chunk("nothing"))  # no session: nothing streamed


def plan_of(slack: SlackStandIn, run: RunRecord) -> str:
    return str(slack.sessions.snapshot(SALES, run.header_ts)["streams"][-1]["plan"])


async def test_the_plans_title_follows_the_run(slack: SlackStandIn) -> None:
    """What it is doing while it works (the call in progress, else its task), "Waiting for approval" while
    suspended, a new stream starting with the title, its outcome at the end; no task left in progress."""
    sessions, run = await a_run(slack)
    assert await sessions.open(run)
    sessions.add(run.id, task_chunk("call_1", "Calling send_email", "in_progress"))
    await sessions.flush(run.id)
    assert plan_of(slack, run) == "Calling send_email"
    sessions.add(run.id, task_chunk("call_1", "send_email", "complete"),
                 task_chunk("call_2", "Calling x", "in_progress"))
    sessions.pin(run.id, "Waiting for approval")
    await sessions.stop_stream(run.id, status="suspended")
    assert plan_of(slack, run) == "Waiting for approval"
    sessions.want(run.id, "processing")
    sessions.add(run.id, text_chunk("Decided."))
    await sessions.flush(run.id)
    assert plan_of(slack, run) == "Calling x"  # the new stream (a message of its own) starts with the plan's title
    await sessions.close(run.id, title="Stopped", done=False)
    last = slack.sessions.snapshot(SALES, run.header_ts)["streams"][-1]
    assert last["plan"] == "Stopped" and {t["id"]: t["status"] for t in last["tasks"]} == {"call_2": "error"}
    assert slack.sessions.snapshot(SALES, run.header_ts)["status"] == "active"


def test_the_outcome_titles() -> None:
    done = RunRecord(id="r1", requester=ALICE, channel=SALES, task="t", status="completed", created_at=100.0)
    assert outcome_title(done, now=112.4) == "Worked for 12s"
    assert outcome_title(done, now=100 + 125) == "Worked for 2m 5s"
    assert outcome_title(done, now=100 + 3725) == "Worked for 1h 2m"  # hours, not "62m 5s"
    assert outcome_title(done, now=100 + 7205, waited=7200) == "Worked for 5s"  # the wait for people left out
    assert outcome_title(done.with_(status="failed")) == "Error"
    assert outcome_title(done.with_(status="cancelled"), stopped=True) == "Stopped"
    assert outcome_title(done.with_(status="cancelled")) == "Cancelled"


async def test_every_task_and_plan_chunk_is_within_256_characters(slack: SlackStandIn) -> None:
    """Slack's limit for a task_update or plan_update chunk: its title, details and output together (slack_sdk
    checks none): a long tool name, long output (escaped: `<` counts as `&lt;`) and a long task all fit."""
    sessions, run = await a_run(slack)
    assert await sessions.open(run.with_(task="<" * 3000))
    sessions.add(run.id, task_chunk("t1", "Calling " + "x" * 400, "in_progress"),
                 task_chunk("t1", "y" * 400, "complete", details="<&>" * 1000),
                 task_chunk("t2", "short", "complete", details="z" * 1000))
    await sessions.close(run.id)
    chunks = [c for c in sent_chunks(slack) if c["type"] in ("task_update", "plan_update")]
    assert len(chunks) >= 4 and all(chunk_text(c) <= CHUNK_TEXT for c in chunks), [chunk_text(c) for c in chunks]
    assert all(slack.calls() and c.ok for c in slack.calls())


async def test_a_tasks_details_are_sent_once(slack: SlackStandIn) -> None:
    """Slack appends an update's details to the task's earlier ones: a task's details go once, never twice."""
    sessions, run = await a_run(slack)
    assert await sessions.open(run)
    sessions.add(run.id, task_chunk("a1", "Waiting for approval", "pending", details="needs 2"))
    await sessions.flush(run.id)
    sessions.add(run.id, task_chunk("a1", "approved", "complete", details="needs 2"))
    await sessions.close(run.id)
    sent = [c for c in sent_chunks(slack) if c.get("id") == "a1"]
    assert [c.get("details") for c in sent] == ["needs 2", None]
    [task] = [t for t in slack.sessions.snapshot(SALES, run.header_ts)["streams"][0]["tasks"] if t["id"] == "a1"]
    assert task["details"] == "needs 2" and task["status"] == "complete"


def test_a_long_tool_name_keeps_the_vote_count() -> None:
    """"Waiting for approval: <tool> · 0 of 2": a tool name too long for the title is cut, the count kept whole."""
    chunk = task_chunk("a1", "Waiting for approval: " + "send_<email>_" * 40, "pending", kept=" · 0 of 2")
    assert chunk["title"].startswith("Waiting for approval: send_&lt;email&gt;_") and chunk["title"].endswith(
        "… (cut) · 0 of 2")
    assert len(chunk["title"]) <= TITLE_LIMIT
    short = task_chunk("a1", "Waiting for approval: send_email", "pending", kept=" · 1 of 2")
    assert short["title"] == "Waiting for approval: send_email · 1 of 2"


async def test_the_time_a_run_waited_for_people_is_not_work(slack: SlackStandIn) -> None:
    """A run that waited 2 hours for a decision and worked 5 seconds says "Worked for 5s": the session measures
    the time it was suspended (from its stop to the decision), a wait still going counted to now."""
    now = [1000.0]
    sessions, run = await a_run(slack, clock=lambda: now[0])
    assert await sessions.open(run)
    sessions.add(run.id, task_chunk("a1", "Waiting for approval", "pending"))
    await sessions.stop_stream(run.id, status="suspended")
    now[0] += 7200
    sessions.want(run.id, "processing")
    now[0] += 3
    assert sessions.waited(run.id) == 7200
    await sessions.stop_stream(run.id, status="suspended")
    now[0] += 60
    assert sessions.waited(run.id) == 7260
    done = run.with_(status="completed", created_at=500.0)
    assert outcome_title(done, now=500 + 7265, waited=sessions.waited(run.id)) == "Worked for 5s"


async def test_a_task_sent_again_in_a_new_message_keeps_its_details(slack: SlackStandIn) -> None:
    """A task's details go once per message: the same task in the next stream (a message of its own, after the
    session was suspended) carries them again, or that message would show it without them."""
    sessions, run = await a_run(slack)
    assert await sessions.open(run)
    sessions.add(run.id, task_chunk("a1", "Waiting for approval", "pending", details="needs 2"))
    await sessions.stop_stream(run.id, status="suspended")
    sessions.want(run.id, "processing")
    sessions.add(run.id, task_chunk("a1", "approved", "complete", details="needs 2"))
    await sessions.close(run.id)
    first, second = slack.sessions.snapshot(SALES, run.header_ts)["streams"]
    assert [t.get("details") for t in first["tasks"]] == ["needs 2"]
    [again] = [t for t in second["tasks"] if t["id"] == "a1"]
    assert again["details"] == "needs 2" and again["status"] == "complete"


async def test_a_pending_task_ends_as_an_error_even_when_the_run_completed(slack: SlackStandIn) -> None:
    """Nobody decided a task still pending when the run ended: it is an error, whatever the run's end; only work in
    progress follows the run's outcome."""
    sessions, run = await a_run(slack)
    assert await sessions.open(run)
    sessions.add(run.id, task_chunk("a1", "Waiting for approval: send_email", "pending"),
                 task_chunk("call_2", "Calling x", "in_progress"))
    await sessions.close(run.id, title="Worked for 5s", done=True)
    statuses = {t["id"]: t["status"] for t in slack.sessions.snapshot(SALES, run.header_ts)["streams"][-1]["tasks"]}
    assert statuses == {"a1": "error", "call_2": "complete"}


async def test_every_message_stopped_at_a_wait_ends_with_no_task_spinning(slack: SlackStandIn) -> None:
    """Each wait stops a stream: that message froze with "Calling send_email" in progress and its approval pending.
    When the run ends, each such message is brought to the run's end by one chat.update (its tasks' last titles
    and statuses, the plan's title the outcome, as a plan block slack_sdk knows); the last stream needs none."""
    sessions, run = await a_run(slack)
    assert await sessions.open(run)
    for n in (1, 2):
        sessions.add(run.id, task_chunk(f"call_{n}", "Calling send_email", "in_progress"),
                     task_chunk(f"a{n}", "Waiting for approval: send_email", "pending", details="needs 1"))
        sessions.pin(run.id, "Waiting for approval")
        await sessions.stop_stream(run.id, status="suspended")
        sessions.want(run.id, "processing")
        sessions.add(run.id, task_chunk(f"a{n}", "send_email: approved by bob", "complete"),
                     task_chunk(f"call_{n}", "send_email", "complete"), text_chunk(f"Sent {n}."))
    await sessions.close(run.id, title="Worked for 5s", done=True)
    streams = slack.sessions.snapshot(SALES, run.header_ts)["streams"]
    assert len(streams) == 3 and [s["updated"] for s in streams] == [True, True, False]
    first = streams[0]
    assert first["plan"] == "Worked for 5s" and first["tasks"] == [
        {"type": "task_update", "id": "call_1", "title": "send_email", "status": "complete"},
        {"type": "task_update", "id": "a1", "title": "send_email: approved by bob", "status": "complete",
         "details": "needs 1"}]
    assert all(t["status"] in ("complete", "error") for s in streams for t in s["tasks"])
    updates = slack.calls("chat.update")
    assert [u.args["ts"] for u in updates] == [streams[0]["ts"], streams[1]["ts"]] and all(u.ok for u in updates)
    for update in updates:
        assert all(Block.parse(block) is not None for block in update.args["blocks"])

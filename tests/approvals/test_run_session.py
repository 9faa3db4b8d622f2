"""A run's agent session within Slack's limits, against the local Slack: appends batched, a stream Slack closed on
its own finished with chat.update, a workspace without sessions said once."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from slack_sdk.web.async_client import AsyncWebClient

from bot.approvals.run_session import CHUNKS_PER_CALL, RunSessions, task_chunk, text_chunk
from bot.core.records import RunRecord
from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, BOT_TOKEN, SALES


async def a_run(slack: SlackStandIn, run_id: str = "r1") -> tuple[RunSessions, RunRecord]:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    header = await client.chat_postMessage(channel=SALES, text="run header")
    run = RunRecord(id=run_id, requester=ALICE, channel=SALES, task="Draft <!channel> an email", header_ts=header["ts"])
    return RunSessions(client, flush_every=0), run


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

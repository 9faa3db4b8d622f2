"""The local Slack's agent sessions refuse what Slack refuses: chunks slack_sdk's models do not know, a task status
they do not name, text over the documented limits, a stream no longer streaming, bad blocks; and deliver Stop and
a message in the Messages tab as Slack does."""

from __future__ import annotations

from typing import Any

import pytest
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.devslack.server import SlackStandIn
from tests.support.receiver import Receiver

CHANNEL = "C0SALES"


async def thread(client: AsyncWebClient) -> str:
    return str((await client.chat_postMessage(channel=CHANNEL, text="header"))["ts"])


async def refused(call: Any) -> str:
    with pytest.raises(SlackApiError) as caught:
        await call
    return str(caught.value.response["error"])


@pytest.mark.parametrize("chunk", [
    {"type": "sparkles", "text": "x"},  # a type slack_sdk does not know
    {"type": "task_update", "id": "t1", "title": "x", "status": "done"},  # a status it does not name
    {"type": "task_update", "id": "t1", "status": "complete"},  # no title: required by its model
    {"type": "markdown_text", "text": "x", "colour": "red"},  # a field its model does not have
    {"type": "markdown_text", "text": "x" * 12_001},  # over markdown_text's limit
    {"type": "task_update", "id": "t1", "title": "x", "status": "pending", "sources": [{"type": "url", "url": "u"}]},
    {"type": "blocks", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": ""}}]},  # empty text
    # Slack's 256 characters, for each of a task's title, details and output, and a plan's title
    {"type": "task_update", "id": "t1", "title": "x", "status": "pending", "details": "d" * 257},
    {"type": "task_update", "id": "t1", "title": "x", "status": "pending", "output": "o" * 257},
    {"type": "task_update", "id": "t1", "title": "t" * 257, "status": "pending"},
    {"type": "plan_update", "title": "p" * 257},
])
async def test_chunks_slack_sdk_does_not_know_are_refused(
    standin: SlackStandIn, client: AsyncWebClient, chunk: dict[str, Any]
) -> None:
    ts = await thread(client)
    assert await refused(client.chat_startStream(channel=CHANNEL, thread_ts=ts, chunks=[chunk])) == "invalid_chunks"
    assert standin.sessions.snapshot(CHANNEL, ts)["streams"] == []  # nothing changed


async def test_256_characters_in_each_field_are_taken(standin: SlackStandIn, client: AsyncWebClient) -> None:
    ts = await thread(client)
    task = {"type": "task_update", "id": "t1", "title": "t" * 256, "status": "pending", "details": "d" * 256,
            "output": "o" * 256}
    await client.chat_startStream(channel=CHANNEL, thread_ts=ts, chunks=[{"type": "plan_update", "title": "p" * 256},
                                                                          task])
    [stream] = standin.sessions.snapshot(CHANNEL, ts)["streams"]
    assert stream["plan"] == "p" * 256 and stream["tasks"] == [task]


async def test_a_stream_and_its_session(standin: SlackStandIn, client: AsyncWebClient) -> None:
    ts = await thread(client)
    await client.agents_sessions_setStatus(channel_id=CHANNEL, thread_ts=ts, status="processing", title="Task")
    started = await client.chat_startStream(channel=CHANNEL, thread_ts=ts, chunks=[
        {"type": "plan_update", "title": "The plan"}, {"type": "task_update", "id": "t1", "title": "a", "status":
                                                       "in_progress"}])
    await client.chat_appendStream(channel=CHANNEL, ts=started["ts"], chunks=[
        {"type": "markdown_text", "text": "Hello"}, {"type": "task_update", "id": "t1", "title": "a", "status":
                                                     "complete"}])
    await client.chat_stopStream(channel=CHANNEL, ts=started["ts"])
    later = client.chat_appendStream(channel=CHANNEL, ts=started["ts"], markdown_text="more")
    assert await refused(later) == "message_not_in_streaming_state"
    assert await refused(client.agents_sessions_setStatus(channel_id=CHANNEL, thread_ts=ts, status="asleep")) == \
        "invalid_arguments"
    session = standin.sessions.snapshot(CHANNEL, ts)
    assert session["status"] == "processing" and session["title"] == "Task"
    [stream] = session["streams"]
    assert stream["text"] == "Hello" and stream["plan"] == "The plan" and not stream["streaming"]
    assert stream["tasks"] == [{"type": "task_update", "id": "t1", "title": "a", "status": "complete"}]


async def test_a_workspace_without_sessions(standin: SlackStandIn, client: AsyncWebClient) -> None:
    ts = await thread(client)
    standin.sessions.refused = "not_allowed"
    status = client.agents_sessions_setStatus(channel_id=CHANNEL, thread_ts=ts, status="processing")
    assert await refused(status) == "not_allowed"
    assert await refused(client.chat_startStream(channel=CHANNEL, thread_ts=ts, markdown_text="x")) == "not_allowed"


async def test_stop_and_the_messages_tab_are_delivered(
    standin: SlackStandIn, bot: Receiver, client: AsyncWebClient
) -> None:
    ts = await thread(client)
    await client.agents_sessions_setStatus(channel_id=CHANNEL, thread_ts=ts, status="processing")
    started = await client.chat_startStream(channel=CHANNEL, thread_ts=ts, markdown_text="working")
    await standin.sessions.stop(user="U0ALICE", channel=CHANNEL, thread_ts=ts)
    await standin.sessions.message_bot(user="U0ALICE", text="Draft a note")
    stop, message = (callback["event"] for callback in bot.events[-2:])
    assert stop == {"type": "agent_session_stopped", "channel": CHANNEL, "thread_ts": ts, "user": "U0ALICE",
                    "streaming_message_ts": [started["ts"]], "event_ts": stop["event_ts"]}
    assert message["channel_type"] == "im" and message["text"] == "Draft a note"
    assert message["channel"] == standin.dm_channel("U0ALICE")
    assert await refused(client.chat_appendStream(channel=CHANNEL, ts=started["ts"], markdown_text="x")) == \
        "message_not_in_streaming_state"  # Slack stopped the streams

"""The bot's own model path against an OpenAI-compatible server (Ollama, vLLM, LiteLLM): a MODEL_CONFIG that
points AutoGen's `OpenAIChatCompletionClient` at a local server speaking OpenAI's `chat/completions` protocol
(tests/support/openai_compatible.py: tool calls, streaming and not, usage, errors), with no network.

What is real: the worker, Redis, the Slack stand-in, AutoGen's OpenAI client and the `openai` package over
HTTP. The server only answers from a script and records what it was sent."""

from __future__ import annotations

import asyncio
import json
import logging
from email import message_from_bytes
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import tiktoken.registry
from agent_approvals import ApprovalsClient
from agent_approvals.integrations.autogen.tools import require_approval
from autogen_agentchat.agents import AssistantAgent
from autogen_agentchat.messages import ModelClientStreamingChunkEvent, TextMessage, ToolCallExecutionEvent
from autogen_core import FunctionCall
from autogen_core.models import ChatCompletionClient, CreateResult, RequestUsage, UserMessage
from autogen_core.tools import FunctionTool
from redis.asyncio import Redis

from bot.devslack.server import SlackStandIn
from bot.runs.models import FallbackChatCompletionClient, load_model_client, normalize_model_config
from bot.runs.response_cache import RedisModelCache
from bot.runs.teams import EMAIL_SYSTEM_MESSAGE
from tests.conftest import APPROVALS, BOB, SALES, Worker, block_texts, card_of, find_header, texts, thread_of
from tests.support.hitl import bot, buttons, click, finished, nth_card, start, text_of, until
from tests.support.openai_compatible import DUMMY_KEY, OpenAICompatibleServer, error, openai_config, text, tool_call

pytestmark = pytest.mark.slow  # three of its five tests over 0.3 s of CPU (tests/support/slow.py)

EMAIL = {"to": "bob@example.com", "subject": "Price change", "body": "Dear Bob,\nOur prices change on May 1.\n"}
TASK = "--team email Tell bob@example.com about the price change"
SENT = "I sent Bob the email about the May 1 price change."
ASK = [UserMessage(content="Email bob@example.com", source="user")]


def outbox(tmp_path: Path) -> list[Path]:
    folder = tmp_path / "outbox"
    return sorted(folder.glob("*.eml")) if folder.exists() else []


def run_thread(slack: SlackStandIn, run_id: str) -> str:
    header = find_header(slack, SALES, run_id)
    assert header is not None
    return texts(thread_of(slack, SALES, header["ts"]))


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_a_run_sends_email_through_an_openai_compatible_server(
    slack: SlackStandIn, redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Offline, AutoGen's OpenAI client cannot count tokens for a model OpenAI does not know: tiktoken tries to
    # download its data. Make sure of it here (nothing loaded or cached, and downloads fail at once), so the run
    # below shows that the bot's path never counts tokens.
    monkeypatch.setattr(tiktoken.registry, "ENCODINGS", {})
    monkeypatch.setenv("TIKTOKEN_CACHE_DIR", str(tmp_path / "tiktoken-empty"))
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "no-such-bundle.pem"))  # only `requests` reads it
    async with OpenAICompatibleServer(tool_call("send_email", EMAIL), text(SENT)) as server:
        probe = load_model_client(openai_config(server.base_url))
        with pytest.raises(Exception):  # noqa: B017 (requests' error, whichever the machine gives)
            probe.count_tokens(ASK)
        await probe.close()

        async with bot(slack, redis_url, tmp_path, openai_config(server.base_url)) as worker:
            run_id = await start(slack, TASK)
            card = await nth_card(slack, 1)
            shown = text_of(card)
            assert "`send_email`" in shown and "drafter" in shown and "bob@example.com" in shown  # each argument
            assert "Price change" in shown and "approval_approve" in buttons(card)
            (record,) = await worker.services.store.approvals.of_run(run_id)
            assert json.loads(record.arguments) == EMAIL and not outbox(tmp_path)

            await click(slack, card, "approval_approve", user=BOB)
            (sent,) = await until(lambda: outbox(tmp_path), what="the email in the outbox")
            email = message_from_bytes(sent.read_bytes())
            assert (email["To"], email["Subject"]) == ("bob@example.com", "Price change")
            assert email.get_payload() == EMAIL["body"]
            second = await nth_card(slack, 2)  # the human's turn: the model's final answer
            assert SENT in text_of(second)
            await click(slack, second, "approval_approve", user=BOB)
            run = await finished(worker, run_id)
            assert run.status == "completed" and run.model == "llama3.1 (OpenAI)"
            await until(lambda: SENT in run_thread(slack, run_id), what="the answer in the run's thread")
            assert len(outbox(tmp_path)) == 1 and len(card_of(slack)) == 2  # the tool ran once

    first, reflection = server.completions
    assert server.requests[0].headers["Authorization"] == f"Bearer {DUMMY_KEY}"
    assert first["model"] == "llama3.1" and not first.get("stream")
    assert first["messages"][0] == {"role": "system", "content": EMAIL_SYSTEM_MESSAGE}
    assert "Tell bob@example.com about the price change" in json.dumps(first["messages"][1])
    (schema,) = first["tools"]
    assert schema["type"] == "function" and schema["function"]["name"] == "send_email"
    parameters = schema["function"]["parameters"]
    assert set(parameters["required"]) == {"to", "subject", "body"} and "pattern" in parameters["properties"]["to"]
    asked, answered = reflection["messages"][-2:]
    assert asked["role"] == "assistant" and asked["tool_calls"][0]["id"] == "call_1"
    assert json.loads(asked["tool_calls"][0]["function"]["arguments"]) == EMAIL
    assert answered["role"] == "tool" and answered["tool_call_id"] == "call_1"
    assert "Email to bob@example.com written to the outbox" in answered["content"]


async def test_usage_and_streaming_through_the_bots_model_clients(redis_url: str) -> None:
    """The clients the bot builds from MODEL_CONFIG (a fallback list, the Redis cache) report the server's usage,
    and stream its tool calls and text, as `create_stream` callers (agents with `model_client_stream`) see them."""
    async with OpenAICompatibleServer() as server:
        first, second = openai_config(server.base_url, max_retries=0), openai_config(server.base_url, model="qwen2.5")
        config = {"clients": [first, second]}
        client = load_model_client(normalize_model_config(config))
        assert isinstance(client, FallbackChatCompletionClient)
        server.add(text("Hello Bob.", prompt_tokens=12, completion_tokens=3))
        result = await client.create(ASK)
        assert result.content == "Hello Bob." and result.usage == RequestUsage(prompt_tokens=12, completion_tokens=3)

        server.add(tool_call("send_email", EMAIL, call_id="call_9", prompt_tokens=40, completion_tokens=20))
        tools = [FunctionTool(send_email_function, description="Send an email")]
        chunks = [c async for c in client.create_stream(ASK, tools=tools, extra_create_args=include_usage())]
        final = chunks[-1]
        assert isinstance(final, CreateResult) and final.finish_reason == "function_calls"
        assert final.content == [FunctionCall(id="call_9", name="send_email", arguments=json.dumps(EMAIL))]
        assert final.usage == RequestUsage(prompt_tokens=40, completion_tokens=20)
        streamed = server.completions[-1]
        assert streamed["stream"] is True and streamed["stream_options"] == {"include_usage": True}
        assert streamed["tools"][0]["function"]["name"] == "send_email_function"

        server.add(error(500, "the GPU fell over"), text("Streamed hello to Bob.", completion_tokens=6))
        chunks = [c async for c in client.create_stream(ASK, extra_create_args=include_usage())]
        *pieces, final = chunks
        assert len(pieces) > 1 and "".join(str(p) for p in pieces) == "Streamed hello to Bob."
        assert isinstance(final, CreateResult) and final.content == "Streamed hello to Bob."
        assert [b["model"] for b in server.completions[-2:]] == ["llama3.1", "qwen2.5"]  # failed, then the next
        assert client.failures == [(0, "InternalServerError")]
        assert client.total_usage() == RequestUsage(prompt_tokens=12 + 40 + 31, completion_tokens=3 + 20 + 6)

        aredis = Redis.from_url(redis_url, decode_responses=True)
        cached = load_model_client(openai_config(server.base_url), cache_store=RedisModelCache(aredis, prefix="hitl"))
        server.add(text("Once.", prompt_tokens=5, completion_tokens=1))
        for _ in range(2):
            answer = await cached.create(ASK)
            assert answer.content == "Once." and answer.usage == RequestUsage(prompt_tokens=5, completion_tokens=1)
        assert answer.cached and cached.total_usage() == RequestUsage(prompt_tokens=5, completion_tokens=1)
        await cached.close()
        await aredis.aclose()
        await client.close()


def include_usage() -> dict[str, Any]:
    return {"stream_options": {"include_usage": True}}


def send_email_function(to: str, subject: str, body: str) -> str:
    return f"sent to {to}"


async def test_an_autogen_agent_streaming_from_the_server_asks_with_its_tool_call(
    slack: SlackStandIn, emailer: tuple[Worker, str], tmp_path: Path
) -> None:
    """What users can turn on: an AutoGen agent of theirs with `model_client_stream=True` on such a server,
    its tool gated by `require_approval` through the bot's Approvals API. The bot's own teams do not stream."""
    worker, key = emailer
    sent: list[dict[str, str]] = []

    async def send_email(to: str, subject: str, body: str) -> str:
        sent.append({"to": to, "subject": subject, "body": body})
        return f"Email to {to} sent."

    answer = "Done: Bob knows about the May 1 price change."
    async with OpenAICompatibleServer(tool_call("send_email", EMAIL, call_id="call_s1"), text(answer)) as server:
        config = openai_config(server.base_url, model="mistral-nemo", stream_options={"include_usage": True})
        model = ChatCompletionClient.load_component(config)
        async with ApprovalsClient(worker.url, key, title="streaming drafter", channel=SALES) as approvals:
            tool = require_approval(FunctionTool(send_email, description="Send an email"), approvals, agent="drafter")
            agent = AssistantAgent(
                "drafter", model_client=model, tools=[tool], reflect_on_tool_use=True, model_client_stream=True
            )
            events: list[Any] = []

            async def run() -> None:
                async for event in agent.run_stream(task="Tell bob@example.com about the price change"):
                    events.append(event)

            running = asyncio.create_task(run())
            try:
                card = await nth_card(slack, 1)
                shown = block_texts(card)
                assert "`send_email`" in shown and "Price change" in shown and "bob@example.com" in shown
                assert not sent
                await click(slack, card, "approval_approve", user=BOB)
                await asyncio.wait_for(running, 20)
            finally:
                running.cancel()
        await model.close()
    assert sent == [EMAIL]
    executed = [e for e in events if isinstance(e, ToolCallExecutionEvent)]
    assert len(executed) == 1 and executed[0].content[0].content == "Email to bob@example.com sent."
    pieces = [e.content for e in events if isinstance(e, ModelClientStreamingChunkEvent)]
    assert len(pieces) > 1 and "".join(pieces) == answer
    final = [e for e in events if isinstance(e, TextMessage)][-1]
    assert final.content == answer and final.models_usage == RequestUsage(prompt_tokens=31, completion_tokens=9)
    assert all(b["stream"] is True and b["stream_options"] == {"include_usage": True} for b in server.completions)
    assert server.completions[1]["messages"][-1]["tool_call_id"] == "call_s1"


async def test_a_failing_server_falls_back_to_the_next_client(
    slack: SlackStandIn, redis_url: str, tmp_path: Path
) -> None:
    async with OpenAICompatibleServer(error(500, "model runner crashed"), text("Draft: prices change May 1.")) as srv:
        config = [
            openai_config(srv.base_url, model="llama3.1:70b", max_retries=0),
            openai_config(srv.base_url, model="llama3.1:8b"),
        ]
        async with bot(slack, redis_url, tmp_path, config) as worker:  # type: ignore[arg-type]
            run_id = await start(slack, "Draft a memo about the price change")
            card = await nth_card(slack, 1)
            assert "Draft: prices change May 1." in text_of(card)
            await click(slack, card, "approval_approve", user=BOB)
            run = await finished(worker, run_id)
            assert run.status == "completed"
            assert run.model == "llama3.1:70b (OpenAI) → llama3.1:8b (OpenAI) (fallback in this order)"
    assert [b["model"] for b in srv.completions] == ["llama3.1:70b", "llama3.1:8b"]


@pytest.mark.usefixtures("no_sessions")
async def test_a_failing_server_fails_the_run_clearly_without_leaking_the_key(
    slack: SlackStandIn, redis_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    failures = [error(500, "CUDA out of memory", code="oom") for _ in range(3)]
    async with OpenAICompatibleServer(*failures) as server:
        async with bot(slack, redis_url, tmp_path, openai_config(server.base_url)) as worker:
            run_id = await start(slack, "Draft a memo about the price change")
            run = await finished(worker, run_id, within=30)
            assert run.status == "failed"
            assert "InternalServerError" in run.reason and "CUDA out of memory" in run.reason
            thread = await until(lambda: "ended: *failed*" in run_thread(slack, run_id) and run_thread(slack, run_id))
            ended = next(line for line in thread.splitlines() if line.startswith(f"Run `{run_id}` ended: *failed*"))
            assert ended.endswith("RuntimeError: InternalServerError: Error code: 500 - CUDA out of memory")
            assert "Traceback" not in thread and 'File "' not in thread and "site-packages" not in thread
            assert not card_of(slack)  # nothing to approve
            async with aiohttp.ClientSession() as http, http.get(worker.url + "/healthz") as health:
                assert health.status == 200  # the worker goes on
    assert len(server.completions) == 3  # the client's own retries, then the error
    everything = caplog.text + json.dumps([slack.messages(c) for c in (SALES, APPROVALS)])
    assert "InternalServerError" in caplog.text and DUMMY_KEY not in everything


async def test_rate_limits_and_bad_requests_reach_the_client_as_openais_errors() -> None:
    """The server's error shapes are OpenAI's, as the `openai` package reads them: a 429 with Retry-After is
    retried by the client, a 400 is not (its message and code are the error's), no key is a 401."""
    import openai

    async with OpenAICompatibleServer() as server:
        client = load_model_client(openai_config(server.base_url, max_retries=1))
        server.add(error(429, "Rate limit reached", type="requests", code="rate_limit_exceeded", retry_after="0"))
        server.add(text("after the limit"))
        assert (await client.create(ASK)).content == "after the limit" and len(server.completions) == 2
        server.add(error(400, "context length exceeded", type="invalid_request_error", code="context_length_exceeded"))
        with pytest.raises(openai.BadRequestError) as bad:
            await client.create(ASK)
        assert bad.value.code == "context_length_exceeded" and "context length exceeded" in bad.value.message
        assert len(server.completions) == 3  # not retried
        await client.close()
        async with aiohttp.ClientSession() as http, http.post(server.base_url + "/chat/completions", json={}) as no_key:
            assert no_key.status == 401 and (await no_key.json())["error"]["code"] == "invalid_api_key"
        listed = openai.AsyncOpenAI(base_url=server.base_url, api_key=DUMMY_KEY)
        assert [m.id async for m in listed.models.list()] == ["llama3.1"]
        await listed.close()

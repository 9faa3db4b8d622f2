"""Model configuration: several clients tried in order (like `config_list`), and the response cache in
Redis (`AsyncChatCompletionCache` on the async Redis client, with autogen-ext's keys and values)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import redis as sync_redis
from autogen_core import InMemoryStore
from autogen_core.models import CreateResult, RequestUsage, UserMessage
from autogen_ext.cache_store.redis import RedisStore
from autogen_ext.models.cache import CHAT_CACHE_VALUE_TYPE, ChatCompletionCache
from autogen_ext.models.replay import ReplayChatCompletionClient
from redis.asyncio import Redis

from bot.core.settings import Settings
from bot.devslack.server import SlackStandIn
from bot.runs.caching_client import AsyncChatCompletionCache, cache_key, dump_cached, load_cached
from bot.runs.models import (
    FALLBACK_PROVIDER,
    FallbackChatCompletionClient,
    ModelConfigError,
    describe_model,
    load_model_client,
    read_model_config,
)
from bot.runs.response_cache import RedisModelCache, model_cache
from tests.conftest import BOB, bot_env, free_port
from tests.support.hitl import bot, click, finished, nth_card, replay, start, text_of

BROKEN = {"provider": "autogen_ext.models.replay.ReplayChatCompletionClient", "config": {"chat_completions": []}}
ASK = [UserMessage(content="Say hi", source="user")]


def test_model_config_lists_clients_to_try_in_order(tmp_path: Path) -> None:
    listed = tmp_path / "models.yaml"
    listed.write_text(
        "- provider: autogen_ext.models.replay.ReplayChatCompletionClient\n  config: {chat_completions: []}\n"
        "- provider: bot.runs.demo_model.DemoChatCompletionClient\n  config: {}\n"
    )
    config = read_model_config(listed)
    assert config["provider"] == FALLBACK_PROVIDER and len(config["config"]["clients"]) == 2
    assert describe_model(config).endswith("(fallback in this order)") and "demo model" in describe_model(config)
    wrapped = tmp_path / "clients.json"
    wrapped.write_text(json.dumps({"clients": [BROKEN, replay("from the second")]}))
    assert read_model_config(wrapped)["provider"] == FALLBACK_PROVIDER
    single = tmp_path / "one.json"
    single.write_text(json.dumps({"clients": [BROKEN]}))
    assert read_model_config(single) == BROKEN  # a list of one is that client
    for bad in ([], {"clients": []}, [{"config": {}}], "text"):
        (tmp_path / "bad.json").write_text(json.dumps(bad))
        with pytest.raises(ModelConfigError):
            read_model_config(tmp_path / "bad.json")


async def test_fallback_tries_the_next_client_when_one_fails() -> None:
    config = {"provider": FALLBACK_PROVIDER, "config": {"clients": [BROKEN, replay("from the second")]}}
    client = load_model_client(config)
    assert isinstance(client, FallbackChatCompletionClient)
    result = await client.create(ASK)
    assert result.content == "from the second" and client.failures == [(0, "ValueError")]
    with pytest.raises(ValueError, match="No more mock responses"):
        await client.create(ASK)  # every client failed: the last error
    streamed = load_model_client(config)
    chunks = [chunk async for chunk in streamed.create_stream(ASK)]
    assert chunks[-1].content == "from the second"  # type: ignore[union-attr]
    assert client.dump_component().provider == FALLBACK_PROVIDER  # a component like any other


async def test_a_run_falls_back_to_the_second_model(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> None:
    config = {"clients": [BROKEN, replay("Draft from the fallback model")]}
    async with bot(slack, redis_url, tmp_path, config) as worker:
        run_id = await start(slack, "Draft a memo")
        card = await nth_card(slack, 1)
        assert "Draft from the fallback model" in text_of(card)
        await click(slack, card, "approval_approve", user=BOB)
        run = await finished(worker, run_id)
        assert run.status == "completed" and "(fallback in this order)" in run.model


@pytest.fixture
async def aredis(redis_url: str) -> AsyncIterator[Redis]:
    """An async client as the worker's (decoded strings)."""
    client = Redis.from_url(redis_url, decode_responses=True)
    yield client
    await client.aclose()


def replay_client(*answers: str) -> ReplayChatCompletionClient:
    return ReplayChatCompletionClient(list(answers))


async def test_model_responses_are_cached_in_redis(redis_url: str, aredis: Redis, slack: SlackStandIn) -> None:
    settings = Settings.from_env(bot_env(slack=slack, redis_url=redis_url, model_config=None, MODEL_CACHE="true"))
    store = model_cache(settings, aredis)
    assert isinstance(store, RedisModelCache)
    assert model_cache(Settings.from_env(bot_env(slack=slack, redis_url=redis_url, model_config=None)), aredis) is None
    first = load_model_client(replay("cached answer", "second answer"), cache_store=store)
    assert isinstance(first, AsyncChatCompletionCache)
    assert (await first.create(ASK)).content == "cached answer"
    again = await first.create(ASK)  # the same request: from Redis, the model is not asked
    assert again.content == "cached answer" and again.cached
    other = load_model_client(replay("fresh client"), cache_store=store)  # another run, same cache
    hit = await other.create(ASK)
    assert hit.content == "cached answer" and hit.cached
    bye = await first.create([UserMessage(content="Say bye", source="user")])
    assert bye.content == "second answer"  # the model's second answer: the cached request did not use it up
    raw = sync_redis.Redis.from_url(redis_url)
    keys = raw.keys("hitl:modelcache:*")
    assert len(keys) == 2 and all(0 < raw.ttl(key) <= 7 * 86400 for key in keys)  # prefixed, and they expire
    raw.close()


async def test_a_worker_with_model_cache_keeps_answers_in_redis(
    slack: SlackStandIn, redis_url: str, aredis: Redis, tmp_path: Path
) -> None:
    async with bot(slack, redis_url, tmp_path, replay("Draft to keep"), MODEL_CACHE="true") as worker:
        run_id = await start(slack, "Draft a memo")
        card = await nth_card(slack, 1)
        assert "Draft to keep" in text_of(card)
        assert len(await aredis.keys("hitl:modelcache:*")) == 1
        await click(slack, card, "approval_approve", user=BOB)
        assert (await finished(worker, run_id)).status == "completed"


async def test_streamed_responses_are_cached_and_streamed_again(aredis: Redis) -> None:
    store = RedisModelCache(aredis, prefix="hitl")
    model = replay_client("streamed answer")
    client = AsyncChatCompletionCache(model, store)
    chunks = [chunk async for chunk in client.create_stream(ASK)]
    assert isinstance(chunks[-1], CreateResult) and chunks[-1].content == "streamed answer"
    again = [chunk async for chunk in client.create_stream(ASK)]  # the replay client has no answer left
    assert [c for c in again if isinstance(c, str)] == [c for c in chunks if isinstance(c, str)]
    assert isinstance(again[-1], CreateResult) and again[-1].cached and again[-1].content == "streamed answer"
    created = await client.create(ASK)  # `create` answers from a cached stream: its final result
    assert created.cached and created.content == "streamed answer"
    fresh = AsyncChatCompletionCache(replay_client("created answer"), store)
    question = [UserMessage(content="Stream what create said", source="user")]
    assert (await fresh.create(question)).content == "created answer"
    replayed = [chunk async for chunk in fresh.create_stream(question)]  # a cached `create`, streamed
    assert replayed[0] == "created answer" and isinstance(replayed[-1], CreateResult) and replayed[-1].cached


@pytest.mark.slow
async def test_a_model_call_never_fails_or_waits_because_of_redis() -> None:
    refused = Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_connect_timeout=0.5)
    client = AsyncChatCompletionCache(replay_client("one", "two"), RedisModelCache(refused, prefix="hitl"))
    assert (await client.create(ASK)).content == "one"  # Redis down: the model is asked, every time
    assert (await client.create(ASK)).content == "two"
    await refused.aclose()

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read()  # accepts, never answers: a frozen Redis
        writer.close()

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    frozen = Redis(host="127.0.0.1", port=port)
    client = AsyncChatCompletionCache(replay_client("answer"), RedisModelCache(frozen, prefix="hitl", timeout=0.3))
    answer = await asyncio.wait_for(client.create(ASK), 60)  # two time limits (lookup, keeping it), not a hang
    assert answer.content == "answer"
    await frozen.aclose()
    server.close()
    await server.wait_closed()


class BrokenStore:
    async def get(self, key: str) -> CHAT_CACHE_VALUE_TYPE | None:
        raise RuntimeError("store is broken")

    async def set(self, key: str, value: CHAT_CACHE_VALUE_TYPE) -> None:
        raise RuntimeError("store is broken")


async def test_a_failing_store_is_a_cache_miss() -> None:
    client = AsyncChatCompletionCache(replay_client("answer"), BrokenStore())
    assert (await client.create(ASK)).content == "answer"
    streamed = AsyncChatCompletionCache(replay_client("streamed"), BrokenStore())
    assert [c async for c in streamed.create_stream(ASK)][-1].content == "streamed"  # type: ignore[union-attr]


async def test_cache_keys_and_values_are_autogen_exts(redis_url: str, aredis: Redis) -> None:
    """The same key as `ChatCompletionCache`, and values `RedisStore` wrote read back (and the other way)."""
    theirs = InMemoryStore[CHAT_CACHE_VALUE_TYPE]()
    await ChatCompletionCache(replay_client("x"), theirs).create(ASK, extra_create_args={"temperature": 0})
    assert list(theirs.store) == [cache_key(ASK, [], None, {"temperature": 0})]
    result = CreateResult(
        finish_reason="stop",
        content="from autogen-ext",
        usage=RequestUsage(prompt_tokens=1, completion_tokens=2),
        cached=False,
    )
    sync_client = sync_redis.Redis.from_url(redis_url)
    key = cache_key(ASK, [], None, {})
    RedisStore[CHAT_CACHE_VALUE_TYPE](sync_client).set(f"hitl:modelcache:{key}", result)
    hit = await AsyncChatCompletionCache(replay_client(), RedisModelCache(aredis, prefix="hitl")).create(ASK)
    assert hit.content == "from autogen-ext" and hit.cached
    stream: list[str | CreateResult] = ["from ", "autogen-ext", result]
    assert load_cached(dump_cached(stream)) == stream and load_cached(dump_cached(result)) == result
    RedisStore[CHAT_CACHE_VALUE_TYPE](sync_client).set("streamed", stream)
    assert load_cached(sync_client.get("streamed") or b"") == stream
    sync_client.close()
    for junk in ("not json", "[1, 2]", "3", '{"content": "no finish reason"}'):
        assert load_cached(junk) is None

"""Model configuration: several clients tried in order (like `config_list`), and the response cache in
Redis (autogen-ext's `ChatCompletionCache` with a `RedisStore`)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import redis as sync_redis
from autogen_core.models import UserMessage

from agents.models import (
    FALLBACK_PROVIDER,
    FallbackChatCompletionClient,
    ModelConfigError,
    describe_model,
    load_model_client,
    read_model_config,
)
from bot.devslack.server import SlackStandIn
from bot.library import RedisModelCache, model_cache
from bot.settings import Settings
from tests.conftest import BOB, bot_env
from tests.hitl import bot, click, finished, nth_card, replay, start, text_of

BROKEN = {"provider": "autogen_ext.models.replay.ReplayChatCompletionClient", "config": {"chat_completions": []}}
ASK = [UserMessage(content="Say hi", source="user")]


def test_model_config_lists_clients_to_try_in_order(tmp_path: Path) -> None:
    listed = tmp_path / "models.yaml"
    listed.write_text(
        "- provider: autogen_ext.models.replay.ReplayChatCompletionClient\n  config: {chat_completions: []}\n"
        "- provider: agents.demo_model.DemoChatCompletionClient\n  config: {}\n"
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


async def test_model_responses_are_cached_in_redis(redis_url: str, slack: SlackStandIn, tmp_path: Path) -> None:
    settings = Settings.from_env(bot_env(slack=slack, redis_url=redis_url, model_config=None, MODEL_CACHE="true"))
    store = model_cache(settings)
    assert isinstance(store, RedisModelCache)
    assert model_cache(Settings.from_env(bot_env(slack=slack, redis_url=redis_url, model_config=None))) is None
    first = load_model_client(replay("cached answer", "second answer"), cache_store=store)
    assert (await first.create(ASK)).content == "cached answer"
    again = await first.create(ASK)  # the same request: from Redis, the model is not asked
    assert again.content == "cached answer" and again.cached
    other = load_model_client(replay("fresh client"), cache_store=store)  # another run, same cache
    hit = await other.create(ASK)
    assert hit.content == "cached answer" and hit.cached
    raw = sync_redis.Redis.from_url(redis_url)
    keys = raw.keys("hitl:modelcache:*")
    assert len(keys) == 1 and 0 < raw.ttl(keys[0]) <= 7 * 86400  # prefixed, and they expire
    raw.close()

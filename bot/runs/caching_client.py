"""The model response cache: `AsyncChatCompletionCache` wraps any model client and keeps its answers in an
`AsyncCacheStore` (the bot gives it one on its async Redis client). Keys and stored values are the same
as autogen-ext's `ChatCompletionCache`; a store that fails is a cache miss, never a failed model call.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Protocol

from autogen_core.models import ChatCompletionClient, CreateResult, LLMMessage
from autogen_core.tools import Tool, ToolSchema
from autogen_ext.models.cache import CHAT_CACHE_VALUE_TYPE
from pydantic import BaseModel, ValidationError

from bot.runs.model_call import ModelCall, WrappingClient

log = logging.getLogger(__name__)


class AsyncCacheStore(Protocol):
    """Where `AsyncChatCompletionCache` keeps responses: what `create` returned (a `CreateResult`) or
    what `create_stream` yielded (its text chunks, then the `CreateResult`).

    A store that cannot answer should say it has nothing (`get` returns None) and drop what it cannot
    keep, rather than raise; the cache treats an error as a miss all the same. A store that keeps text
    can use `dump_cached` and `load_cached`.
    """

    async def get(self, key: str) -> CHAT_CACHE_VALUE_TYPE | None: ...

    async def set(self, key: str, value: CHAT_CACHE_VALUE_TYPE) -> None: ...


def cache_key(
    messages: Sequence[LLMMessage],
    tools: Sequence[Tool | ToolSchema],
    json_output: bool | type[BaseModel] | None,
    extra_create_args: Mapping[str, Any],
) -> str:
    """The key of a request: the one autogen-ext's `ChatCompletionCache` computes (sha256 of the
    request's JSON), so both caches find each other's entries in a shared store."""
    json_output_data: str | bool | None = None
    if isinstance(json_output, type) and issubclass(json_output, BaseModel):
        json_output_data = json.dumps(json_output.model_json_schema())
    elif isinstance(json_output, bool):
        json_output_data = json_output
    data = {
        "messages": [message.model_dump() for message in messages],
        "tools": [(tool.schema if isinstance(tool, Tool) else tool) for tool in tools],
        "json_output": json_output_data,
        "extra_create_args": extra_create_args,
    }
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def dump_cached(value: CHAT_CACHE_VALUE_TYPE) -> str:
    """A cached response as JSON text, as autogen-ext's `RedisStore` stores it: a `CreateResult` as its
    JSON, a stream as a JSON list of its text chunks and its `CreateResult`."""
    if isinstance(value, CreateResult):
        return value.model_dump_json()
    return json.dumps([item.model_dump(mode="json") if isinstance(item, CreateResult) else item for item in value])


def load_cached(text: str | bytes) -> CHAT_CACHE_VALUE_TYPE | None:
    """What `dump_cached` made, or None for anything else (read as a cache miss)."""
    try:
        data = json.loads(text)
        if isinstance(data, dict):
            return CreateResult.model_validate(data)
        if isinstance(data, list):
            items: list[str | CreateResult] = []
            for item in data:
                if isinstance(item, dict):
                    items.append(CreateResult.model_validate(item))
                elif isinstance(item, str):
                    items.append(item)
                else:
                    return None
            return items
    except (ValueError, ValidationError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        return None
    return None


class AsyncChatCompletionCache(WrappingClient):
    """autogen-ext's `ChatCompletionCache` for a store that is awaited (`AsyncCacheStore`), so a network
    cache never blocks the event loop: the same keys, the same stored values and the same answers.

    A cached answer has `cached=True`; a streamed one is streamed again as it was. A store that fails
    is a cache miss: the model is asked, and its answer is returned even if it cannot be stored.
    Usage counts the wrapped client's calls only (cache hits cost nothing).
    """

    def __init__(self, client: ChatCompletionClient, store: AsyncCacheStore) -> None:
        self.client = client
        self.store = store

    async def _lookup(self, key: str) -> CHAT_CACHE_VALUE_TYPE | None:
        try:
            found = await self.store.get(key)
        except Exception as exc:
            log.warning("model cache lookup failed (%s); asking the model", type(exc).__name__)
            return None
        if isinstance(found, CreateResult):
            return found.model_copy(update={"cached": True})
        if isinstance(found, list) and all(isinstance(item, str | CreateResult) for item in found):
            return [
                item.model_copy(update={"cached": True}) if isinstance(item, CreateResult) else item for item in found
            ]
        return None

    async def _keep(self, key: str, value: CHAT_CACHE_VALUE_TYPE) -> None:
        try:
            await self.store.set(key, value)
        except Exception as exc:
            log.warning("model cache could not keep a response (%s)", type(exc).__name__)

    async def answer(self, call: ModelCall) -> CreateResult:
        key = cache_key(call.messages, call.tools, call.json_output, call.extra_create_args)
        found = await self._lookup(key)
        if isinstance(found, CreateResult):
            return found
        if found is not None:  # a streamed answer: its final result
            for item in reversed(found):
                if isinstance(item, CreateResult):
                    return item
        result = await call.create(self.client)
        await self._keep(key, result)
        return result

    async def answer_stream(self, call: ModelCall) -> AsyncGenerator[str | CreateResult, None]:
        key = cache_key(call.messages, call.tools, call.json_output, call.extra_create_args)
        found = await self._lookup(key)
        if isinstance(found, CreateResult):  # answered by `create`: its text as one chunk, then the result
            if isinstance(found.content, str) and found.content:
                yield found.content
            yield found
            return
        if found is not None:
            for item in found:
                yield item
            return
        streamed: list[str | CreateResult] = []
        async for item in call.stream(self.client):
            streamed.append(item)
            yield item
        await self._keep(key, streamed)  # only a stream that ended is kept

    @property
    def wrapped(self) -> Sequence[ChatCompletionClient]:
        return [self.client]

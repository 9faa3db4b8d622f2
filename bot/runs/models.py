"""Model clients: from an AutoGen component config (JSON or YAML), an OpenAI key, or the demo model.

A new client is built for every run (clients such as the replay client carry state), always
through `ChatCompletionClient.load_component`, so any AutoGen model client works.

`MODEL_CONFIG` may also list several clients to try in order when one fails (like the classic
`llm_config` `config_list`): a YAML/JSON list of component configs, or `{"clients": [...]}`. They
become one `FallbackChatCompletionClient`. Responses can be cached (`AsyncChatCompletionCache`) in
any `AsyncCacheStore` the caller passes in (the bot passes one on its async Redis client).
"""

from __future__ import annotations

import json
import logging
from collections.abc import AsyncGenerator, Mapping, Sequence
from pathlib import Path
from typing import Any, Self

import yaml
from autogen_core import Component, ComponentModel
from autogen_core.models import ChatCompletionClient, CreateResult
from pydantic import BaseModel

from bot.runs.caching_client import AsyncCacheStore, AsyncChatCompletionCache
from bot.runs.demo_model import DEMO_PROVIDER
from bot.runs.model_call import ModelCall, WrappingClient

log = logging.getLogger(__name__)

OPENAI_PROVIDER = "autogen_ext.models.openai.OpenAIChatCompletionClient"
FALLBACK_PROVIDER = "bot.runs.models.FallbackChatCompletionClient"
DEFAULT_OPENAI_MODEL = "gpt-4o-mini"


class ModelConfigError(ValueError):
    """The model configuration cannot be read or is not a component config."""


def read_model_config(path: str | Path) -> dict[str, Any]:
    """Read a `ChatCompletionClient` component config from a JSON or YAML file."""
    source = Path(path)
    try:
        text = source.read_text(encoding="utf-8")
    except OSError as exc:
        raise ModelConfigError(f"cannot read MODEL_CONFIG {source}: {exc.strerror}") from None
    try:
        data = json.loads(text) if source.suffix == ".json" else yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise ModelConfigError(f"MODEL_CONFIG {source} is not valid JSON/YAML: {exc}") from None
    return normalize_model_config(data, where=f"MODEL_CONFIG {source}")


def normalize_model_config(data: Any, *, where: str = "the model config") -> dict[str, Any]:
    """One component config from what a config file holds: a component config, a list of them to
    try in order, or `{"clients": [...]}` (a list of one is just that client)."""
    if isinstance(data, dict) and "provider" not in data and "clients" in data:
        data = data["clients"]
    if isinstance(data, list):
        if not data:
            raise ModelConfigError(f"{where} lists no clients")
        clients = [normalize_model_config(item, where=f"{where} (client {n})") for n, item in enumerate(data, 1)]
        if len(clients) == 1:
            return clients[0]
        return {"provider": FALLBACK_PROVIDER, "config": {"clients": clients}}
    if not isinstance(data, dict) or "provider" not in data:
        raise ModelConfigError(
            f"{where} must be a component config with a 'provider' key, a list of them, or {{clients: [...]}}"
        )
    return data


def resolve_model_config(*, model_config_path: str | None, openai_api_key: str | None) -> dict[str, Any]:
    """The component config to use: MODEL_CONFIG, else OpenAI when a key is set, else the demo model.

    The API key itself is never copied into the config: the OpenAI client reads `OPENAI_API_KEY`
    from the environment, so the config can be logged or shown safely.
    """
    if model_config_path:
        return read_model_config(model_config_path)
    if openai_api_key:
        return {"provider": OPENAI_PROVIDER, "config": {"model": DEFAULT_OPENAI_MODEL}}
    return {"provider": DEMO_PROVIDER, "config": {}}


def load_model_client(config: Mapping[str, Any], *, cache_store: AsyncCacheStore | None = None) -> ChatCompletionClient:
    """A fresh client from a component config; with `cache_store`, its responses are cached there
    (`AsyncChatCompletionCache`: the same request again is answered from the store)."""
    try:
        client = ChatCompletionClient.load_component(dict(config))
    except Exception as exc:
        raise ModelConfigError(f"cannot load model client {config.get('provider')!r}: {exc}") from exc
    return AsyncChatCompletionCache(client, cache_store) if cache_store is not None else client


def describe_model(config: Mapping[str, Any]) -> str:
    """A short, secret-free label for a config, for run headers: "demo model", "gpt-4o (OpenAI)"."""
    provider = str(config.get("provider", "?"))
    if provider == DEMO_PROVIDER:
        return "demo model (offline, not an LLM)"
    if provider == FALLBACK_PROVIDER:
        inner_clients = (config.get("config") or {}).get("clients") or []
        labels = [describe_model(c) for c in inner_clients if isinstance(c, Mapping)]
        return " → ".join(labels) + " (fallback in this order)" if labels else "fallback"
    inner = config.get("config")
    model = inner.get("model") if isinstance(inner, Mapping) else None
    kind = provider.rsplit(".", 1)[-1].replace("ChatCompletionClient", "") or provider
    return f"{model} ({kind})" if model else kind


class FallbackChatCompletionClientConfig(BaseModel):
    """Clients to try in order (component configs)."""

    clients: list[ComponentModel]


class FallbackChatCompletionClient(WrappingClient, Component[FallbackChatCompletionClientConfig]):
    """Tries its clients in order: when one raises (rate limit, timeout, outage, bad key), the next
    gets the same request. The first that answers wins; if all fail, the last error is raised.

    A stream falls back only until its first chunk: after that, an error is the caller's.
    `model_info` is the first client's (the agents are built for it).
    """

    component_type = "model"
    component_provider_override = FALLBACK_PROVIDER
    component_config_schema = FallbackChatCompletionClientConfig

    def __init__(self, clients: Sequence[ChatCompletionClient]) -> None:
        if not clients:
            raise ValueError("FallbackChatCompletionClient needs at least one client")
        self._clients = list(clients)
        self.failures: list[tuple[int, str]] = []  # (client index, error type) of each failed attempt

    def _failed(self, index: int, exc: Exception) -> None:
        self.failures.append((index, type(exc).__name__))
        log.warning(
            "model client %d of %d failed (%s); trying the next", index + 1, len(self._clients), type(exc).__name__
        )

    async def answer(self, call: ModelCall) -> CreateResult:
        last: Exception | None = None
        for index, client in enumerate(self._clients):
            try:
                return await call.create(client)
            except Exception as exc:
                last = exc
                if index + 1 < len(self._clients):
                    self._failed(index, exc)
        assert last is not None
        raise last

    async def answer_stream(self, call: ModelCall) -> AsyncGenerator[str | CreateResult, None]:
        for index, client in enumerate(self._clients):
            started = False
            try:
                async for chunk in call.stream(client):
                    started = True
                    yield chunk
                return
            except Exception as exc:
                if started or index + 1 == len(self._clients):
                    raise
                self._failed(index, exc)

    @property
    def wrapped(self) -> Sequence[ChatCompletionClient]:
        return self._clients

    def _to_config(self) -> FallbackChatCompletionClientConfig:
        return FallbackChatCompletionClientConfig(clients=[c.dump_component() for c in self._clients])

    @classmethod
    def _from_config(cls, config: FallbackChatCompletionClientConfig) -> Self:
        return cls([ChatCompletionClient.load_component(c) for c in config.clients])


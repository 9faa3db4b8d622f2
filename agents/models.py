"""Model clients: from an AutoGen component config (JSON or YAML), an OpenAI key, or the demo model.

A new client is built for every run (clients such as the replay client carry state), always
through `ChatCompletionClient.load_component`, so any AutoGen model client works.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from autogen_core.models import ChatCompletionClient

from agents.demo_model import DEMO_PROVIDER

OPENAI_PROVIDER = "autogen_ext.models.openai.OpenAIChatCompletionClient"
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
    if not isinstance(data, dict) or "provider" not in data:
        raise ModelConfigError(f"MODEL_CONFIG {source} must be a component config with a 'provider' key")
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


def load_model_client(config: Mapping[str, Any]) -> ChatCompletionClient:
    """A fresh client from a component config."""
    try:
        return ChatCompletionClient.load_component(dict(config))
    except Exception as exc:
        raise ModelConfigError(f"cannot load model client {config.get('provider')!r}: {exc}") from exc


def describe_model(config: Mapping[str, Any]) -> str:
    """A short, secret-free label for a config, for run headers: "demo model", "gpt-4o (OpenAI)"."""
    provider = str(config.get("provider", "?"))
    if provider == DEMO_PROVIDER:
        return "demo model (offline, not an LLM)"
    inner = config.get("config")
    model = inner.get("model") if isinstance(inner, Mapping) else None
    kind = provider.rsplit(".", 1)[-1].replace("ChatCompletionClient", "") or provider
    return f"{model} ({kind})" if model else kind

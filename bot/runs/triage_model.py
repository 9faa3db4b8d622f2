"""The triage model's port (bot/approvals/triage.py, `TriageModel`) on MODEL_CONFIG's models: the model a policy's
`@triage("name")` names is the client of MODEL_CONFIG whose `model` it is (one of a fallback list too), asked with
AutoGen's client (an OpenAI-compatible endpoint: Ollama, vLLM, LiteLLM, OpenAI) for one answer in the JSON schema of
`TriageAnswer` (`response_format` `json_schema`, strict). Its clients are loaded once each, as the worker starts.

    model_names(config)        the models MODEL_CONFIG names (what a bundle's @triage is checked against)
    ModelTriage(config)        the port: `await triage(model=, system=, asked=)` -> the answer's text
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Final

from autogen_core.models import ChatCompletionClient, SystemMessage, UserMessage

from bot.approvals import TriageAnswer
from bot.runs.models import FALLBACK_PROVIDER, ModelConfigError, load_model_client

log = logging.getLogger(__name__)

RESPONSE_FORMAT: Final = {"type": "json_schema",
                          "json_schema": {"name": "triage", "strict": True, "schema": TriageAnswer.model_json_schema()}}


def model_configs(config: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Each client config of MODEL_CONFIG (one, or a fallback list's) by its `model` (the first of a name wins)."""
    inner = config.get("config")
    if config.get("provider") == FALLBACK_PROVIDER and isinstance(inner, Mapping):
        found: dict[str, dict[str, Any]] = {}
        for client in inner.get("clients") or ():
            if isinstance(client, Mapping):
                found = {**model_configs(client), **found}
        return found
    model = inner.get("model") if isinstance(inner, Mapping) else None
    return {model: dict(config)} if isinstance(model, str) and model else {}


def model_names(config: Mapping[str, Any]) -> frozenset[str]:
    """The models MODEL_CONFIG names, by their `model`."""
    return frozenset(model_configs(config))


class ModelTriage:
    """The triage model's port (the module docstring)."""

    def __init__(self, config: Mapping[str, Any]) -> None:
        # loaded now, at the worker's start: a first ask's TRIAGE_TIMEOUT is the model's, not the client's imports; one
        # that does not load is logged and left out (its asks then go to people: the call fails closed)
        self._clients: dict[str, ChatCompletionClient] = {}
        for name, each in model_configs(config).items():
            try:
                self._clients[name] = load_model_client(each)
            except ModelConfigError as exc:
                log.warning("the triage model %s cannot be loaded (%s): asks it would read go to people", name, exc)

    async def __call__(self, *, model: str, system: str, asked: str) -> str:
        client = self._clients.get(model)
        if client is None:
            raise LookupError(f"MODEL_CONFIG names no model {model!r}")
        result = await client.create([SystemMessage(content=system), UserMessage(content=asked, source="approvals")],
                                     extra_create_args={"response_format": RESPONSE_FORMAT})
        return result.content if isinstance(result.content, str) else ""

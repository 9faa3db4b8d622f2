"""The triage model's port on MODEL_CONFIG (#92): the models a bundle's @triage may name (one client, or each of a
fallback list, by its `model`), and a model that cannot be loaded left out (its asks fail closed, to people)."""

from __future__ import annotations

import pytest

from bot.runs.models import normalize_model_config
from bot.runs.triage_model import ModelTriage, model_names
from tests.support.openai_compatible import openai_config


def test_the_models_a_triage_may_name_are_model_configs_own() -> None:
    one = openai_config("http://127.0.0.1:9/v1", model="llama3.1")
    assert model_names(one) == {"llama3.1"}
    chain = normalize_model_config([one, openai_config("http://127.0.0.1:9/v1", model="qwen2.5"),
                                    {"provider": "bot.runs.demo_model.DemoChatCompletionClient", "config": {}}])
    assert model_names(chain) == {"llama3.1", "qwen2.5"}
    assert model_names({"provider": "bot.runs.demo_model.DemoChatCompletionClient", "config": {}}) == frozenset()


async def test_a_model_that_does_not_load_fails_closed() -> None:
    triage = ModelTriage({"provider": "no.such.Client", "config": {"model": "ghost"}})  # logged, left out
    with pytest.raises(LookupError, match="MODEL_CONFIG names no model 'ghost'"):
        await triage(model="ghost", system="s", asked="{}")

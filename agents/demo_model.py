"""An offline, deterministic model for trying the product without an API key.

It is a real AutoGen `ChatCompletionClient` (loadable as a component config), so teams run
exactly as they would with an LLM. It drafts from the task and visibly applies every piece of
reviewer feedback it has been given. It is not an LLM, and the run header says so.

Component config::

    {"provider": "agents.demo_model.DemoChatCompletionClient", "config": {}}
"""

from __future__ import annotations

import re
from collections.abc import AsyncGenerator, Mapping, Sequence
from typing import Any, Literal, Self

from autogen_core import CancellationToken, Component
from autogen_core.models import (
    AssistantMessage,
    ChatCompletionClient,
    CreateResult,
    LLMMessage,
    ModelFamily,
    ModelInfo,
    RequestUsage,
    UserMessage,
)
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

DEMO_PROVIDER = "agents.demo_model.DemoChatCompletionClient"
_VERDICTS = ("APPROVE", "REJECT")


class DemoChatCompletionClientConfig(BaseModel):
    """Configuration of the demo model (it has no knobs besides a signature line)."""

    signature: str = "The team"


class DemoChatCompletionClient(ChatCompletionClient, Component[DemoChatCompletionClientConfig]):
    """A deterministic stand-in for an LLM: drafts from the task, applies feedback."""

    component_type = "model"
    component_provider_override = DEMO_PROVIDER
    component_config_schema = DemoChatCompletionClientConfig

    def __init__(self, signature: str = "The team") -> None:
        self._signature = signature
        self._usage = RequestUsage(prompt_tokens=0, completion_tokens=0)
        self._total = RequestUsage(prompt_tokens=0, completion_tokens=0)

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        text = draft(messages, signature=self._signature)
        prompt_tokens = sum(len(str(m.content).split()) for m in messages if hasattr(m, "content"))
        self._usage = RequestUsage(prompt_tokens=prompt_tokens, completion_tokens=len(text.split()))
        self._total = RequestUsage(
            prompt_tokens=self._total.prompt_tokens + self._usage.prompt_tokens,
            completion_tokens=self._total.completion_tokens + self._usage.completion_tokens,
        )
        return CreateResult(finish_reason="stop", content=text, usage=self._usage, cached=False)

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: Tool | Literal["auto", "required", "none"] = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        yield await self.create(messages, tools=tools, cancellation_token=cancellation_token)

    async def close(self) -> None:
        return None

    def actual_usage(self) -> RequestUsage:
        return self._usage

    def total_usage(self) -> RequestUsage:
        return self._total

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return sum(len(str(m.content).split()) for m in messages if hasattr(m, "content"))

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return max(0, 100_000 - self.count_tokens(messages))

    @property
    def capabilities(self) -> Any:  # deprecated in autogen-core, still abstract there
        return self.model_info

    @property
    def model_info(self) -> ModelInfo:
        return ModelInfo(
            vision=False, function_calling=False, json_output=False, family=ModelFamily.UNKNOWN, structured_output=False
        )

    def _to_config(self) -> DemoChatCompletionClientConfig:
        return DemoChatCompletionClientConfig(signature=self._signature)

    @classmethod
    def _from_config(cls, config: DemoChatCompletionClientConfig) -> Self:
        return cls(signature=config.signature)


def draft(messages: Sequence[LLMMessage], *, signature: str = "The team") -> str:
    """The demo model's answer: a draft for the task with every piece of feedback applied."""
    user_texts = [str(m.content) for m in messages if isinstance(m, UserMessage)]
    task = user_texts[0].strip() if user_texts else "the task"
    feedback = [t.strip() for t in user_texts[1:] if t.strip() and t.split(maxsplit=1)[0].rstrip(":") not in _VERDICTS]
    version = 1 + sum(1 for m in messages if isinstance(m, AssistantMessage))
    subject = _subject(task)
    topic = re.split(r"\babout\b|\bregarding\b", task, maxsplit=1, flags=re.IGNORECASE)
    about = (topic[1] if len(topic) > 1 else subject).strip().rstrip(".")
    greeting = "Hello,"
    body = [
        f"We are writing to you about {about[:1].lower() + about[1:]}.",
        "We value working with you and want to keep you informed well ahead of any change.",
        "Please reply to this message if you have any questions.",
    ]
    for note in feedback:
        lowered = note.lower()
        if "formal" in lowered:
            greeting = "Dear valued partner,"
        if "short" in lowered and len(body) > 1:
            body = body[:1]
        if "friendly" in lowered or "warm" in lowered:
            body.insert(0, "I hope this finds you well!")
    lines = [f"Subject: {subject}", "", greeting, "", *body, "", "Best regards,", signature]
    if feedback:
        lines += ["", f"(Draft v{version}: revised for feedback: " + "; ".join(f"“{n}”" for n in feedback) + ")"]
    return "\n".join(lines)


def _subject(task: str) -> str:
    words = re.sub(r"\s+", " ", task).strip().rstrip(".").split(" ")
    for lead in ("draft", "write", "compose", "prepare"):
        if words and words[0].lower() == lead:
            words = words[1:]
            break
    subject = " ".join(words[:14]) or "Update"
    return subject[:1].upper() + subject[1:]

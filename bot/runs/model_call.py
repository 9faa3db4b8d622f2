"""One request to a model client as a value (`ModelCall`), and `CallClient`: a model client that answers one.

AutoGen's `ChatCompletionClient.create` and `create_stream` take the messages and five options; a client of the
bot's (the demo model, the fallback chain, the response cache) answers a `ModelCall` instead, and passes it on to
the client it wraps with `call.create(client)` or `call.stream(client)`, so those options are spelt once. A
`WrappingClient` (the fallback chain, the response cache) is one over others: closed with them, its usage theirs.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncGenerator, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from autogen_core import CancellationToken
from autogen_core.models import ChatCompletionClient, CreateResult, LLMMessage, ModelInfo, RequestUsage
from autogen_core.tools import Tool, ToolSchema
from pydantic import BaseModel

ToolChoice = Tool | Literal["auto", "required", "none"]


@dataclass(frozen=True)
class ModelCall:
    """What `create` and `create_stream` are asked: the messages and their options, as AutoGen names them."""

    messages: Sequence[LLMMessage]
    tools: Sequence[Tool | ToolSchema] = ()
    tool_choice: ToolChoice = "auto"
    json_output: bool | type[BaseModel] | None = None
    extra_create_args: Mapping[str, Any] = field(default_factory=dict)
    cancellation_token: CancellationToken | None = None

    async def create(self, client: ChatCompletionClient) -> CreateResult:
        """This request asked of `client`, whole."""
        return await client.create(
            self.messages, tools=self.tools, tool_choice=self.tool_choice, json_output=self.json_output,
            extra_create_args=self.extra_create_args, cancellation_token=self.cancellation_token,
        )

    def stream(self, client: ChatCompletionClient) -> AsyncGenerator[str | CreateResult, None]:
        """This request asked of `client`, streamed."""
        return client.create_stream(
            self.messages, tools=self.tools, tool_choice=self.tool_choice, json_output=self.json_output,
            extra_create_args=self.extra_create_args, cancellation_token=self.cancellation_token,
        )


class CallClient(ChatCompletionClient):
    """A model client that answers a `ModelCall` (`answer`, `answer_stream`): AutoGen's two entry points build it."""

    async def create(self, messages: Sequence[LLMMessage], **options: Any) -> CreateResult:
        """AutoGen's `create`: `options` (tools, tool_choice, json_output, extra_create_args, cancellation_token) as
        `ModelCall` declares them, answered whole."""
        return await self.answer(ModelCall(messages, **options))

    async def create_stream(
        self, messages: Sequence[LLMMessage], **options: Any
    ) -> AsyncGenerator[str | CreateResult, None]:
        """AutoGen's `create_stream`: the same `options`, answered as a stream."""
        async for item in self.answer_stream(ModelCall(messages, **options)):
            yield item

    @abstractmethod
    async def answer(self, call: ModelCall) -> CreateResult:
        """`call`, answered whole."""

    @abstractmethod
    def answer_stream(self, call: ModelCall) -> AsyncGenerator[str | CreateResult, None]:
        """`call`, answered as a stream: text chunks, then the `CreateResult`."""


class WrappingClient(CallClient):
    """A `CallClient` over other model clients (`wrapped`, the first the one asked first): closing it closes them, its
    usage is theirs together, and it counts tokens and tells its model's info as the first does."""

    @property
    @abstractmethod
    def wrapped(self) -> Sequence[ChatCompletionClient]:
        """The clients it asks, in order."""

    async def close(self) -> None:
        for client in self.wrapped:
            await client.close()

    def actual_usage(self) -> RequestUsage:
        return _sum_usage(client.actual_usage() for client in self.wrapped)

    def total_usage(self) -> RequestUsage:
        return _sum_usage(client.total_usage() for client in self.wrapped)

    def count_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return self.wrapped[0].count_tokens(messages, tools=tools)

    def remaining_tokens(self, messages: Sequence[LLMMessage], *, tools: Sequence[Tool | ToolSchema] = []) -> int:
        return self.wrapped[0].remaining_tokens(messages, tools=tools)

    @property
    def capabilities(self) -> Any:  # deprecated in autogen-core, still abstract there
        return self.model_info

    @property
    def model_info(self) -> ModelInfo:
        return self.wrapped[0].model_info


def _sum_usage(usages: Iterable[RequestUsage]) -> RequestUsage:
    total = RequestUsage(prompt_tokens=0, completion_tokens=0)
    for usage in usages:
        total = RequestUsage(
            prompt_tokens=total.prompt_tokens + usage.prompt_tokens,
            completion_tokens=total.completion_tokens + usage.completion_tokens,
        )
    return total

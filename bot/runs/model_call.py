"""One request to a model client as a value (`ModelCall`), and `CallClient`: a model client that answers one.

AutoGen's `ChatCompletionClient.create` and `create_stream` take the messages and five options; a client of the
bot's (the demo model, the fallback chain, the response cache) answers a `ModelCall` instead, and passes it on to
the client it wraps with `call.create(client)` or `call.stream(client)`, so those options are spelt once.
"""

from __future__ import annotations

from abc import abstractmethod
from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from autogen_core import CancellationToken
from autogen_core.models import ChatCompletionClient, CreateResult, LLMMessage
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

    async def create(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: ToolChoice = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> CreateResult:
        return await self.answer(ModelCall(messages, tools, tool_choice, json_output, extra_create_args,
                                           cancellation_token))

    async def create_stream(
        self,
        messages: Sequence[LLMMessage],
        *,
        tools: Sequence[Tool | ToolSchema] = [],
        tool_choice: ToolChoice = "auto",
        json_output: bool | type[BaseModel] | None = None,
        extra_create_args: Mapping[str, Any] = {},
        cancellation_token: CancellationToken | None = None,
    ) -> AsyncGenerator[str | CreateResult, None]:
        call = ModelCall(messages, tools, tool_choice, json_output, extra_create_args, cancellation_token)
        async for item in self.answer_stream(call):
            yield item

    @abstractmethod
    async def answer(self, call: ModelCall) -> CreateResult:
        """`call`, answered whole."""

    @abstractmethod
    def answer_stream(self, call: ModelCall) -> AsyncGenerator[str | CreateResult, None]:
        """`call`, answered as a stream: text chunks, then the `CreateResult`."""

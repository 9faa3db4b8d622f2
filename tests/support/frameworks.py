"""One mailer program per framework integration, each with a scripted model (no network): its model calls
`send_email(EMAIL)` once, then answers. `tests/agents/frameworks/test_contract.py` runs the same approve / reject /
timeout / rule scenario against every one of them; each framework's own test module uses the builders for what only
that framework does (edits, kills, resumes).

A `Program` runs once per call of `run` (a fresh agent each time, sharing `sent`), and `told()` is what its model
read about the call last: the tool's result, or the refusal's words.

Each builder imports its framework when first called, never at module import: every test process imports every
test module to collect it, and the frameworks together cost seconds of CPU a process (the fast loop's budget); only
the processes that run a framework's tests pay for it (tests/test_layout.py keeps it so)."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypedDict

from agent_approvals import ApprovalsClient

from tests.support.hitl import call, replay

EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}
Sent = list[dict[str, str]]


@dataclass
class Program:
    """A framework's mailer: `run(client)` runs it once to its end; `told()` is what its model last read."""

    label: str  # who asks, as the card names it
    run: Callable[[ApprovalsClient], Coroutine[Any, Any, Any]]
    told: Callable[[], str]


# OpenAI Agents SDK ---------------------------------------------------------------------------------------------------
def openai_mailer(sent: Sent, *answers: Any) -> tuple[Any, Any]:
    """An `Agent` whose `send_email` has `needs_approval`; its `ScriptedModel` calls it, then gives `answers`."""
    from agents.testing import ScriptedModel, function_call

    import agents

    @agents.function_tool(needs_approval=True)
    def send_email(to: str, body: str) -> str:
        """Send an email to one recipient."""
        sent.append({"to": to, "body": body})
        return f"sent to {to}"

    model = ScriptedModel([[function_call("send_email", EMAIL, call_id="call-1")], *answers])
    return agents.Agent(name="mailer", instructions="Send the email.", tools=[send_email], model=model), model


def openai_last_tool_output(model: Any) -> str:
    """What the model was told the call returned (the last function_call_output it was given)."""
    items = [i for i in model.calls[-1].input if isinstance(i, dict) and i.get("type") == "function_call_output"]
    return str(items[-1]["output"]) if items else ""


def openai_agents_program(sent: Sent, tmp: Path) -> Program:
    import agent_approvals.integrations.openai_agents as with_openai_agents
    from agents.testing import assistant_message

    agent, model = openai_mailer(sent, [assistant_message("Done.")])
    return Program("mailer (OpenAI Agents SDK)",
                   lambda client: with_openai_agents.run_with_approvals(agent, "Tell Bob", client=client),
                   lambda: openai_last_tool_output(model))


# Pydantic AI ---------------------------------------------------------------------------------------------------------
def pydantic_mailer(sent: Sent) -> tuple[Any, list[str]]:
    """An `Agent` (a `FunctionModel`) whose `send_email` has `requires_approval`; `told`: what the model read."""
    import pydantic_ai
    from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel

    told: list[str] = []

    def model(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
        for part in getattr(messages[-1], "parts", []):
            if part.part_kind in ("tool-return", "retry-prompt"):
                told.append(str(part.content))
                return ModelResponse(parts=[TextPart(f"Done: {part.content}")])
        return ModelResponse(parts=[ToolCallPart("send_email", dict(EMAIL), tool_call_id="call-1")])

    output = [str, pydantic_ai.DeferredToolRequests]
    agent: Any = pydantic_ai.Agent(FunctionModel(model), name="mailer", output_type=output)

    @agent.tool_plain(requires_approval=True)
    def send_email(to: str, body: str) -> str:
        """Send an email to one recipient."""
        sent.append({"to": to, "body": body})
        return f"sent to {to}"

    return agent, told


def pydantic_ai_program(sent: Sent, tmp: Path) -> Program:
    import agent_approvals.integrations.pydantic_ai as with_pydantic_ai

    agent, told = pydantic_mailer(sent)
    return Program("mailer (Pydantic AI)",
                   lambda client: with_pydantic_ai.run_with_approvals(agent, "Tell Bob", client=client),
                   lambda: "\n".join(told))


# Microsoft Agent Framework -------------------------------------------------------------------------------------------
def agent_framework_mailer(sent: Sent, *script: list[Any]) -> tuple[Any, Any]:
    """An `Agent` whose `send_email` has `approval_mode="always_require"`, on a scripted chat client (`chat`: what
    the model was shown is `chat.shown()`)."""
    import agent_framework

    class ScriptedClient(agent_framework.FunctionInvocationLayer, agent_framework.BaseChatClient):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.script = list(script) or [af_send(EMAIL), af_text("Done.")]
            self.seen: list[Sequence[Any]] = []

        async def _answer(self, messages: Sequence[Any]) -> Any:
            self.seen.append(list(messages))
            answer = agent_framework.Message(role="assistant", contents=self.script[len(self.seen) - 1])
            return agent_framework.ChatResponse(messages=[answer])

        def _inner_get_response(self, *, messages: Sequence[Any], stream: bool, options: Any, **kwargs: Any) -> Any:
            return self._answer(messages)

        def shown(self) -> str:
            """The text and tool results of the last request, as the model read them."""
            return "\n".join(str(c.text or c.result or "") for m in self.seen[-1] for c in m.contents)

    @agent_framework.tool(approval_mode="always_require")
    def send_email(to: str, body: str) -> str:
        """Send an email to one recipient."""
        sent.append({"to": to, "body": body})
        return f"sent to {to}"

    chat = ScriptedClient()
    return agent_framework.Agent(client=chat, name="mailer", tools=[send_email]), chat


def af_send(arguments: dict[str, str], call_id: str = "call-1") -> list[Any]:
    import agent_framework
    return [agent_framework.Content.from_function_call(call_id, "send_email", arguments=dict(arguments))]


def af_text(words: str) -> list[Any]:
    import agent_framework
    return [agent_framework.Content.from_text(words)]


def agent_framework_program(sent: Sent, tmp: Path) -> Program:
    import agent_approvals.integrations.agent_framework as with_agent_framework

    agent, chat = agent_framework_mailer(sent)
    return Program("mailer (Microsoft Agent Framework)",
                   lambda client: with_agent_framework.run_with_approvals(agent, "Tell Bob", client=client), chat.shown)


# LangGraph: a graph that interrupt()s, and langchain's create_agent --------------------------------------------------
def thread(name: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": name}}


def mail_graph(sent: Sent, outcome: list[str] | None = None) -> Any:
    """A graph whose one node `interrupt()`s with `tool_call("send_email", EMAIL)` and sends what was approved."""
    import agent_approvals.integrations.langgraph as with_langgraph
    from langgraph.checkpoint.memory import InMemorySaver
    from langgraph.graph import END, START, StateGraph
    from langgraph.types import interrupt

    class State(TypedDict):
        outcome: str

    schema = {"type": "object", "properties": {"to": {"type": "string"}, "body": {"type": "string"}},
              "required": ["to", "body"], "additionalProperties": False}

    def send(state: State) -> dict[str, Any]:
        answer = interrupt(with_langgraph.tool_call("send_email", EMAIL, schema=schema, agent="mailer"))
        if not answer["approved"]:
            return {"outcome": f"not sent: refused by {answer['decided_by']}: {answer['reason']}"}
        sent.append(answer["arguments"])
        return {"outcome": f"sent to {answer['arguments']['to']}"}

    builder = StateGraph(State)
    builder.add_node("send", send)
    builder.add_edge(START, "send")
    builder.add_edge("send", END)
    return builder.compile(checkpointer=InMemorySaver())


def langgraph_program(sent: Sent, tmp: Path) -> Program:
    import agent_approvals.integrations.langgraph as with_langgraph

    graph, result = mail_graph(sent), {"outcome": ""}

    async def run(client: ApprovalsClient) -> None:
        config = thread(uuid.uuid4().hex)
        result.update(await with_langgraph.invoke_with_approvals(graph, {"outcome": ""}, config, client=client))

    return Program("mailer (LangGraph)", run, lambda: result["outcome"])


def scripted_chat_model(answers: list[Any]) -> Any:
    """A langchain chat model answering `answers` in order (tool calls included); what it was given: `seen`."""
    from langchain_core.language_models import BaseChatModel
    from langchain_core.messages import BaseMessage
    from langchain_core.outputs import ChatGeneration, ChatResult
    from pydantic import Field

    class Scripted(BaseChatModel):
        answers: list[Any]
        seen: list[list[BaseMessage]] = Field(default_factory=list)

        @property
        def _llm_type(self) -> str:
            return "scripted"

        def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                      **kwargs: Any) -> ChatResult:
            assert len(self.seen) < len(self.answers), "the model was called more often than scripted"
            self.seen.append(list(messages))
            return ChatResult(generations=[ChatGeneration(message=self.answers[len(self.seen) - 1])])

        def bind_tools(self, tools: Any, **kwargs: Any) -> Any:
            return self

    return Scripted(answers=answers)


def email_calls(*emails: dict[str, str]) -> Any:
    """The model's turn calling send_email once per email (ids call-1, call-2, ...)."""
    from langchain_core.messages import AIMessage

    made = [{"name": "send_email", "args": email, "id": f"call-{n}"} for n, email in enumerate(emails, 1)]
    return AIMessage("", tool_calls=made)


def mail_agent(sent: Sent, *answers: Any, interrupt_on: Any = True, mode: str = "batched") -> tuple[Any, Any]:
    """A create_agent agent named mailer whose send_email needs approval; its model calls send_email(EMAIL) first,
    unless `answers` starts with the model's own turn."""
    from langchain.agents import create_agent
    from langchain.agents.middleware import HumanInTheLoopMiddleware
    from langchain_core.messages import AIMessage
    from langchain_core.tools import tool as langchain_tool
    from langgraph.checkpoint.memory import InMemorySaver

    @langchain_tool
    def send_email(to: str, body: str) -> str:
        """Send an email to one recipient."""
        sent.append({"to": to, "body": body})
        return f"sent to {to}"

    script = [a if isinstance(a, AIMessage) else AIMessage(a) for a in answers]
    model = scripted_chat_model(script if isinstance(answers[0], AIMessage) else [email_calls(EMAIL), *script])
    hitl = HumanInTheLoopMiddleware(interrupt_on={"send_email": interrupt_on}, interrupt_mode=mode)  # type: ignore[arg-type]
    agent = create_agent(model, tools=[send_email], middleware=[hitl], checkpointer=InMemorySaver(), name="mailer")
    return agent, model


def told_by_tool_messages(model: Any) -> dict[str, str]:
    """What a langchain model last read as its tool calls' results, by call id."""
    from langchain_core.messages import ToolMessage

    return {m.tool_call_id: str(m.content) for m in model.seen[-1] if isinstance(m, ToolMessage)}


def asking(text: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": text}]}


def langchain_create_agent_program(sent: Sent, tmp: Path) -> Program:
    import agent_approvals.integrations.langgraph as with_langgraph

    agent, model = mail_agent(sent, "Done.")

    async def run(client: ApprovalsClient) -> None:
        await with_langgraph.invoke_with_approvals(agent, asking("Tell Bob"), thread(uuid.uuid4().hex), client=client)

    return Program("mailer (LangGraph)", run, lambda: "\n".join(told_by_tool_messages(model).values()))


# AutoGen, over the API -----------------------------------------------------------------------------------------------
def autogen_mailer(sent: Sent, *script: str | dict[str, Any]) -> Any:
    """An `AssistantAgent` whose model calls `send_email(EMAIL)`, then says `script` (replayed, no network)."""
    from autogen_agentchat.agents import AssistantAgent
    from autogen_core.models import ChatCompletionClient
    from autogen_core.tools import FunctionTool

    async def send_email(to: str, body: str) -> str:
        sent.append({"to": to, "body": body})
        return f"sent to {to}"

    model = ChatCompletionClient.load_component(replay(call("send_email", EMAIL), *script))
    tool = FunctionTool(send_email, description="Send an email to one recipient.")
    return AssistantAgent("mailer", model_client=model, tools=[tool], max_tool_iterations=3)


def autogen_tool_results(result: Any) -> list[str]:
    """What the model was given as the tool's results (the execution events it reads next)."""
    from autogen_agentchat.messages import ToolCallExecutionEvent

    return [r.content for m in result.messages if isinstance(m, ToolCallExecutionEvent) for r in m.content]


def autogen_program(sent: Sent, tmp: Path) -> Program:
    import agent_approvals.integrations.autogen.run as with_autogen

    agent, results = autogen_mailer(sent, "Done."), []

    async def run(client: ApprovalsClient) -> None:
        results.extend(autogen_tool_results(await with_autogen.run_with_approvals(agent, "Tell Bob", client=client)))

    return Program("mailer (AutoGen)", run, lambda: "\n".join(results))


# Google ADK ----------------------------------------------------------------------------------------------------------
def google_adk_program(sent: Sent, tmp: Path) -> Program:
    import agent_approvals.integrations.google_adk as with_adk

    from tests.support import adk_model

    made: list[Any] = []

    async def run(client: ApprovalsClient) -> None:
        runner, model = adk_model.mailer_runner(client, tmp / f"{uuid.uuid4().hex}.db", sent,
                                                adk_model.tool_call("send_email", EMAIL), adk_model.text("Done."))
        made.append(model)
        session = uuid.uuid4().hex  # a new session: the call is a new one, not the last session's again
        await runner.session_service.create_session(app_name=runner.app_name, user_id="u1", session_id=session)
        asked = adk_model.user("Tell Bob")
        await with_adk.run_with_approvals(runner, user_id="u1", session_id=session, new_message=asked, client=client)

    def told() -> str:
        return "\n".join(str(v) for output in made[-1].tool_outputs() for v in output.values())

    return Program("Google ADK", run, told)


# Claude Agent SDK ----------------------------------------------------------------------------------------------------
CLAUDE_TOOL = "mcp__mail__send_email"


def claude_cli(sent: Sent, *calls: dict[str, Any], results: list[str] | None = None, **options: Any) -> Any:
    """The scripted Claude Code CLI (tests.support.claude_cli) making `calls` of `mcp__mail__send_email`; what
    the tool returned is added to `results`."""
    from tests.support.claude_cli import ScriptedCLI

    def send_email(to: str, body: str) -> str:
        sent.append({"to": to, "body": body})
        (results if results is not None else []).append(f"sent to {to}")
        return f"sent to {to}"

    return ScriptedCLI(calls=[(CLAUDE_TOOL, c) for c in calls], tools={CLAUDE_TOOL: send_email}, **options)


async def claude_run(options: Any, transport: Any) -> Any:
    """Run the SDK's client over `transport` to its result message."""
    from claude_agent_sdk import ClaudeSDKClient, ResultMessage

    async with ClaudeSDKClient(options, transport=transport) as claude:
        await claude.query("Tell Bob about the prices")
        async for message in claude.receive_response():
            if isinstance(message, ResultMessage):
                return message
    raise AssertionError("no result")


def claude_agent_sdk_program(sent: Sent, tmp: Path) -> Program:
    from agent_approvals.integrations.claude_agent_sdk import can_use_tool
    from claude_agent_sdk import ClaudeAgentOptions

    results: list[str] = []
    transport = claude_cli(sent, EMAIL, results=results, retries=0)

    async def run(client: ApprovalsClient) -> None:
        await claude_run(ClaudeAgentOptions(can_use_tool=can_use_tool(client)), transport)

    return Program("Claude Agent SDK", run, lambda: "\n".join([*transport.told, *results]))


PROGRAMS: dict[str, Callable[[Sent, Path], Program]] = {
    "autogen": autogen_program,
    "openai_agents": openai_agents_program,
    "langgraph": langgraph_program,
    "langchain_create_agent": langchain_create_agent_program,
    "pydantic_ai": pydantic_ai_program,
    "agent_framework": agent_framework_program,
    "google_adk": google_adk_program,
    "claude_agent_sdk": claude_agent_sdk_program,
}

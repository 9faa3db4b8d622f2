"""LangGraph: langchain's `create_agent` with `HumanInTheLoopMiddleware`, its interrupts answered in Slack
(`agent_approvals.integrations.langgraph`). The agent is built as langchain documents it; nothing in it changes.

    pip install "./agents[langgraph]"            # with a real model: pip install langchain-openai
    export AGENT_APPROVALS_URL=https://approvals.example.com AGENT_APPROVALS_KEY=aak_…
    python examples/langgraph_email.py "Tell bob@example.com that our Q2 prices change on May 1"

Approve sends `approve`; an edit, approved, sends `edit` with the edited arguments; a rejection sends `reject`
with who refused and why (the model reads it). This example keeps its thread in memory; with a persistent
checkpointer (`AsyncSqliteSaver`) `resume_with_approvals(agent, config, client=...)` finishes a thread in another
process. Model and outbox: see example_support.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from agent_approvals.integrations.langgraph import invoke_with_approvals
from example_support import (
    DEFAULT_TASK,
    SYSTEM,
    approvals_client,
    endpoint,
    final_words,
    run_cli,
    scripted_email,
    write_email,
)
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.outputs import ChatGeneration, ChatResult
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver


class ScriptedModel(BaseChatModel):
    """Offline: calls send_email with `email` once, then says what the tool answered."""

    email: dict[str, str]

    @property
    def _llm_type(self) -> str:
        return "scripted"

    def _generate(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
                  **kwargs: Any) -> ChatResult:
        if isinstance(messages[-1], ToolMessage):
            answer = AIMessage(final_words(str(messages[-1].content)))
        else:
            answer = AIMessage("", tool_calls=[{"name": "send_email", "args": self.email, "id": "call-1"}])
        return ChatResult(generations=[ChatGeneration(message=answer)])

    def bind_tools(self, tools: Any, **kwargs: Any) -> ScriptedModel:
        return self


def model(env: Mapping[str, str], task: str) -> BaseChatModel:
    real = endpoint(env)
    if real is None:
        return ScriptedModel(email=scripted_email(task))
    from langchain_openai import ChatOpenAI  # type: ignore[import-not-found]  # pip install langchain-openai

    chat: BaseChatModel = ChatOpenAI(model=real.model, base_url=real.base_url, api_key=real.api_key)
    return chat


async def main(env: Mapping[str, str], task: str = DEFAULT_TASK, *, resume_run: str = "") -> str:
    if resume_run:
        raise SystemExit("this example keeps its thread in memory: nothing to resume (see the docstring)")

    @tool
    def send_email(to: str, body: str) -> str:
        """Send an email to one recipient."""
        return write_email(env, to, body)

    agent = create_agent(model(env, task), tools=[send_email], system_prompt=SYSTEM, name="mailer",
                         middleware=[HumanInTheLoopMiddleware(interrupt_on={"send_email": True})],
                         checkpointer=InMemorySaver())
    config: dict[str, Any] = {"configurable": {"thread_id": f"mailer-{uuid.uuid4().hex[:8]}"}}
    async with approvals_client(env, "langgraph_email.py", task) as client:
        result = await invoke_with_approvals(agent, {"messages": [("user", task)]}, config, client=client)
    return str(result["messages"][-1].content)


if __name__ == "__main__":
    run_cli(main)

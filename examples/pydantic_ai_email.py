"""Pydantic AI, its `requires_approval` tool calls decided in Slack (`agent_approvals.integrations.pydantic_ai`).

    pip install "./agents[pydantic-ai]"          # with a real model: pip install "pydantic-ai-slim[openai]"
    export AGENT_APPROVALS_URL=https://approvals.example.com AGENT_APPROVALS_KEY=aak_…
    python examples/pydantic_ai_email.py "Tell bob@example.com that our Q2 prices change on May 1"
    python examples/pydantic_ai_email.py --resume mailer-1a2b3c4d   # finish a run whose process died

The paused run (its message history) is kept in STATE_DIR (default ./states) under RUN_ID (default a new
one). An approved edit runs with the edited arguments. Model and outbox: see example_support.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from typing import Any

from agent_approvals.integrations.pydantic_ai import FileStateStore, resume, run_with_approvals
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
from pydantic_ai import Agent, DeferredToolRequests
from pydantic_ai.messages import ModelMessage, ModelResponse, TextPart, ToolCallPart
from pydantic_ai.models.function import AgentInfo, FunctionModel


def mailer(env: Mapping[str, str], task: str) -> Agent[None, Any]:
    real = endpoint(env)
    if real is not None:
        from pydantic_ai.models.openai import OpenAIChatModel
        from pydantic_ai.providers.openai import OpenAIProvider

        model: Any = OpenAIChatModel(real.model, provider=OpenAIProvider(base_url=real.base_url, api_key=real.api_key))
    else:

        def scripted(messages: list[ModelMessage], info: AgentInfo) -> ModelResponse:
            for part in getattr(messages[-1], "parts", []):
                if part.part_kind in ("tool-return", "retry-prompt"):
                    return ModelResponse(parts=[TextPart(final_words(str(part.content)))])
            return ModelResponse(parts=[ToolCallPart("send_email", scripted_email(task), tool_call_id="call-1")])

        model = FunctionModel(scripted)
    agent: Agent[None, Any] = Agent(model, name="mailer", instructions=SYSTEM, output_type=[str, DeferredToolRequests])

    @agent.tool_plain(requires_approval=True)
    def send_email(to: str, body: str) -> str:
        """Send an email to one recipient."""
        return write_email(env, to, body)

    return agent


async def main(env: Mapping[str, str], task: str = DEFAULT_TASK, *, resume_run: str = "") -> str:
    async with approvals_client(env, "pydantic_ai_email.py", task) as client:
        store = FileStateStore(env.get("STATE_DIR") or "states")
        agent = mailer(env, task)
        if resume_run:
            result = await resume(agent, resume_run, client=client, store=store)
        else:
            run_id = env.get("RUN_ID") or f"mailer-{uuid.uuid4().hex[:8]}"
            result = await run_with_approvals(agent, task, client=client, store=store, run_id=run_id)
    return str(result.output)


if __name__ == "__main__":
    run_cli(main)

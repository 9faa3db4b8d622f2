"""Microsoft Agent Framework, its `approval_mode="always_require"` tools decided in Slack
(`agent_approvals.integrations.agent_framework`).

    pip install "./agents[agent-framework]"      # with a real model: pip install agent-framework-openai
    export AGENT_APPROVALS_URL=https://approvals.example.com AGENT_APPROVALS_KEY=aak_…
    python examples/agent_framework_email.py "Tell bob@example.com that our Q2 prices change on May 1"
    python examples/agent_framework_email.py --resume mailer-1a2b3c4d   # finish a run whose process died

The paused session is kept in STATE_DIR (default ./states) under RUN_ID (default a new one). The framework runs
the call the model made, so the card says the arguments cannot be edited. Model and outbox: see
example_support.py.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from agent_approvals.integrations.agent_framework import FileStateStore, resume, run_with_approvals
from agent_framework import Agent, BaseChatClient, ChatResponse, Content, FunctionInvocationLayer, Message, tool
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


class ScriptedClient(FunctionInvocationLayer, BaseChatClient):
    """Offline: calls send_email with `email` once, then says what the tool answered (and why not, refused)."""

    def __init__(self, email: dict[str, str]) -> None:
        super().__init__()
        self.email = email

    async def _answer(self, messages: Sequence[Message]) -> ChatResponse:
        results, said = [], []  # since its call: what the tool answered, and why a refused call did not run
        for message in reversed(messages):
            if message.role == "assistant":
                break
            results += [c.result for c in message.contents if c.type == "function_result"]
            said += [c.text for c in message.contents if c.type == "text" and c.text]
        if results:
            contents = [Content.from_text(" ".join([final_words(str(results[0])), *reversed(said)]))]
        else:
            contents = [Content.from_function_call(f"call-{uuid.uuid4().hex[:8]}", "send_email", arguments=self.email)]
        return ChatResponse(messages=[Message(role="assistant", contents=contents)])

    def _inner_get_response(self, *, messages: Sequence[Message], stream: bool, options: Any, **kwargs: Any) -> Any:
        return self._answer(messages)


def chat_client(env: Mapping[str, str], task: str) -> Any:
    real = endpoint(env)
    if real is None:
        return ScriptedClient(scripted_email(task))
    from agent_framework.openai import OpenAIChatClient  # pip install agent-framework-openai

    return OpenAIChatClient(model_id=real.model, base_url=real.base_url, api_key=real.api_key)


async def main(env: Mapping[str, str], task: str = DEFAULT_TASK, *, resume_run: str = "") -> str:
    @tool(approval_mode="always_require")
    def send_email(to: str, body: str) -> str:
        """Send an email to one recipient."""
        return write_email(env, to, body)

    agent = Agent(client=chat_client(env, task), name="mailer", instructions=SYSTEM, tools=[send_email])
    async with approvals_client(env, "agent_framework_email.py", task) as client:
        store = FileStateStore(env.get("STATE_DIR") or "states")
        if resume_run:
            response = await resume(agent, resume_run, client=client, store=store)
        else:
            run_id = env.get("RUN_ID") or f"mailer-{uuid.uuid4().hex[:8]}"
            response = await run_with_approvals(agent, task, client=client, store=store, run_id=run_id)
    return str(response.text)


if __name__ == "__main__":
    run_cli(main)

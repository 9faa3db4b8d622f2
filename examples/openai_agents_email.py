"""The OpenAI Agents SDK, its `needs_approval` tool calls decided in Slack
(`agent_approvals.integrations.openai_agents`).

    pip install "./agents[openai-agents]"
    export AGENT_APPROVALS_URL=https://approvals.example.com AGENT_APPROVALS_KEY=aak_…
    python examples/openai_agents_email.py "Tell bob@example.com that our Q2 prices change on May 1"
    python examples/openai_agents_email.py --resume nightly-42   # finish a run whose process died

The paused run is kept in STATE_DIR (default ./states) under RUN_ID (default a new one): if this process dies
while a person decides, `--resume <run id>` in another finishes it with the same approvals (no second card).
Model and outbox: see example_support.py.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Mapping
from typing import Any

from agent_approvals.integrations.openai_agents import FileStateStore, resume, run_with_approvals
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

from agents import Agent, function_tool


def mailer(env: Mapping[str, str], task: str, *, resuming: bool) -> Agent[Any]:
    @function_tool(needs_approval=True)
    def send_email(to: str, body: str) -> str:
        """Send an email to one recipient."""
        return write_email(env, to, body)

    real = endpoint(env)
    if real is not None:
        from openai import AsyncOpenAI

        from agents import OpenAIChatCompletionsModel

        model: Any = OpenAIChatCompletionsModel(
            model=real.model, openai_client=AsyncOpenAI(base_url=real.base_url, api_key=real.api_key)
        )
    else:
        from agents.testing import ModelCall, ModelStep, ScriptedModel, assistant_message, function_call

        def says_what_happened(call: ModelCall) -> list[Any]:  # what the tool answered: sent, or not run and why
            told = call.input if isinstance(call.input, list) else []
            outputs = [item.get("output") for item in told if item.get("type") == "function_call_output"]
            return [assistant_message(final_words(str(outputs[-1]) if outputs else "no answer from send_email"))]

        steps: list[Any] = [ModelStep.respond(says_what_happened)]
        if not resuming:  # a resumed run goes on after the call: the model is next asked with its result
            steps.insert(0, [function_call("send_email", scripted_email(task), call_id="call-1")])
        model = ScriptedModel(steps)
    return Agent(name="mailer", instructions=SYSTEM, tools=[send_email], model=model)


async def main(env: Mapping[str, str], task: str = DEFAULT_TASK, *, resume_run: str = "") -> str:
    async with approvals_client(env, "openai_agents_email.py", task) as client:
        store = FileStateStore(env.get("STATE_DIR") or "states")
        agent = mailer(env, task, resuming=bool(resume_run))
        if resume_run:
            result = await resume(agent, resume_run, client=client, store=store)
        else:
            run_id = env.get("RUN_ID") or f"mailer-{uuid.uuid4().hex[:8]}"
            result = await run_with_approvals(agent, task, client=client, store=store, run_id=run_id)
    return str(result.final_output)


if __name__ == "__main__":
    os.environ.setdefault("OPENAI_AGENTS_DISABLE_TRACING", "1")  # no trace export unless asked
    run_cli(main)

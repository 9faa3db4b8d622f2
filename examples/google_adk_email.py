"""Google's Agent Development Kit, its tool confirmations answered in Slack (`agent_approvals.integrations.google_adk`).

    pip install "./agents[google-adk]"
    export AGENT_APPROVALS_URL=https://approvals.example.com AGENT_APPROVALS_KEY=aak_…
    python examples/google_adk_email.py "Tell bob@example.com that our Q2 prices change on May 1"
    python examples/google_adk_email.py --resume mailer-1a2b3c4d   # finish a run whose process died

`send_email` needs confirmation (`FunctionTool(require_confirmation=True)`) and is gated (`approval_gate`, the
agent's `before_tool_callback`: it runs only with an approval for exactly these arguments, spent once). The
session lives in ADK's SQLite session service (STATE_DIR/adk_sessions.db, default ./states), under RUN_ID
(default a new one): if this process dies while a person decides, `--resume <run id>` finishes it with the same
card. With GOOGLE_API_KEY set, Gemini (GEMINI_MODEL, default gemini-2.5-flash) is the model; else a scripted
one, offline. Outbox and decisions printed: see example_support.py.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncGenerator, Mapping
from pathlib import Path
from typing import Any

from agent_approvals.integrations.google_adk import approval_gate, run_with_approvals
from example_support import DEFAULT_TASK, SYSTEM, approvals_client, final_words, run_cli, scripted_email, write_email
from google.adk.agents import LlmAgent
from google.adk.models import BaseLlm
from google.adk.models.llm_request import LlmRequest
from google.adk.models.llm_response import LlmResponse
from google.adk.runners import Runner
from google.adk.sessions.sqlite_session_service import SqliteSessionService
from google.adk.tools.function_tool import FunctionTool
from google.genai import types

USAGE = types.GenerateContentResponseUsageMetadata(prompt_token_count=1, candidates_token_count=1,
                                                   total_token_count=2)


class ScriptedModel(BaseLlm):
    """Offline: calls `send_email` for the task's first address, then says what the tool answered."""

    task: str = DEFAULT_TASK

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        told = [p.function_response.response or {} for c in llm_request.contents for p in c.parts or []
                if p.function_response is not None and p.function_response.name == "send_email"]
        if told:
            said = told[-1].get("result") or told[-1].get("error") or "no answer from send_email"
            yield LlmResponse(content=types.Content(role="model", parts=[types.Part(text=final_words(str(said)))]),
                              usage_metadata=USAGE)
            return
        call = types.FunctionCall(id="call-1", name="send_email", args=scripted_email(self.task))
        yield LlmResponse(content=types.Content(role="model", parts=[types.Part(function_call=call)]),
                          usage_metadata=USAGE)


def sessions(env: Mapping[str, str]) -> SqliteSessionService:
    states = Path(env.get("STATE_DIR") or "states")
    states.mkdir(parents=True, exist_ok=True)
    return SqliteSessionService(str(states / "adk_sessions.db"))


def runner(env: Mapping[str, str], client: Any, task: str) -> Runner:
    def send_email(to: str, body: str) -> str:
        """Send an email to one recipient."""
        return write_email(env, to, body)

    model: Any = env.get("GEMINI_MODEL") or "gemini-2.5-flash" if env.get("GOOGLE_API_KEY") else \
        ScriptedModel(model="scripted", task=task)
    agent = LlmAgent(name="mailer", model=model, instruction=SYSTEM,
                     tools=[FunctionTool(send_email, require_confirmation=True)],
                     before_tool_callback=approval_gate(client, tools={"send_email"}))
    return Runner(agent=agent, app_name="mailer", session_service=sessions(env))


async def first_words(env: Mapping[str, str], session_id: str) -> str:
    """The task a session was started with (a resumed run asks as the first did: the same card)."""
    session = await sessions(env).get_session(app_name="mailer", user_id="me", session_id=session_id)
    if session is None:
        raise SystemExit(f"no session {session_id!r} in {env.get('STATE_DIR') or 'states'}/adk_sessions.db")
    said = [p.text for e in session.events if e.author == "user" and e.content for p in e.content.parts or []
            if p.text]
    return said[0] if said else DEFAULT_TASK


async def main(env: Mapping[str, str], task: str = DEFAULT_TASK, *, resume_run: str = "") -> str:
    if resume_run:
        task = await first_words(env, resume_run)
    async with approvals_client(env, "google_adk_email.py", task) as client:
        adk = runner(env, client, task)
        session = resume_run or env.get("RUN_ID") or f"mailer-{uuid.uuid4().hex[:8]}"
        message = None
        if not resume_run:
            await adk.session_service.create_session(app_name=adk.app_name, user_id="me", session_id=session)
            message = types.Content(role="user", parts=[types.Part(text=task)])
        events = await run_with_approvals(adk, user_id="me", session_id=session, new_message=message, client=client)
    words = [p.text for e in events if e.content is not None for p in e.content.parts or [] if p.text]
    return words[-1] if words else ""


if __name__ == "__main__":
    run_cli(main)

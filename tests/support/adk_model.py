"""A scripted Google ADK model (a `BaseLlm` that answers from a list, offline), and a mailer agent whose
`send_email` is gated by `agent_approvals.integrations.google_adk.approval_gate`, on ADK's SQLite session service."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from pathlib import Path
from typing import Any

from agent_approvals import ApprovalsClient
from agent_approvals.integrations.google_adk import approval_gate
from google.adk.agents import LlmAgent
from google.adk.models import BaseLlm, LlmRequest, LlmResponse
from google.adk.runners import Runner
from google.adk.sessions.sqlite_session_service import SqliteSessionService
from google.adk.tools import FunctionTool
from google.genai import types
from pydantic import Field


def tool_call(name: str, args: dict[str, Any], call_id: str = "call-1") -> types.Content:
    return types.Content(role="model", parts=[types.Part(function_call=types.FunctionCall(id=call_id, name=name,
                                                                                          args=args))])


def text(words: str) -> types.Content:
    return types.Content(role="model", parts=[types.Part(text=words)])


class ScriptedLlm(BaseLlm):
    """Answers each request with the next of `script`; keeps what it was given (`requests`)."""

    script: list[types.Content]
    requests: list[LlmRequest] = Field(default_factory=list)

    async def generate_content_async(
        self, llm_request: LlmRequest, stream: bool = False
    ) -> AsyncGenerator[LlmResponse, None]:
        self.requests.append(llm_request)
        yield LlmResponse(content=self.script.pop(0) if self.script else text("Done."))

    def tool_outputs(self) -> list[dict[str, Any]]:
        """Every function response (other than confirmations) the model was given in its last request."""
        last = self.requests[-1].contents
        return [dict(p.function_response.response or {}) for c in last for p in c.parts or []
                if p.function_response is not None and p.function_response.name != "adk_request_confirmation"]


def mailer_runner(
    client: ApprovalsClient, db: Path, sent: list[dict[str, str]], *script: types.Content, confirm: bool = True
) -> tuple[Runner, ScriptedLlm]:
    """A runner of an agent whose `send_email` (with `require_confirmation`, unless `confirm=False`) is gated."""

    def send_email(to: str, body: str) -> str:
        """Send an email to one recipient."""
        sent.append({"to": to, "body": body})
        return f"sent to {to}"

    model = ScriptedLlm(model="scripted", script=list(script), requests=[])
    tool: Callable[..., str] | FunctionTool = FunctionTool(send_email, require_confirmation=True) if confirm \
        else send_email
    agent = LlmAgent(name="mailer", model=model, instruction="Send the email.", tools=[tool],
                     before_tool_callback=approval_gate(client, tools={"send_email"}))
    return Runner(agent=agent, app_name="mail", session_service=SqliteSessionService(str(db))), model


def user(words: str) -> types.Content:
    return types.Content(role="user", parts=[types.Part(text=words)])

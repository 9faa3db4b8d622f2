"""The Claude Agent SDK, its tool calls decided in Slack (`agent_approvals.integrations.claude_agent_sdk`).

    pip install "./agents[claude-agent-sdk]"
    export AGENT_APPROVALS_URL=https://approvals.example.com AGENT_APPROVALS_KEY=aak_…
    python examples/claude_agent_sdk_email.py "Tell bob@example.com that our Q2 prices change on May 1"

With ANTHROPIC_API_KEY set, Claude Code runs (the SDK's bundled CLI) with `send_email` as an in-process MCP
tool; else a scripted stand-in for the CLI (a custom `Transport`) makes the call offline. Either way the SDK
asks `can_use_tool`, which asks in Slack: within APPROVAL_LIMIT seconds (default 50, under the SDK's ~60 s)
the card's decision is the answer; past it the model is told to call again with the same arguments, and that
identical call runs once the card is approved. Outbox and decisions printed: see example_support.py.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import AsyncIterator, Mapping
from typing import Any

from agent_approvals.integrations.claude_agent_sdk import can_use_tool
from claude_agent_sdk import (
    ClaudeAgentOptions,
    ClaudeSDKClient,
    ResultMessage,
    Transport,
    create_sdk_mcp_server,
    tool,
)
from example_support import DEFAULT_TASK, SYSTEM, approvals_client, final_words, run_cli, scripted_email, write_email

TOOL = "mcp__mail__send_email"


class ScriptedCLI(Transport):
    """Offline, in place of Claude Code: one `send_email` call, asked through the SDK's control protocol
    (`can_use_tool`); called again while the answer says to; the tool's answer or the refusal as last words."""

    def __init__(self, env: Mapping[str, str], call: dict[str, str], retries: int = 40) -> None:
        self.env, self.call, self.retries = env, call, retries
        self._out: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._answers: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._script: asyncio.Task[None] | None = None

    async def connect(self) -> None:
        return None

    def is_ready(self) -> bool:
        return True

    async def end_input(self) -> None:
        return None

    async def close(self) -> None:
        if self._script is not None:
            self._script.cancel()
        self._out.put_nowait(None)

    async def read_messages(self) -> AsyncIterator[dict[str, Any]]:
        while (message := await self._out.get()) is not None:
            yield message

    async def write(self, data: str) -> None:
        message = json.loads(data)
        if message.get("type") == "control_request":  # initialize: nothing to set up
            self._out.put_nowait({"type": "control_response", "response": {
                "subtype": "success", "request_id": message["request_id"], "response": {}}})
        elif message.get("type") == "control_response":
            self._answers.pop(message["response"]["request_id"]).set_result(message["response"])
        elif message.get("type") == "user" and self._script is None:
            self._script = asyncio.ensure_future(self._run())

    async def _run(self) -> None:
        said = "no answer"
        for n in range(1, self.retries + 2):
            request_id = f"req_{n}"
            self._answers[request_id] = asyncio.get_running_loop().create_future()
            self._out.put_nowait({"type": "control_request", "request_id": request_id, "request": {
                "subtype": "can_use_tool", "tool_name": TOOL, "input": self.call, "tool_use_id": f"toolu_{n}"}})
            answer = (await self._answers[request_id]).get("response") or {}
            if answer.get("behavior") == "allow":
                said = write_email(self.env, **(answer.get("updatedInput") or self.call))
                break
            said = str(answer.get("message") or "denied")
            if "again" not in said:
                break
        self._out.put_nowait({"type": "result", "subtype": "success", "duration_ms": 0, "duration_api_ms": 0,
                              "is_error": False, "num_turns": n, "session_id": "scripted",
                              "result": final_words(said)})


def options(env: Mapping[str, str], client: Any, session: str) -> ClaudeAgentOptions:
    @tool("send_email", "Send an email to one recipient.", {"to": str, "body": str})
    async def send_email(args: dict[str, Any]) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": write_email(env, args["to"], args["body"])}]}

    limit = float(env.get("APPROVAL_LIMIT") or 50)
    return ClaudeAgentOptions(
        system_prompt=SYSTEM,
        mcp_servers={"mail": create_sdk_mcp_server("mail", tools=[send_email])},
        can_use_tool=can_use_tool(client, limit=limit, scope=session),
    )


async def main(env: Mapping[str, str], task: str = DEFAULT_TASK, *, resume_run: str = "") -> str:
    session = resume_run or env.get("RUN_ID") or f"mailer-{uuid.uuid4().hex[:8]}"
    async with approvals_client(env, "claude_agent_sdk_email.py", task) as client:
        transport = None if env.get("ANTHROPIC_API_KEY") else ScriptedCLI(env, scripted_email(task))
        async with ClaudeSDKClient(options(env, client, session), transport=transport) as claude:
            await claude.query(task)
            async for message in claude.receive_response():
                if isinstance(message, ResultMessage):
                    return message.result or ""
    return ""


if __name__ == "__main__":
    os.environ.setdefault("CLAUDE_AGENT_SDK_SKIP_VERSION_CHECK", "1")
    run_cli(main)

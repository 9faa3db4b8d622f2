"""A scripted AG-UI 1.0 agent (no model, no network), served over HTTP as AG-UI agents are (the run's input POSTed,
its events streamed back as SSE by `ag_ui.encoder.EventEncoder`), for tests/agents/frameworks/test_agui.py.

Its first run on a thread proposes `send_email(EMAIL)` (`TOOL_CALL_START`/`ARGS`/`END`, then a `MESSAGES_SNAPSHOT`)
and ends interrupted (`reason: "tool_call"`, a `responseSchema` offering `editedArgs`). The run that resumes it is
the executor: it sends the email only when the resume approves and carries a receipt that `ReceiptChecker` verifies
for exactly the call that runs (the edited arguments where a person revised them), spent once; it tells what
happened in a `TOOL_CALL_RESULT` and finishes with success."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from ag_ui.core import (
    AssistantMessage,
    BaseEvent,
    FunctionCall,
    Interrupt,
    MessagesSnapshotEvent,
    ResumeEntry,
    RunAgentInput,
    RunFinishedEvent,
    RunFinishedInterruptOutcome,
    RunFinishedSuccessOutcome,
    RunStartedEvent,
    ToolCall,
    ToolCallArgsEvent,
    ToolCallEndEvent,
    ToolCallResultEvent,
    ToolCallStartEvent,
)
from ag_ui.encoder import EventEncoder
from agent_approvals import ReceiptChecker, ReceiptError
from agent_approvals.integrations.agui import KEY
from aiohttp import web

from tests.support.frameworks import EMAIL

SCHEMA = {"type": "object", "properties": {"approved": {"type": "boolean"}, "editedArgs": {"type": "object"}},
          "required": ["approved"]}


@dataclass
class Mailer:
    """The agent: `sent` what it sent, `told` each tool result, `resumes` the resume entries it was given.
    `arguments`: the JSON its tool call carries; `reason`: its interrupt's reason."""

    bot_url: str
    sent: list[dict[str, Any]] = field(default_factory=list)
    told: list[str] = field(default_factory=list)
    resumes: list[ResumeEntry] = field(default_factory=list)
    arguments: str = json.dumps(EMAIL)
    reason: str = "tool_call"

    async def run(self, input: RunAgentInput) -> AsyncIterator[BaseEvent]:
        yield RunStartedEvent(thread_id=input.thread_id, run_id=input.run_id, protocol_version="1.0")
        if not input.resume:
            for event in self._propose(input):
                yield event
            return
        self.resumes += input.resume
        result = await self._execute(input.resume[0])
        self.told.append(result)
        yield ToolCallResultEvent(message_id=f"m-{len(self.told)}", tool_call_id="tc-1", content=result)
        yield RunFinishedEvent(thread_id=input.thread_id, run_id=input.run_id, outcome=RunFinishedSuccessOutcome())

    def _propose(self, input: RunAgentInput) -> list[BaseEvent]:
        call = ToolCall(id="tc-1", function=FunctionCall(name="send_email", arguments=self.arguments))
        asking = Interrupt(id="int-1", reason=self.reason, tool_call_id="tc-1", response_schema=SCHEMA,
                           message="Send the price update to Bob?")
        return [
            ToolCallStartEvent(tool_call_id="tc-1", tool_call_name="send_email", parent_message_id="a-1"),
            ToolCallArgsEvent(tool_call_id="tc-1", delta=self.arguments[:10]),
            ToolCallArgsEvent(tool_call_id="tc-1", delta=self.arguments[10:]),
            ToolCallEndEvent(tool_call_id="tc-1"),
            MessagesSnapshotEvent(messages=[*input.messages, AssistantMessage(id="a-1", tool_calls=[call])]),
            RunFinishedEvent(thread_id=input.thread_id, run_id=input.run_id,
                             outcome=RunFinishedInterruptOutcome(interrupts=[asking])),
        ]

    async def _execute(self, entry: ResumeEntry) -> str:
        payload = entry.payload if isinstance(entry.payload, dict) else {}
        said = (entry.metadata or {}).get(KEY) or {}
        if entry.status != "resolved" or payload.get("approved") is not True:
            return str(said.get("refusal") or "Not run: not approved.")
        arguments = payload.get("editedArgs") or json.loads(self.arguments)
        try:
            async with ReceiptChecker(self.bot_url) as checker:
                await checker.check(said.get("receipt"), tool="send_email", arguments=arguments)
        except ReceiptError as error:
            return f"Not run: {error.reason}"
        self.sent.append(arguments)
        return f"sent to {arguments['to']}"


@asynccontextmanager
async def served(mailer: Mailer) -> AsyncIterator[str]:
    """`mailer` served on loopback: its URL (POST a `RunAgentInput`, read the SSE stream)."""

    async def handle(request: web.Request) -> web.StreamResponse:
        input = RunAgentInput.model_validate(await request.json())
        encoder = EventEncoder(accept=request.headers.get("Accept", ""))
        answer = web.StreamResponse(headers={"Content-Type": encoder.get_content_type()})
        await answer.prepare(request)
        async for event in mailer.run(input):
            await answer.write(encoder.encode(event).encode())
        await answer.write_eof()
        return answer

    app = web.Application()
    app.router.add_post("/", handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"http://127.0.0.1:{runner.addresses[0][1]}/"
    finally:
        await runner.cleanup()

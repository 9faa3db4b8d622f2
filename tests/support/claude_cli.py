"""A stand-in for the Claude Code CLI, as the Claude Agent SDK's custom `Transport`: it speaks the SDK's control
protocol (initialize, `can_use_tool` and `hook_callback` control requests, a result message) with a scripted
model, so tests drive the permission callback and the PreToolUse hook offline, without the CLI or a network.

The model makes its calls in order; a call the SDK allows runs the tool (`ran`); a denied one is told why
(`told`), and the model calls again while the words ask it to ("call ... again"), up to `retries` times."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from claude_agent_sdk import Transport


@dataclass
class ScriptedCLI(Transport):
    calls: list[tuple[str, dict[str, Any]]]
    tools: dict[str, Callable[..., str]]
    session_id: str = "session-1"
    hooks: bool = False  # ask through the PreToolUse hook (else through can_use_tool)
    retries: int = 100
    ran: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    told: list[str] = field(default_factory=list)  # every deny's words, in order
    asked: int = 0  # permission requests sent
    deferred: dict[str, Any] | None = None
    on_call: Callable[[], None] | None = None  # told each time the model hands over a call (benchmarks time it)

    def __post_init__(self) -> None:
        self._out: asyncio.Queue[dict[str, Any] | None] = asyncio.Queue()
        self._answers: dict[str, asyncio.Future[dict[str, Any]]] = {}
        self._hook_ids: list[str] = []
        self._ready = False
        self._script: asyncio.Task[None] | None = None

    # the Transport -------------------------------------------------------------------------------
    async def connect(self) -> None:
        self._ready = True

    def is_ready(self) -> bool:
        return self._ready

    async def end_input(self) -> None:
        return None

    async def close(self) -> None:
        self._ready = False
        if self._script is not None:
            self._script.cancel()
        self._out.put_nowait(None)

    async def read_messages(self) -> AsyncIterator[dict[str, Any]]:
        while (message := await self._out.get()) is not None:
            yield message

    async def write(self, data: str) -> None:
        message = json.loads(data)
        kind = message.get("type")
        if kind == "control_request":
            request = message["request"]
            if request.get("subtype") == "initialize":
                for matchers in (request.get("hooks") or {}).get("PreToolUse", []):
                    self._hook_ids += matchers["hookCallbackIds"]
            self._out.put_nowait({"type": "control_response", "response": {
                "subtype": "success", "request_id": message["request_id"], "response": {}}})
        elif kind == "control_response":
            answer = message["response"]
            future = self._answers.pop(answer["request_id"])
            future.set_result(answer)
        elif kind == "user" and self._script is None:
            self._script = asyncio.ensure_future(self._run())

    # the scripted model --------------------------------------------------------------------------
    async def _permission(self, name: str, arguments: dict[str, Any], n: int) -> tuple[str, str, dict[str, Any]]:
        """(decision, words, input) as the SDK answered the permission request for one call."""
        self.asked += 1
        if self.on_call is not None:
            self.on_call()
        request_id = f"req_{self.asked}"
        if self.hooks:
            request = {"subtype": "hook_callback", "callback_id": self._hook_ids[0], "tool_use_id": f"toolu_{n}",
                       "input": {"session_id": self.session_id, "transcript_path": "", "cwd": "/",
                                 "hook_event_name": "PreToolUse", "tool_name": name, "tool_input": arguments,
                                 "tool_use_id": f"toolu_{n}"}}
        else:
            request = {"subtype": "can_use_tool", "tool_name": name, "input": arguments,
                       "tool_use_id": f"toolu_{n}"}
        self._answers[request_id] = asyncio.get_running_loop().create_future()
        self._out.put_nowait({"type": "control_request", "request_id": request_id, "request": request})
        answer = await self._answers[request_id]
        if answer["subtype"] == "error":
            return "deny", f"error: {answer.get('error')}", arguments
        body = answer["response"]
        if self.hooks:
            out = body.get("hookSpecificOutput") or {}
            return str(out.get("permissionDecision")), str(out.get("permissionDecisionReason", "")), arguments
        return str(body["behavior"]), str(body.get("message", "")), dict(body.get("updatedInput") or arguments)

    async def _run(self) -> None:
        n = 0
        for name, arguments in self.calls:
            for _ in range(self.retries + 1):
                n += 1
                decision, words, given = await self._permission(name, arguments, n)
                if decision == "allow":
                    self.ran.append((name, given))
                    self.tools[name](**given)
                    break
                if decision == "defer":
                    self.deferred = {"id": f"toolu_{n}", "name": name, "input": arguments}
                    self._result("deferred")
                    return
                self.told.append(words)
                if "again" not in words:
                    break
        self._result("done")

    def _result(self, text: str) -> None:
        self._out.put_nowait({"type": "result", "subtype": "success", "duration_ms": 0, "duration_api_ms": 0,
                              "is_error": False, "num_turns": self.asked, "session_id": self.session_id,
                              "result": text, "deferred_tool_use": self.deferred})

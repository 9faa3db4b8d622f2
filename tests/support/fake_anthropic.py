"""A local stand-in for the Anthropic Messages API (`POST /v1/messages`, streamed as server-sent events or as
one JSON body), on loopback, for the real `claude` CLI at `ANTHROPIC_BASE_URL`.

The model is scripted by the prompt: each line `CALL <tool> <JSON arguments>` of the conversation's latest user
prompt that has such lines (a resumed session's new prompt, else the first) is one tool call, made in order, one
per turn (the next once the previous one's `tool_result` came back).
After the last, the model answers `RESULTS: <JSON>`: every tool result it read, `{"error": bool, "text": ...}`,
so a test reads from `claude -p --output-format json`'s `result` what the model was told. A request without
`CALL` lines (the CLI's own side requests) gets a short text. Every request's body is kept in `requests`."""

from __future__ import annotations

import json
import uuid
from typing import Any

from aiohttp import web

CALL = "CALL "


class FakeAnthropic:
    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self._runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> str:
        app = web.Application()
        app.router.add_post("/v1/messages", self._messages)
        app.router.add_route("*", "/{tail:.*}", self._other)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{self._runner.addresses[0][1]}"
        return self.url

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _other(self, request: web.Request) -> web.Response:
        return web.json_response({})  # the CLI's HEAD / and other probes

    async def _messages(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(body)
        blocks = _answer(body.get("messages") or [])
        if body.get("stream"):
            return await _stream(request, body, blocks)
        return web.json_response(_message(body, blocks, content=blocks))


def _answer(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The model's next turn: the next scripted call, or the results it read once all were made."""
    start, calls = _calls(messages)
    if not calls:
        return [{"type": "text", "text": "ok"}]
    results = _results(messages[start + 1:])
    if len(results) < len(calls):
        name, arguments = calls[len(results)]
        return [{"type": "tool_use", "id": f"toolu_{uuid.uuid4().hex[:20]}", "name": name, "input": arguments}]
    return [{"type": "text", "text": "RESULTS: " + json.dumps(results)}]


def _texts(content: Any) -> list[str]:
    if isinstance(content, str):
        return [content]
    return [str(b.get("text", "")) for b in content or [] if isinstance(b, dict) and b.get("type") == "text"]


def _calls(messages: list[dict[str, Any]]) -> tuple[int, list[tuple[str, dict[str, Any]]]]:
    """The index of the latest user prompt with `CALL` lines, and its calls ((0, []) when none has)."""
    for index in range(len(messages) - 1, -1, -1):
        if messages[index].get("role") != "user":
            continue
        calls: list[tuple[str, dict[str, Any]]] = []
        for text in _texts(messages[index].get("content")):
            for line in text.splitlines():
                if line.startswith(CALL):
                    name, _, arguments = line[len(CALL):].partition(" ")
                    calls.append((name, json.loads(arguments)))
        if calls:
            return index, calls
    return 0, []


def _results(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for message in messages:
        content = message.get("content")
        if message.get("role") != "user" or not isinstance(content, list):
            continue
        for block in content:
            if isinstance(block, dict) and block.get("type") == "tool_result":
                inner = block.get("content")
                text = "\n".join(_texts(inner)) if isinstance(inner, list) else str(inner or "")
                found.append({"error": bool(block.get("is_error")), "text": text})
    return found


def _message(body: dict[str, Any], blocks: list[dict[str, Any]], *, content: list[dict[str, Any]]) -> dict[str, Any]:
    tool = any(b["type"] == "tool_use" for b in blocks)
    return {"id": f"msg_{uuid.uuid4().hex[:20]}", "type": "message", "role": "assistant",
            "model": body.get("model", "claude"), "content": content,
            "stop_reason": "tool_use" if tool else "end_turn", "stop_sequence": None,
            "usage": {"input_tokens": 10, "output_tokens": 10}}


async def _stream(request: web.Request, body: dict[str, Any], blocks: list[dict[str, Any]]) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await response.prepare(request)

    async def send(event: str, data: dict[str, Any]) -> None:
        await response.write(f"event: {event}\ndata: {json.dumps({'type': event, **data})}\n\n".encode())

    start = _message(body, blocks, content=[])
    await send("message_start", {"message": {**start, "stop_reason": None}})
    for index, block in enumerate(blocks):
        if block["type"] == "tool_use":
            await send("content_block_start", {"index": index, "content_block": {**block, "input": {}}})
            delta = {"type": "input_json_delta", "partial_json": json.dumps(block["input"])}
        else:
            await send("content_block_start", {"index": index, "content_block": {"type": "text", "text": ""}})
            delta = {"type": "text_delta", "text": block["text"]}
        await send("content_block_delta", {"index": index, "delta": delta})
        await send("content_block_stop", {"index": index})
    await send("message_delta", {"delta": {"stop_reason": start["stop_reason"], "stop_sequence": None},
                                 "usage": {"output_tokens": 10}})
    await send("message_stop", {})
    await response.write_eof()
    return response

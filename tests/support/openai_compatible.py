"""A local server that speaks OpenAI's `chat/completions` protocol, as Ollama, vLLM and LiteLLM do: the
model of the tests that run the bot (or an agent) against an OpenAI-compatible endpoint, with no network.

It answers from a script (`text(...)`, `tool_call(...)`, `error(...)`, in order, one per request; `text(...,
delay=S)` a slow model's) and
records every request (`requests`: body and headers), so a test can check what the client sent: the
tools' JSON schemas, the tool results, `stream`, the key.

    async with OpenAICompatibleServer(tool_call("send_email", {...}), text("Sent.")) as server:
        config = openai_config(server.base_url, model="llama3.1")

Answers are shaped as OpenAI's: a `chat.completion` object (choices, message, tool_calls, finish_reason,
usage); with `stream: true`, server-sent events of `chat.completion.chunk` objects (the role, content in
pieces, tool calls as deltas with their index and argument fragments, the finish reason, then a usage
chunk with no choices when `stream_options.include_usage` is set) and `data: [DONE]`; errors as
`{"error": {"message", "type", "param", "code"}}` with their HTTP status.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web

DUMMY_KEY = "sk-local-not-a-real-key-7f3a9c"
MODEL_INFO = {
    "vision": False,
    "function_calling": True,
    "json_output": True,
    "family": "unknown",
    "structured_output": True,
}
PIECE = 7  # characters of content, or of a tool call's arguments, per streamed chunk


@dataclass(frozen=True)
class Answer:
    """One scripted answer: a message (text and/or tool calls) with its usage, or an HTTP error."""

    content: str | None = None
    tool_calls: tuple[tuple[str, str, str], ...] = ()  # (id, name, arguments as JSON text)
    prompt_tokens: int = 0
    completion_tokens: int = 0
    status: int = 200
    error_type: str = ""
    error_code: str | None = None
    retry_after: str | None = None
    delay: float = 0.0  # seconds the server holds the answer back (a slow model, past a client's timeout)


def text(content: str, *, prompt_tokens: int = 31, completion_tokens: int = 9, delay: float = 0.0) -> Answer:
    """The model answers `content` (after `delay` seconds: a slow model)."""
    return Answer(content=content, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens, delay=delay)


def tool_call(
    name: str,
    arguments: dict[str, Any] | str,
    *,
    call_id: str = "call_1",
    content: str | None = None,
    prompt_tokens: int = 57,
    completion_tokens: int = 23,
) -> Answer:
    """The model calls the tool `name` with `arguments` (a dict, or raw JSON text as a model may write it)."""
    raw = arguments if isinstance(arguments, str) else json.dumps(arguments)
    return Answer(
        content=content,
        tool_calls=((call_id, name, raw),),
        prompt_tokens=prompt_tokens,
        completion_tokens=completion_tokens,
    )


def error(
    status: int, message: str, *, type: str = "server_error", code: str | None = None, retry_after: str | None = None
) -> Answer:
    """The server fails this request as OpenAI does (400 invalid_request_error, 429 rate limit, 500...)."""
    return Answer(content=message, status=status, error_type=type, error_code=code, retry_after=retry_after)


def openai_config(
    base_url: str, *, model: str = "llama3.1", api_key: str = DUMMY_KEY, **more: Any
) -> dict[str, Any]:
    """A MODEL_CONFIG as users of Ollama, vLLM or LiteLLM write it: AutoGen's OpenAI client at `base_url`, a
    model name OpenAI does not know, a dummy key, and `model_info` (which such a model needs)."""
    config = {"model": model, "base_url": base_url, "api_key": api_key, "model_info": MODEL_INFO} | more
    return {"provider": "autogen_ext.models.openai.OpenAIChatCompletionClient", "config": config}


@dataclass
class Request:
    """A request the server received."""

    path: str
    body: dict[str, Any]
    headers: dict[str, str]


class OpenAICompatibleServer:
    """`POST /v1/chat/completions` and `GET /v1/models` on loopback, answering from a script."""

    def __init__(self, *answers: Answer) -> None:
        self.script: deque[Answer] = deque(answers)
        self.requests: list[Request] = []
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._ids = itertools.count(1)

    def add(self, *answers: Answer) -> None:
        self.script.extend(answers)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._port}/v1"

    @property
    def completions(self) -> list[dict[str, Any]]:
        """The bodies of the chat completion requests, in order."""
        return [r.body for r in self.requests if r.path.endswith("/chat/completions")]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self._port = self._runner.addresses[0][1]

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def __aenter__(self) -> OpenAICompatibleServer:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # handlers ---------------------------------------------------------------------------
    async def _models(self, request: web.Request) -> web.Response:
        self.requests.append(Request(request.path, {}, dict(request.headers)))
        if not _authorized(request):
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        seen = sorted({str(b.get("model")) for b in self.completions if b.get("model")} or {"llama3.1"})
        data = [{"id": name, "object": "model", "created": 0, "owned_by": "local"} for name in seen]
        return web.json_response({"object": "list", "data": data})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        try:
            body = await request.json()
        except ValueError:
            body = None
        self.requests.append(Request(request.path, body if isinstance(body, dict) else {}, dict(request.headers)))
        if not _authorized(request):
            return _error(401, "Incorrect API key provided.", "invalid_request_error", "invalid_api_key")
        if not isinstance(body, dict) or not isinstance(body.get("messages"), list) or not body.get("model"):
            return _error(400, "'model' and 'messages' are required properties", "invalid_request_error", None)
        options = body.get("stream_options")
        if options is not None and not body.get("stream"):
            return _error(
                400,
                "The 'stream_options' parameter is only allowed when 'stream' is enabled.",
                "invalid_request_error",
                None,
            )
        if not self.script:
            return _error(500, "the test scripted no answer for this request", "server_error", None)
        answer = self.script.popleft()
        if answer.delay:
            await asyncio.sleep(answer.delay)  # the model is slow: the client's own timeout is what is tested
        if answer.status != 200:
            headers = {"Retry-After": answer.retry_after} if answer.retry_after else None
            return _error(answer.status, answer.content or "", answer.error_type, answer.error_code, headers)
        completion_id = f"chatcmpl-local{next(self._ids)}"
        model = str(body["model"])
        if body.get("stream"):
            usage = isinstance(options, dict) and bool(options.get("include_usage"))
            return await self._stream(request, answer, completion_id, model, include_usage=usage)
        return web.json_response(_completion(answer, completion_id, model))

    async def _stream(
        self, request: web.Request, answer: Answer, completion_id: str, model: str, *, include_usage: bool
    ) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
        await response.prepare(request)
        created = int(time.time())

        async def send(delta: dict[str, Any], finish_reason: str | None = None, **extra: Any) -> None:
            chunk: dict[str, Any] = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_local",
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}],
            }
            if include_usage:
                chunk["usage"] = None
            chunk.update(extra)
            await response.write(f"data: {json.dumps(chunk)}\n\n".encode())

        if answer.tool_calls:
            await send({"role": "assistant", "content": answer.content, "refusal": None})
            for index, (call_id, name, arguments) in enumerate(answer.tool_calls):
                function = {"name": name, "arguments": ""}
                await send({"tool_calls": [{"index": index, "id": call_id, "type": "function", "function": function}]})
                for piece in _pieces(arguments):
                    await send({"tool_calls": [{"index": index, "function": {"arguments": piece}}]})
        else:
            await send({"role": "assistant", "content": "", "refusal": None})
            for piece in _pieces(answer.content or ""):
                await send({"content": piece})
        await send({}, "tool_calls" if answer.tool_calls else "stop")
        if include_usage:
            usage_chunk = {
                "id": completion_id,
                "object": "chat.completion.chunk",
                "created": created,
                "model": model,
                "system_fingerprint": "fp_local",
                "choices": [],
                "usage": _usage(answer),
            }
            await response.write(f"data: {json.dumps(usage_chunk)}\n\n".encode())
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response


def _authorized(request: web.Request) -> bool:
    return request.headers.get("Authorization", "").startswith("Bearer ") and len(request.headers["Authorization"]) > 7


def _pieces(text: str) -> list[str]:
    return [text[i : i + PIECE] for i in range(0, len(text), PIECE)]


def _usage(answer: Answer) -> dict[str, int]:
    return {
        "prompt_tokens": answer.prompt_tokens,
        "completion_tokens": answer.completion_tokens,
        "total_tokens": answer.prompt_tokens + answer.completion_tokens,
    }


def _completion(answer: Answer, completion_id: str, model: str) -> dict[str, Any]:
    message: dict[str, Any] = {"role": "assistant", "content": answer.content, "refusal": None}
    if answer.tool_calls:
        message["tool_calls"] = [
            {"id": call_id, "type": "function", "function": {"name": name, "arguments": arguments}}
            for call_id, name, arguments in answer.tool_calls
        ]
    return {
        "id": completion_id,
        "object": "chat.completion",
        "created": int(time.time()),
        "model": model,
        "system_fingerprint": "fp_local",
        "choices": [
            {
                "index": 0,
                "message": message,
                "logprobs": None,
                "finish_reason": "tool_calls" if answer.tool_calls else "stop",
            }
        ],
        "usage": _usage(answer),
    }


def _error(
    status: int, message: str, type: str, code: str | None, headers: dict[str, str] | None = None
) -> web.Response:
    body = {"error": {"message": message, "type": type, "param": None, "code": code}}
    return web.json_response(body, status=status, headers=headers)

"""An ASGI application served under aiohttp (the MCP SDK's streamable HTTP transport behind `/slack/mcp`).

Its lifespan runs beside the aiohttp app's: started on start-up, ended on clean-up, in a task of its own (anyio's task
group and cancel scopes are entered and left in one task, as the ASGI lifespan protocol intends). A request is passed
in with its body already read (the endpoint checks Slack's signature over the raw bytes first, so the body is given
again as it came), and extra keys for the scope (what the endpoint learnt of its caller); the answer is streamed back
as the application sends it. Not aiohttp-asgi: that one reads the request itself (the body is read already here),
and brings a dependency (forklib) for what is some fifty lines."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from multidict import CIMultiDict

Message = dict[str, Any]


class AsgiMount:
    """`app` (an ASGI 3 application), mounted under aiohttp: `mount(web_app)` runs its lifespan with the app's, and
    `serve(request, body, ...)` answers one HTTP request with it."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self._events: asyncio.Queue[Message] = asyncio.Queue()
        self._said: asyncio.Queue[Message] = asyncio.Queue()
        self._lifespan: asyncio.Task[None] | None = None

    def mount(self, web_app: web.Application) -> None:
        web_app.on_startup.append(self._start)
        web_app.on_cleanup.append(self._stop)

    async def _start(self, _: web.Application) -> None:
        self._lifespan = asyncio.create_task(self._run_lifespan(), name="asgi-lifespan")
        await self._events.put({"type": "lifespan.startup"})
        said = await self._said.get()
        if said["type"] != "lifespan.startup.complete":
            raise RuntimeError(f"the ASGI application did not start: {said.get('message') or said['type']}")

    async def _stop(self, _: web.Application) -> None:
        if self._lifespan is None or self._lifespan.done():
            return
        await self._events.put({"type": "lifespan.shutdown"})
        await self._said.get()
        await self._lifespan

    async def _run_lifespan(self) -> None:
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"}, "state": {}}
        try:
            await self.app(scope, self._events.get, self._said.put)
        except Exception as exc:  # an app that takes no lifespan, or fails in it: its start-up is what fails
            await self._said.put({"type": "lifespan.startup.failed", "message": repr(exc)})

    async def serve(self, request: web.Request, body: bytes, *, headers: Mapping[str, str] | None = None,
                    scope: Mapping[str, Any] | None = None) -> web.StreamResponse:
        """`request` (its `body` read already) answered by the application; `headers` in place of the request's,
        and `scope`'s keys added to its ASGI scope."""
        answer = Answer(request)
        sent = asyncio.Event()

        async def receive() -> Message:
            if not sent.is_set():
                sent.set()
                return {"type": "http.request", "body": body, "more_body": False}
            await answer.done.wait()  # (an application that watches for the client leaving: it stays till the end)
            return {"type": "http.disconnect"}

        try:
            await self.app({**scope_of(request, request.headers if headers is None else headers), **(scope or {})},
                           receive, answer.send)
        finally:
            answer.done.set()
        return await answer.finished()


class Answer:
    """The aiohttp response an ASGI application's `send` messages make, streamed as they come."""

    def __init__(self, request: web.Request) -> None:
        self.request = request
        self.response: web.StreamResponse | None = None
        self.done = asyncio.Event()
        self._prepared = False

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            headers: CIMultiDict[str] = CIMultiDict()
            for name, value in message.get("headers", []):
                headers.add(name.decode("latin-1"), value.decode("latin-1"))
            self.response = web.StreamResponse(status=int(message["status"]), headers=headers)
        elif message["type"] == "http.response.body":
            if self.response is None:
                raise RuntimeError("the ASGI application sent a body before its answer's start")
            if not self._prepared:
                await self.response.prepare(self.request)
                self._prepared = True
            await self.response.write(message.get("body", b""))
            if not message.get("more_body", False):
                await self.response.write_eof()

    async def finished(self) -> web.StreamResponse:
        if self.response is None:  # the application sent nothing
            return web.Response(status=500, text="no answer")
        if not self._prepared:
            await self.response.prepare(self.request)
            await self.response.write_eof()
        return self.response


def scope_of(request: web.Request, headers: Mapping[str, str]) -> dict[str, Any]:
    """The ASGI HTTP scope of an aiohttp request (`headers` as given)."""
    peer = request.transport.get_extra_info("peername") if request.transport is not None else None
    host, _, port = (request.host or "").rpartition(":")
    return {
        "type": "http", "asgi": {"version": "3.0", "spec_version": "2.3"},
        "http_version": f"{request.version.major}.{request.version.minor}", "method": request.method,
        "scheme": request.scheme, "path": request.path, "raw_path": request.raw_path.split("?")[0].encode(),
        "query_string": request.query_string.encode(), "root_path": "",
        "headers": [(name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers.items()],
        "client": tuple(peer[:2]) if isinstance(peer, tuple) else None,
        "server": (host, int(port)) if port.isascii() and port.isdigit() else None, "state": {},
    }

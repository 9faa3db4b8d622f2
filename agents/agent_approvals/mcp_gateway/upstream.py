"""The MCP server behind the gateway: started (a command over stdio) or reached (streamable HTTP), initialized, and
held by a task of its own, so its failing ends that connection, not the gateway."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from agent_approvals._extras import missing_extra

try:
    import anyio
    import httpx2
    from mcp import types
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters, stdio_client
    from mcp.client.streamable_http import streamable_http_client
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "mcp", exc) from exc

log = logging.getLogger("agent_approvals.mcp_gateway")


@dataclass(frozen=True, slots=True)
class Upstream:
    """The MCP server behind the gateway: a `command` (stdio, with `env` as all of its environment besides
    the SDK's safe defaults: PATH, HOME…) or a streamable HTTP `url` (sent `headers`, e.g. its Authorization)."""

    command: Sequence[str] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    url: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    start_timeout: float = 30.0

    @property
    def label(self) -> str:
        return self.url or " ".join(self.command[:1])


@dataclass(slots=True)
class Connected:
    """An upstream session once initialized, or why there is none (`problem`)."""

    session: ClientSession | None
    info: types.InitializeResult | None = None
    problem: str = ""


@contextlib.asynccontextmanager
async def connect(upstream: Upstream) -> AsyncIterator[Connected]:
    """The upstream, started and initialized; on failure a `Connected` with the `problem` (logged), so the
    gateway still serves its client and answers each request with that error. The connection is held by a
    task of its own: its transport failing (now or later) ends that connection, not the gateway."""
    ready: asyncio.Future[Connected] = asyncio.get_running_loop().create_future()
    stop = asyncio.Event()
    holder = asyncio.create_task(_hold(upstream, ready, stop))
    try:
        yield await ready
    finally:
        stop.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait_for(holder, upstream.start_timeout)


async def _hold(upstream: Upstream, ready: asyncio.Future[Connected], stop: asyncio.Event) -> None:
    noise: list[str] = []
    connected = Connected(None)

    async def heard(message: Any) -> None:  # what the upstream wrote that is not MCP
        if isinstance(message, Exception):
            noise.append(" ".join(str(message).split())[:200])
            log.warning("the upstream MCP server %s wrote something that is not MCP: %s", upstream.label, noise[-1])

    try:
        async with contextlib.AsyncExitStack() as stack:
            if upstream.url:
                http = await stack.enter_async_context(httpx2.AsyncClient(
                    headers=dict(upstream.headers), timeout=httpx2.Timeout(30.0, read=300.0)))
                read, write = await stack.enter_async_context(streamable_http_client(upstream.url, http_client=http))
            else:
                if not upstream.command:
                    raise ValueError("give the upstream MCP server's command (after --) or --upstream-url")
                params = StdioServerParameters(command=upstream.command[0], args=list(upstream.command[1:]),
                                               env=dict(upstream.env))
                read, write = await stack.enter_async_context(stdio_client(params))
            session = await stack.enter_async_context(ClientSession(read, write, message_handler=heard))
            with anyio.fail_after(upstream.start_timeout):
                connected.info = await session.initialize()
            connected.session = session
            log.info("upstream %s (%s) started", connected.info.server_info.name, upstream.label)
            ready.set_result(connected)
            await stop.wait()
    except Exception as exc:  # any failure is told to the client (the next request), not raised
        connected.session, connected.problem = None, _why(exc, upstream, noise)
        if not ready.done():
            log.error("the upstream MCP server did not start: %s", connected.problem)
            ready.set_result(connected)
        elif not stop.is_set():
            log.error("the connection to the upstream MCP server ended: %s", connected.problem)
    connected.session = None


def _why(exc: BaseException, upstream: Upstream, noise: list[str]) -> str:
    """One line on why the upstream did not start (an exception group: its first leaf)."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    if isinstance(exc, TimeoutError):
        what = f"no answer to initialize within {upstream.start_timeout:g}s"
    elif isinstance(exc, FileNotFoundError):
        what = f"no such command: {upstream.command[0] if upstream.command else '?'}"
    else:
        what = str(exc) or type(exc).__name__
    said = f" (it wrote: {noise[-1]})" if noise else ""
    return f"{upstream.label}: {what}{said}"

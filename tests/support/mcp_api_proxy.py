"""An HTTP proxy between the MCP gateway and the bot's Approvals API that holds each withdrawal (`DELETE
/api/v1/approvals/{id}`) until an approval's use (`POST .../use`) has been answered, or `hold_for` seconds
passed: it opens the window in which a `tasks/cancel` awaits its withdrawal while something else may use the
approval, so a race that is rare on a quiet machine happens in every round."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

FORWARDED_HEADERS = ("Authorization", "Idempotency-Key", "Content-Type", "User-Agent", "X-Agent-Approvals-Client")


class WithdrawalHolder:
    def __init__(self, upstream: str, *, hold_for: float = 2.0) -> None:
        self.upstream = upstream.rstrip("/")
        self.hold_for = hold_for
        self.used = asyncio.Event()  # a use was answered since the last withdrawal was let through
        self.held = 0  # withdrawals held until a use, or hold_for
        self._http: aiohttp.ClientSession | None = None

    async def forward(self, request: web.Request) -> web.Response:
        assert self._http is not None
        if request.method == "DELETE":
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.used.wait(), self.hold_for)  # (fault injection: a slow withdrawal)
            self.held += 1
            self.used.clear()
        headers = {k: request.headers[k] for k in FORWARDED_HEADERS if k in request.headers}
        async with self._http.request(request.method, self.upstream + request.path_qs, headers=headers,
                                      data=await request.read()) as answer:
            body = await answer.read()
            kept = {k: v for k, v in answer.headers.items() if k in ("Content-Type", "Retry-After")}
        if request.method == "POST" and request.path.endswith("/use"):
            self.used.set()
        return web.Response(status=answer.status, body=body, headers=kept)


@contextlib.asynccontextmanager
async def holding_withdrawals(upstream: str, *, hold_for: float = 2.0) -> AsyncIterator[tuple[str, WithdrawalHolder]]:
    """(the proxy's URL, the holder) in front of the bot at `upstream`."""
    holder = WithdrawalHolder(upstream, hold_for=hold_for)
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", holder.forward)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as http:
        holder._http = http
        try:
            yield f"http://127.0.0.1:{port}", holder
        finally:
            await runner.cleanup()

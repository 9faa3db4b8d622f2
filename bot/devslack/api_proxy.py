"""``/api/v1/*`` of the stand-in's server: the bot worker's Approvals API, forwarded, so that in dev mode the page and
the API share one port (``AGENT_APPROVALS_URL`` is the page's URL); ``/step-up/*``, the worker's passkey pages, too,
and its other pages (``/reveal/*``, ``/signin/*``, ``/attest/*``, ``/approvals/*``: an approval's details and
its whole change; ``/email/*``: an e-mail's Review-and-decide link; ``/app/*`` and ``/push/*``: the web app, the
devices page and a push's confirm page)
(opened at ``http://localhost:<port>``: browsers refuse an IP address as a passkey's site).

Each request goes to ``upstream`` (the worker's base URL) with its method, path, query (``?wait=`` long polls too),
headers and body; the answer comes back with its status, headers and body as the worker sent them, the body
streamed. Only hop-by-hop headers are left out on both ways. Without an upstream (the worker not started yet, or
gone) the answer is 503 with a JSON error in the API's shape. A program that hangs up (killed mid long-poll) is
closed, and so is its request to the worker (the worker logs one line): no traceback.
"""

from __future__ import annotations

import asyncio
import json
import logging

import aiohttp
from aiohttp import web

API_PREFIX = "/api/v1"
STEP_UP_PREFIX = "/step-up"  # the worker's passkey pages, forwarded the same way (one origin for the browser)
# the worker's pages, forwarded so: passkeys, the reveal page, the brief pages, an approval's pages, the return
# from Sign in with Slack, an e-mail's Review-and-decide link (dev --email: the "Mail" pane's links), the web app and
# a push's confirm page (dev --push: the "Phone" pane's actions)
PAGE_PREFIXES = (STEP_UP_PREFIX, "/reveal", "/signin", "/attest", "/approvals", "/email", "/push", "/app")
# RFC 9110 7.6.1: meaningful for one connection only; the client session and our server set their own
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "host",
        "content-length",
    }
)
CONNECT_TIMEOUT = 5.0
GONE_CHECK = 0.5  # seconds between looks at whether the program is still connected

log = logging.getLogger(__name__)


class ApiProxy:
    """Forwards ``/api/v1/*`` to the worker at `upstream` (None: not there)."""

    def __init__(self) -> None:
        self.upstream: str | None = None
        self._session: aiohttp.ClientSession | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            # no total or read timeout: a long poll takes as long as its ?wait= (the worker bounds it)
            timeout = aiohttp.ClientTimeout(total=None, sock_connect=CONNECT_TIMEOUT, sock_read=None)
            self._session = aiohttp.ClientSession(
                timeout=timeout, auto_decompress=False, cookie_jar=aiohttp.DummyCookieJar()
            )
        return self._session

    async def close(self) -> None:
        if self._session is not None:
            session, self._session = self._session, None
            await session.close()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        """The worker's answer, forwarded; given up (and the worker's request closed, which frees its long-poll)
        when the program hangs up: a program killed mid-wait is normal, one line (the worker's), no traceback."""
        upstream = self.upstream
        if not upstream:
            return _unavailable("the bot worker is not running yet")
        forwarding = asyncio.ensure_future(self._forward(request, upstream))
        try:
            while True:
                done, _ = await asyncio.wait({forwarding}, timeout=GONE_CHECK)
                if done:
                    return forwarding.result()
                if _gone(request):
                    return _hung_up(request)
        finally:
            forwarding.cancel()

    async def _forward(self, request: web.Request, upstream: str) -> web.StreamResponse:
        url = upstream.rstrip("/") + request.rel_url.raw_path_qs  # path and query exactly as sent
        headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
        body = request.content if request.body_exists else None
        response: web.StreamResponse | None = None
        try:
            async with self.session().request(
                request.method, url, headers=headers, data=body, allow_redirects=False
            ) as answer:
                response = web.StreamResponse(status=answer.status, reason=answer.reason)
                for name, value in answer.headers.items():
                    if name.lower() not in HOP_BY_HOP:
                        response.headers.add(name, value)
                if answer.content_length is not None:
                    response.content_length = answer.content_length
                await response.prepare(request)
                async for chunk in answer.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
                return response
        except (aiohttp.ClientConnectionError, aiohttp.ClientPayloadError) as exc:
            if _gone(request):  # the program, not the worker: nobody reads this answer
                return _hung_up(request)
            if response is not None and response.prepared:
                raise  # the worker stopped mid-answer: the program sees its connection cut, as it would there
            return _unavailable(f"the bot worker did not answer ({type(exc).__name__})")


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


def _hung_up(request: web.Request) -> web.Response:
    log.debug("API %s %s: the program hung up before its answer (a long-poll it no longer waits for)",
             request.method, request.path)
    return web.Response(status=499, reason="Client Closed Request")  # written to nobody: aiohttp drops it quietly


def _unavailable(message: str) -> web.Response:
    body = {"error": {"code": "unavailable", "message": message}}
    return web.Response(status=503, text=json.dumps(body), content_type="application/json",
                        headers={"Retry-After": "1"})

"""The client's one boundary with HTTP (httpx): the bot's base URL, each call retried across its workers, and what
comes back mapped to one small tree of errors, `ApprovalsError` and its kinds. Nothing of httpx gets past it: no
answer at all is `Unreachable`, one line naming the URL.

Each call carries the caller's trace (the W3C `traceparent` of the current OpenTelemetry span, when the
`opentelemetry-api` package is installed: the `otel` extra), so the bot's spans of the approval and of the
person's wait are inside the agent's own trace.

A call is retried through connection errors, 502/503/504 and a worker that died mid-request, on the next URL if
several are given, for `retry_for` seconds; but while no bot has answered this wire, a URL is tried only
`FIRST_TRIES` times (nothing listening there is a wrong URL or a bot not started, said at once, not after a minute
of silence). After the bot has answered, a refused connection is a restart or a deploy, retried as above.
Between tries it pauses `retry_backoff` seconds (0.2 by default), then twice as long each time, at most 5 s, each
pause jittered down to half.
"""

from __future__ import annotations

import asyncio
import functools
import os
import random
import ssl
import time
from collections.abc import Sequence
from typing import Any

import httpx

RETRY_STATUSES = frozenset({502, 503, 504})
FIRST_TRIES = 3  # tries of each URL before a bot that never answered is called unreachable
API_PATH = "/api/v1"
VERSION = "0.9.0.dev0"  # the package's (agent_approvals.__version__): sent in the User-Agent, for the bot's operators
# which client asks, name/version (python; mcp and claude-code: the bot counts their asks as ways in of their own)
CLIENT_HEADER = "X-Agent-Approvals-Client"


class ApprovalsError(Exception):
    """The API refused a request: its HTTP status, error code, message and the field at fault."""

    def __init__(self, status: int, code: str, message: str, *, field: str = "", retry_after: float = 0) -> None:
        super().__init__(f"{status} {code}: {message}" + (f" (field {field})" if field else ""))
        self.status, self.code, self.message, self.field, self.retry_after = status, code, message, field, retry_after


class Unreachable(ApprovalsError):
    """No HTTP answer from the bot at `url` (nothing listens there, the name does not resolve, the connection
    was refused, dropped or timed out, every try): `status` 0. Said in one line, e.g. "the approvals bot at
    http://localhost:3000 is unreachable (ConnectError: Connection refused): is it running, and is this its
    URL?"."""

    def __init__(self, url: str, why: str) -> None:
        super().__init__(0, "unreachable", f"the approvals bot at {url} is unreachable ({why}): is it running, and"
                                           " is this its URL?")
        self.url = url

    def __str__(self) -> str:
        return self.message


class InvalidRequest(ApprovalsError):
    """400: what was sent is wrong (`field` names it)."""


class BadKey(ApprovalsError):
    """401: the key is missing, wrong or revoked."""


class OutOfScope(ApprovalsError):
    """403: the key may not ask in that channel."""


class NotFound(ApprovalsError):
    """404: no such approval of this key."""


class LimitReached(ApprovalsError):
    """429: a limit of the key (requests per minute, approvals pending); `retry_after` seconds."""


_ERRORS: dict[int, type[ApprovalsError]] = {400: InvalidRequest, 401: BadKey, 403: OutOfScope, 404: NotFound,
                                            429: LimitReached}


def base_url(url: str) -> str:
    """The bot's base URL as the client joins paths to it: without a trailing `/` or `/api/v1` (the API's own
    prefix, which the client adds), so `https://approvals.example.com/api/v1/` and `https://approvals.example.com`
    are the same bot. A URL that is not http(s) raises ValueError, saying so."""
    base = url.strip()
    scheme, _, rest = base.partition("://")
    if scheme.lower() not in ("http", "https") or not rest.strip("/"):
        raise ValueError(f"the bot's URL must start with http:// or https:// and name a host: {url!r}")
    base = base.rstrip("/")
    if base.lower().endswith(API_PATH):
        base = base[: -len(API_PATH)].rstrip("/")
    return base


@functools.cache
def tls_context(cert_file: str | None, cert_dir: str | None) -> ssl.SSLContext:
    """The TLS context of a process's clients for the `SSL_CERT_FILE` and `SSL_CERT_DIR` they see (httpx's own:
    those, else certifi's authorities), made once: loading the authorities takes 20 to 80 ms of CPU, which each
    client made again. (The arguments key the cache; httpx reads the environment itself.)"""
    return httpx.create_ssl_context()


class Wire:
    """The HTTP side of one `ApprovalsClient`: its workers' base URLs (`base_url`), its key, its retries."""

    def __init__(self, urls: Sequence[str], key: str, *, retry_for: float, timeout: httpx.Timeout,
                 retry_backoff: float = 0.2, transport: httpx.AsyncBaseTransport | None = None,
                 client: str = "python") -> None:
        self.urls = [base_url(u) for u in urls]
        if not self.urls:
            raise ValueError("give the bot's URL")
        if not retry_backoff > 0:
            raise ValueError(f"retry_backoff must be a positive number of seconds, not {retry_backoff!r}")
        self.retry_for = retry_for
        self.retry_backoff = retry_backoff  # the first pause between tries; each next one twice as long, up to 5 s
        self._next = 0  # the URL to try next
        self._answered = False  # whether a bot has answered (then a refused connection is a restart)
        self._http = httpx.AsyncClient(
            headers={"Authorization": f"Bearer {key}", "User-Agent": f"agent-approvals/{VERSION}",
                     CLIENT_HEADER: f"{client}/{VERSION}"},
            timeout=timeout, transport=transport,
            verify=tls_context(os.environ.get("SSL_CERT_FILE"), os.environ.get("SSL_CERT_DIR")),
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    async def call(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        """One call's answer (a JSON object), retried as the module docstring says; else an `ApprovalsError`."""
        give_up = time.monotonic() + self.retry_for
        delay, tries = self.retry_backoff, 0
        traced = trace_headers()
        if traced:
            kwargs["headers"] = {**traced, **(kwargs.get("headers") or {})}
        while True:
            base = self.urls[self._next % len(self.urls)]
            try:
                response = await self._http.request(method, base + path, **kwargs)
            except httpx.TransportError as exc:  # (timeouts too)
                tries += 1
                if time.monotonic() >= give_up or (not self._answered and tries >= FIRST_TRIES * len(self.urls)):
                    raise Unreachable(", ".join(self.urls), _why(exc)) from None
                self._next += 1  # another worker, if there is one
            else:
                self._answered = True
                if 200 <= response.status_code < 300:  # only 2xx: a redirect's body is never read as an answer
                    return _body(response, base, method, path)
                if response.status_code < 400:
                    raise _not_the_api(response.status_code, base, method, path)
                if response.status_code not in RETRY_STATUSES or time.monotonic() >= give_up:
                    raise _error(response, base, method, path)
                self._next += 1
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, 5.0)


def trace_headers() -> dict[str, str]:
    """The caller's current trace as W3C headers (`traceparent`, `tracestate`): none without `opentelemetry-api`
    or outside a span."""
    try:
        from opentelemetry import propagate
    except ImportError:
        return {}
    carrier: dict[str, str] = {}
    propagate.inject(carrier)
    return carrier


def _why(exc: httpx.TransportError) -> str:
    """What went wrong with a try, in a few words on one line: "ConnectError: Connection refused" (the system's
    words for the error under httpx's, when there is one), "ReadTimeout"."""
    said = " ".join(str(exc).split())[:160]
    cause: BaseException | None = exc
    for _ in range(10):  # (httpx's error, httpcore's, anyio's, the socket's)
        if isinstance(cause, OSError) and cause.errno is not None:
            said = os.strerror(cause.errno) if cause.errno > 0 else str(cause.strerror or said)
            break
        cause = None if cause is None else cause.__cause__ or cause.__context__
    return f"{type(exc).__name__}: {said}" if said else type(exc).__name__


def _not_the_api(status: int, base: str, method: str, path: str) -> ApprovalsError:
    kind = _ERRORS.get(status, ApprovalsError)
    return kind(status, "not_the_api", f"{base} answered {method} {path} with HTTP {status}, not as the Approvals API"
                " does: is it the bot's URL (its address, without /api/v1 or other paths)?")


def _body(response: httpx.Response, base: str, method: str, path: str) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise _not_the_api(response.status_code, base, method, path)
    return body


def _error(response: httpx.Response, base: str, method: str, path: str) -> ApprovalsError:
    try:
        body = response.json()
    except ValueError:
        body = None
    error = body.get("error") if isinstance(body, dict) else None
    if not isinstance(error, dict):
        if response.status_code in (404, 405):  # no such route: not the bot, or not its base URL
            return _not_the_api(response.status_code, base, method, path)
        error = {}
    kind = _ERRORS.get(response.status_code, ApprovalsError)
    try:
        retry_after = float(response.headers.get("Retry-After") or 0)
    except ValueError:
        retry_after = 0.0
    message = str(error.get("message") or " ".join(response.text[:200].split()) or f"HTTP {response.status_code}")
    return kind(response.status_code, str(error.get("code") or "error"), message,
                field=str(error.get("field") or ""), retry_after=retry_after)

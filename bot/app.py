"""App factories: the Bolt app and the aiohttp server around it (`POST /slack/events`, `GET /healthz`)."""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from typing import Any

import aiohttp
from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST
from redis.exceptions import RedisError
from slack_bolt.adapter.aiohttp import to_aiohttp_response
from slack_bolt.async_app import AsyncApp
from slack_bolt.middleware.authorization.async_single_team_authorization import AsyncSingleTeamAuthorization
from slack_bolt.request.async_request import AsyncBoltRequest
from slack_sdk.errors import SlackApiError
from slack_sdk.signature import SignatureVerifier

from bot import listeners
from bot.gate import parse
from bot.services import Services, create_services
from bot.settings import Settings

log = logging.getLogger(__name__)

# Connections the kernel queues for a worker before it accepts them. aiohttp's default, 128, drops
# the SYNs of a larger burst (200 reviewers clicking at once): their clients retry after 1 s.
LISTEN_BACKLOG = 1024

SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
BOLT: web.AppKey[AsyncApp] = web.AppKey("bolt", AsyncApp)


def create_bolt_app(services: Services) -> AsyncApp:
    """The Bolt app with our listeners. Over HTTP, `create_web_app` verifies every request's signature
    before anything parses it (Bolt's own check would repeat it); Socket Mode needs none.

    `process_before_response=True`: handlers do only Redis work before returning and push Slack
    calls to the background, so Bolt answers as soon as they return (no 10 ms ack polling).
    """
    app = AsyncApp(
        client=services.slack,
        signing_secret=services.settings.slack_signing_secret,
        process_before_response=True,
        request_verification_enabled=False,  # `create_web_app` verifies every request once, before parsing
        logger=logging.getLogger("slack_bolt"),
    )
    listeners.register(app, services)
    return app


def create_web_app(settings: Settings, *, services: Services | None = None) -> web.Application:
    """The HTTP server of one worker. Services start with the server and stop with it."""
    services = services or create_services(settings)
    bolt = create_bolt_app(services)
    verifier = SignatureVerifier(settings.slack_signing_secret)
    web_app = web.Application(client_max_size=1024 * 1024)
    web_app[SERVICES] = services
    web_app[BOLT] = bolt

    async def slack_events(request: web.Request) -> web.Response:
        body = await request.text()
        if not verifier.is_valid_request(body, dict(request.headers)):  # forged, unsigned or > 5 min old
            return web.json_response({"error": "invalid request"}, status=401)
        parsed = parse(body)
        if isinstance(parsed, str):
            log.info("refused a malformed request: %s", parsed)
            return web.json_response({"error": "malformed request"}, status=400)
        bolt_request = parsed_request(parsed, raw=body, query=request.query_string, headers=dict(request.headers))
        return await to_aiohttp_response(await bolt.async_dispatch(bolt_request))

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response(await health(services))

    async def on_startup(_: web.Application) -> None:
        await services.start()
        await warm_authorization(bolt, services)

    async def on_cleanup(_: web.Application) -> None:
        await services.close()

    web_app.router.add_post("/slack/events", slack_events)

    async def metrics(request: web.Request) -> web.Response:
        body = await services.metrics.render(lambda: services.redis.zcard(services.store.deadlines_key))
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    web_app.router.add_get("/healthz", healthz)
    web_app.router.add_get("/metrics", metrics)
    web_app.on_startup.append(on_startup)
    web_app.on_cleanup.append(on_cleanup)
    return web_app


def parsed_request(parsed: dict[str, Any], *, raw: str, query: str, headers: dict[str, str]) -> AsyncBoltRequest:
    """A Bolt request from a body `bot.gate.parse` already parsed. Bolt takes a parsed body only in its
    Socket Mode form, which differs from HTTP only in how Bolt checks signatures (ours is checked before
    parsing); the request is then marked as the HTTP request it is."""
    bolt_headers: dict[str, str | Sequence[str]] = dict(headers)
    request = AsyncBoltRequest(body=parsed, query=query, headers=bolt_headers, mode="socket_mode")
    request.mode, request.raw_body = "http", raw
    return request


async def warm_authorization(bolt: AsyncApp, services: Services) -> None:
    """Call `auth.test` once at start-up. Bolt otherwise calls it lazily, once per request until the
    first answer arrives: a burst of clicks on a fresh worker made one call each (see the benchmarks)."""
    for middleware in bolt._async_middleware_list:  # Bolt keeps the single-team authorization there
        if isinstance(middleware, AsyncSingleTeamAuthorization) and middleware.auth_test_result is None:
            try:
                middleware.auth_test_result = await services.slack.auth_test()
            except (SlackApiError, aiohttp.ClientError, TimeoutError) as exc:
                log.warning("auth.test at start-up failed (%s); Bolt will try again per request", type(exc).__name__)


async def health(services: Services) -> dict[str, object]:
    """Health without secrets: Redis reachability and what this worker is doing."""
    started = time.perf_counter()
    try:
        await services.redis.ping()
        redis_ok = True
    except (RedisError, OSError):
        redis_ok = False
    return {
        "status": "ok" if redis_ok else "degraded",
        "redis": "ok" if redis_ok else "unreachable",
        "redis_ping_ms": round((time.perf_counter() - started) * 1000, 2) if redis_ok else None,
        "worker": services.worker_id,
        "active_runs": services.runs.active_runs,
        "waiting_approvals": services.waiter.waiting,
    }

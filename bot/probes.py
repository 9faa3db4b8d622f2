"""A worker's probes, in Kubernetes' manner: `GET /livez` (the process answers: nothing is asked) and `GET /readyz`
(it can serve any request: Redis answers within `READY_REDIS_TIMEOUT` and takes a write, its policy bundle is loaded,
a signing key is present where receipts are on; 503 naming the failing parts otherwise). Both cheap enough for a
probe every second: no Slack call (the workspace is what `auth.test` said last), one Redis PING and one short-lived
write at most (a Redis that is full or cannot persist refuses writes: the worker is not ready until it takes one
again, by itself, once memory is freed).

One surface down is not every surface down (#87): Slack refusing the bot token, or not answering, or ALERTS_CHANNEL
not checked yet, is said (`workspace`, `alerts`, and each surface's word in `surfaces`) but never makes a worker not
ready, so the Approvals API and Teams go on being served. Slack's state is `/healthz`'s `surfaces`, the metric
`hitl_surface_up{surface}` and the alert SurfaceDown. A worker whose `auth.test` got no answer at start (Slack
unreachable): `keep_asking` asks Slack itself, after `ASK_FIRST_SECONDS` and then twice as long each time up to
every `ASK_AGAIN_SECONDS`, until it answers (never for a refused token: `TOKEN_CHECK_INTERVAL`'s recheck follows it).
The same for ALERTS_CHANNEL (bot/slack/alerts_channel.py) until Slack answers `conversations.info`. `/healthz`
(`health`, below) stays, with its fuller, slower word."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any, Protocol

from aiohttp import web

from bot.core.version import __version__
from bot.services import Services
from bot.store import StoreUnavailable, StoreWriteRefused

log = logging.getLogger(__name__)

READY_REDIS_TIMEOUT = 0.5  # seconds: inside a one-second probe's timeout, with room for the answer
ASK_FIRST_SECONDS = 1.0
ASK_AGAIN_SECONDS = 15.0
HEALTH_REDIS_TIMEOUT = 0.5  # /healthz: a slower answer says Redis is slow
HEALTH_REDIS_SLOW_MS = 250.0
Learnt = Callable[[dict[str, Any]], Awaitable[None]]  # what a worker keeps of an `auth.test` answer


class Known(Protocol):
    """What the probes read of the home workspace (`bot.slack.workspaces.Workspace`): its kept `auth.test` answer."""

    @property
    def known(self) -> bool: ...

    @property
    def refused(self) -> str | None: ...

    async def answer(self) -> dict[str, Any] | None: ...


class Served(Protocol):
    """What `/healthz` reads of the workspaces a worker serves (`bot.slackapp.app.Workspaces`)."""

    @property
    def home(self) -> Known: ...

    async def listing(self) -> list[dict[str, Any]]: ...


class Serving(Protocol):
    """What `/healthz` reads of a worker's tenants (`bot.tenancy.Tenancy`): the parts of each workspace served."""

    def serving(self) -> Sequence[Services]: ...


class Checked(Protocol):
    """What the probes read of ALERTS_CHANNEL (`bot.slack.alerts_channel.AlertsChannel`) and ask it again."""

    checked: bool
    word: str

    async def check(self) -> bool: ...


def add_probe_routes(web_app: web.Application, services: Services, workspace: Known, *,
                     on_known: Learnt | None = None) -> None:
    """Mount `/livez` and `/readyz` on `web_app`, and ask Slack again while the workspace is not known (`on_known`:
    what the worker keeps of the answer once Slack gives it, as it does at start: bot/server.py's `learnt`)."""

    async def livez(request: web.Request) -> web.Response:
        return web.json_response({"status": "alive", "worker": services.worker_id})

    async def readyz(request: web.Request) -> web.Response:
        said = await readiness(services, workspace)
        return web.json_response(said, status=503 if said["failing"] else 200)

    asking: list[asyncio.Task[None]] = []

    async def start(_: web.Application) -> None:
        asking.append(asyncio.create_task(keep_asking(workspace, on_known), name="auth-test-again"))
        if services.alerts is not None:
            asking.append(asyncio.create_task(keep_checking(services.alerts), name="alerts-channel-again"))

    async def stop(_: web.Application) -> None:
        for task in asking:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    web_app.router.add_get("/livez", livez)
    web_app.router.add_get("/readyz", readyz)
    web_app.on_startup.append(start)
    web_app.on_cleanup.append(stop)


REQUIRED = ("redis", "policy", "signing")  # what every request needs: only these make a worker not ready


async def readiness(services: Services, workspace: Known) -> dict[str, Any]:
    """Each part's word ("ok", or what is wrong) and `failing`: the parts that keep this worker from serving any
    request (`REQUIRED`). Slack's (`workspace`, `alerts`) are said, never failing: one surface down (#87)."""
    parts = {
        "redis": await redis_part(services),
        "workspace": workspace_part(workspace),
        "policy": policy_part(services),
        "signing": signing_part(services),
        "alerts": services.alerts.word if services.alerts is not None else "off",
    }
    failing = [name for name in REQUIRED if not parts[name].startswith(("ok", "off"))]
    return {"status": "not ready" if failing else "ready", "failing": failing, **parts,
            "surfaces": surfaces(services, workspace), "worker": services.worker_id}


def surfaces(services: Services, workspace: Known) -> dict[str, str]:
    """Each surface's word: `slack` ("ok", "token refused (token_revoked)", "not answered yet") and `teams` ("ok",
    Teams' refusal, or "not configured" without TEAMS_APP_ID)."""
    teams = services.msteams.delivery.word if services.msteams is not None else NOT_CONFIGURED
    return {"slack": slack_word(workspace), "teams": teams}


NOT_CONFIGURED = "not configured"


def slack_word(workspace: Known) -> str:
    if workspace.refused:
        return f"token refused ({workspace.refused})"
    return "ok" if workspace.known else "not answered yet"


def surface_up(word: str) -> bool:
    """Whether a surface's word says it serves ("ok"); a surface not configured is not down (never asked)."""
    return word == "ok"


async def redis_part(services: Services) -> str:
    try:
        async with asyncio.timeout(READY_REDIS_TIMEOUT):
            await services.store.ping()
            await services.store.workers.writable(services.worker_id)
    except TimeoutError:
        return f"no answer within {READY_REDIS_TIMEOUT} s"
    except StoreWriteRefused as exc:
        return f"refusing writes ({exc.reason})"
    except StoreUnavailable as exc:
        return f"unreachable ({exc})"
    return "ok"


def workspace_part(workspace: Known) -> str:
    """Slack's word on the home workspace (said, not failing: Slack is a surface)."""
    if workspace.refused:
        return f"token refused ({workspace.refused})"
    return "ok" if workspace.known else "not known: Slack has not answered auth.test yet"


def policy_part(services: Services) -> str:
    """The bundle decides from the start (a worker whose POLICY_DIR does not load does not start); files that stop
    loading later leave the last good bundle deciding: ready, and said."""
    policies = services.approvals.policies
    if policies.failed:
        return f"ok: bundle {policies.bundle.hash} kept; POLICY_DIR's files do not load now ({policies.failed[:200]})"
    return f"ok: bundle {policies.bundle.hash}"


def signing_part(services: Services) -> str:
    if services.api.receipts is None:
        return "off: no receipts"
    if services.signing is None or not services.signing.current_kid:
        return "no signing key, and receipts are on"
    return f"ok: key {services.signing.current_kid}"


async def keep_asking(workspace: Known, on_known: Learnt | None = None) -> None:
    """Ask Slack's `auth.test` again every `ASK_AGAIN_SECONDS` while the workspace is not known (and the token not
    refused): the worker that started while Slack was unreachable knows its workspace once Slack answers, and keeps
    what it would have kept at start (`on_known`: the cards' links, the home workspace)."""
    async for _ in again():
        if workspace.known or workspace.refused:
            return
        if (answer := await workspace.answer()) is not None:
            log.info("Slack answered auth.test: the workspace is known")
            if on_known is not None:
                await on_known(answer)
            return


async def keep_checking(alerts: Checked) -> None:
    """Ask Slack about ALERTS_CHANNEL again, as `keep_asking` asks `auth.test`, until it answers."""
    async for _ in again():
        if alerts.checked:  # (at start-up)
            return
        if await alerts.check():
            log.info("Slack answered for ALERTS_CHANNEL: %s", alerts.word)
            return


async def again() -> AsyncIterator[None]:
    """Forever, after `ASK_FIRST_SECONDS`, then twice as long each time, up to `ASK_AGAIN_SECONDS`."""
    wait = min(ASK_FIRST_SECONDS, ASK_AGAIN_SECONDS)
    while True:
        await asyncio.sleep(wait)
        yield
        wait = min(wait * 2, ASK_AGAIN_SECONDS)


async def health(services: Services, workspaces: Served, *, tenancy: Serving | None = None) -> dict[str, object]:
    """Health without secrets: Slack's word on the bot token (what `auth.test` said last; Slack is not asked
    here), each surface's word (`surfaces`), each workspace served and whether Slack refuses its token, Redis
    reachability and what this worker is doing, and its version. "degraded" when a surface is down (Slack refuses
    SLACK_BOT_TOKEN or has not answered its `auth.test` yet, Teams refuses), when Redis is slow or unreachable or
    Slack refuses another workspace's token: never "down", since one surface down is not every surface down (#87).
    What this worker is doing counts every tenant it serves (`tenancy`)."""
    workspace = workspaces.home
    serving = [services] if tenancy is None else tenancy.serving()
    redis, ping_ms = await redis_word(services)
    policies = services.approvals.policies
    said = surfaces(services, workspace)
    listed = await workspaces.listing() if redis == "ok" else []  # the OAuth installs are read from Redis
    others_refused = [w["id"] for w in listed[1:] if w["slack"].startswith("token refused")]
    down = [name for name, word in said.items() if word != NOT_CONFIGURED and not surface_up(word)]
    well = redis == "ok" and not down and not others_refused
    return {
        "status": "ok" if well else "degraded",
        "slack": said["slack"],
        "surfaces": said,  # each surface's word: slack, teams ("not configured" without TEAMS_APP_ID)
        "workspaces": listed,  # ids, names, where each comes from and Slack's word on its token; never a token
        "redis": redis,
        "redis_ping_ms": ping_ms if redis in ("ok", "slow") else None,
        "worker": services.worker_id,
        "version": __version__,
        "active_runs": sum(parts.runs.active_runs for parts in serving),
        "waiting_approvals": sum(parts.waiter.waiting for parts in serving),
        "api_long_polls": sum(parts.api.waiters.count for parts in serving),
        "receipts": "on" if services.api.receipts is not None else "off",  # never a key
        "policy": {"bundle": policies.bundle.hash, "mode": policies.mode},  # the bundle this worker decides by
        **({"audit_archive": await archive_health(services)} if services.archiver is not None else {}),
        **({"audit_siem": await siem_health(services)} if services.siem is not None else {}),
    }


async def redis_word(services: Services) -> tuple[str, float]:
    """Redis as health says it: "ok", "slow" (no answer within HEALTH_REDIS_TIMEOUT, or later than
    HEALTH_REDIS_SLOW_MS), "refusing writes" or "unreachable"; and how long its PING took (ms)."""
    started = time.perf_counter()
    redis = "ok"
    try:
        async with asyncio.timeout(HEALTH_REDIS_TIMEOUT):
            await services.store.ping()
    except TimeoutError:
        redis = "slow"
    except StoreWriteRefused:
        redis = "refusing writes"
    except StoreUnavailable:
        redis = "unreachable"
    ping_ms = round((time.perf_counter() - started) * 1000, 2)
    if redis == "ok" and ping_ms > HEALTH_REDIS_SLOW_MS:
        redis = "slow"
    return redis, ping_ms


async def siem_health(services: Services) -> dict[str, object]:
    """How far the SIEM stream is behind (AUDIT_SIEM_URL): entries, the oldest one's age, the last seq the receiver
    accepted, which worker streams, and what the receiver said when it last failed here ("": it did not)."""
    failing = services.siem.failing if services.siem is not None else ""
    try:
        async with asyncio.timeout(HEALTH_REDIS_TIMEOUT):
            behind, age = await services.store.siem.lag(now=time.time())
            cursor, holder = await services.store.siem.cursor(), await services.store.siem.holder()
    except (TimeoutError, StoreUnavailable):
        return {"lag_entries": None, "lag_seconds": None, "delivered_through": None, "streaming": None,
                "failing": failing}
    return {"lag_entries": behind, "lag_seconds": round(age, 1), "delivered_through": cursor[0] if cursor else None,
            "streaming": holder, "failing": failing}


async def archive_health(services: Services) -> dict[str, object]:
    """How far the audit archive is behind (AUDIT_ARCHIVE): entries, the oldest one's age, the last seq archived."""
    try:
        async with asyncio.timeout(HEALTH_REDIS_TIMEOUT):
            behind, age = await services.store.audit.archive_lag(now=time.time())
            through = await services.store.audit.archived_through()
    except (TimeoutError, StoreUnavailable):
        return {"lag_entries": None, "lag_seconds": None, "archived_through": None}
    restored = services.archiver.restored if services.archiver is not None else ""
    return {"lag_entries": behind, "lag_seconds": round(age, 1), "archived_through": through,
            **({"restored": restored} if restored else {})}

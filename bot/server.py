"""The HTTP server of one worker (aiohttp), the web glue apart from the listeners: it mounts Slack's requests
(`POST /slack/events`, the Bolt app of `bot/slackapp/`), the Approvals API (`/api/v1`, `bot/api/routes.py`), the
passkey pages (`/step-up/...`, `bot/stepup/pages.py`) and the change pages (`/approvals/{id}/diff`,
`bot/stepup/changes_page.py`) behind Sign in with Slack (`/signin/...`, `bot/signin/`), Slackbot's MCP endpoint
(`POST /slack/mcp`, bot/slackapp/slackbot_mcp.py, with SLACKBOT_MCP), `GET /healthz` and `GET /metrics`, the probes
`GET /livez` and `GET /readyz` (bot/probes.py), and starts and
stops the worker's parts with it (a `Worker`, built and wired by the composition root, bot/root.py).

`/metrics` is not for the public: with METRICS_LISTEN it is served apart on that address (`serve_apart`) and refused
here; with METRICS_TOKEN it needs `Authorization: Bearer <METRICS_TOKEN>` (401 without it); with neither, it answers
only requests from loopback that carry no proxy's header (403 to the rest). `/healthz`
answers 200, its body saying what is degraded and each surface's word (`surfaces`: Slack refusing the bot token,
`auth.test` asked again every TOKEN_CHECK_INTERVAL, is Slack down, not the worker: #87). Every answer carries the
worker's version (`VERSION_HEADER`), so that a client, a load balancer or an operator in a rolling upgrade knows
which version served it."""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from prometheus_client import CONTENT_TYPE_LATEST
from slack_bolt.async_app import AsyncApp

from bot.api.requests import ApiError
from bot.api.routes import add_routes
from bot.api.service import ApprovalsApi
from bot.approvals import REFUSAL_QUIET, ApprovalService
from bot.core.key_records import ApiKey
from bot.core.metrics import top_people
from bot.core.service_levels import state_counts
from bot.core.settings import Settings, reveal
from bot.core.tasks import stop_task
from bot.core.tracing import start_tracing, stop_tracing
from bot.core.version import __version__
from bot.core.workspaces import WorkspaceRef
from bot.email.pages import add_email_page, signed_in_by_email
from bot.probes import add_probe_routes, health, surfaces
from bot.push.pages import add_push_pages
from bot.services import Services
from bot.signin import create_sign_in
from bot.slack.workspaces import NotInstalled
from bot.slackapp.app import Edge, Workspaces, slack_events_handler
from bot.slackapp.listeners.sponsors import SponsorCheck, recheck_sponsors
from bot.slackapp.oauth import add_oauth_routes, create_oauth_flow
from bot.stepup.brief_page import add_brief_routes
from bot.stepup.changes_page import ChangePages, add_change_routes
from bot.stepup.details_page import add_details_routes
from bot.stepup.enrolment import Enrolment, StepUpError
from bot.stepup.pages import add_stepup_routes
from bot.stepup.reveal import Reveal
from bot.stepup.reveal_page import add_reveal_routes
from bot.stepup.votes import Confirmation
from bot.store import Store, StoreUnavailable, StoreWriteRefused
from bot.tenancy import Tenancy

# Connections the kernel queues for a worker before it accepts them. aiohttp's default, 128, drops
# the SYNs of a larger burst (200 reviewers clicking at once): their clients retry after 1 s.
LISTEN_BACKLOG = 1024
KEEPALIVE_TIMEOUT = 75.0  # seconds an idle connection is kept, and a client has to send a request's headers
# /healthz: a Redis that takes longer than this to answer PING makes the worker "degraded" (slow)

VERSION_HEADER = "X-Bot-Version"  # on every answer: bot.__version__ (docs/operators/upgrades.md)

SERVICES: web.AppKey[Services] = web.AppKey("services", Services)
BOLT: web.AppKey[AsyncApp] = web.AppKey("bolt", AsyncApp)
WORKSPACES: web.AppKey[Workspaces] = web.AppKey("workspaces", Workspaces)
TENANCY: web.AppKey[Tenancy] = web.AppKey("tenancy", Tenancy)


@dataclass(frozen=True)
class Worker:
    """One worker's parts, wired by the composition root (bot/root.py, `create_worker`): the home parts, the
    workspaces' tokens, every other tenant's parts (`Tenancy.parts`) and the Bolt app of the home workspace."""

    services: Services
    workspaces: Workspaces
    tenancy: Tenancy
    bolt: AsyncApp
    edge: Edge  # where a request's workspace is resolved before `bolt` serves it


async def start_worker(worker: Worker) -> None:
    """Start a worker's parts, over HTTP or Socket Mode: its home parts, what Slack says of each workspace, the home
    workspace learnt, then the loops of every tenant served before."""
    start_tracing(worker.services.settings.otel_endpoint)  # (unset: nothing of OpenTelemetry is imported)
    await worker.services.start()
    await worker.workspaces.ask_all()  # at start-up, not by the first burst of requests
    if (refused := worker.workspaces.home.refused) is not None:  # the token is the problem, said first (#87)
        log.error("Slack refuses SLACK_BOT_TOKEN (%s): replace the bot token; Slack is down for this worker (no card"
                  " posted, no click heard) until Slack accepts it, the Approvals API and Teams are served meanwhile",
                  refused)
    await learnt(worker.services, await worker.workspaces.home.answer())
    await worker.tenancy.start()


async def stop_worker(worker: Worker) -> None:
    """Stop what `start_worker` started: every tenant's loops before the home parts close the connections; then one
    line says the worker stopped (SIGTERM, Ctrl-C) and what it left to Redis, which any worker takes up."""
    started = time.monotonic()
    serving = worker.tenancy.serving()
    runs, waits = sum(p.runs.active_runs for p in serving), sum(p.waiter.waiting for p in serving)
    await worker.tenancy.close()
    await worker.services.close()
    stop_tracing()  # the spans not yet sent
    log.info("worker %s stopped in %.1f s: %d run(s) and %d approval(s) it waited for are left in Redis, for any "
             "worker to take up", worker.services.worker_id, time.monotonic() - started, runs, waits)


def serve_worker(settings: Settings, worker: Worker) -> web.Application:
    """The HTTP server of one `worker` (bot/root.py's `create_web_app` builds it). Its parts start with the server
    and stop with it."""
    services, workspaces, bolt, tenancy = worker.services, worker.workspaces, worker.bolt, worker.tenancy
    web_app = web.Application(client_max_size=1024 * 1024, handler_args=HANDLER_ARGS)
    web_app[SERVICES] = services
    web_app.on_response_prepare.append(say_version)
    web_app[BOLT] = bolt
    web_app[WORKSPACES] = workspaces
    web_app[TENANCY] = tenancy

    async def on_startup(_: web.Application) -> None:
        await start_worker(worker)

    async def on_cleanup(_: web.Application) -> None:
        await stop_worker(worker)

    web_app.router.add_post("/slack/events", slack_events_handler(settings, bolt, workspaces, worker.edge))
    if services.msteams is not None:  # TEAMS_APP_ID: POST /teams/messages, served by the Teams SDK (bot/msteams/)
        services.msteams.mount(web_app)
    if settings.oauth:  # SLACK_CLIENT_ID and SLACK_CLIENT_SECRET: /slack/install, /slack/oauth_redirect
        add_oauth_routes(web_app, create_oauth_flow(settings, services, workspaces))
    add_worker_routes(web_app, settings, services, workspaces, tenancy=tenancy)
    web_app.on_startup.append(on_startup)
    web_app.on_cleanup.append(on_cleanup)
    return web_app


async def withdraw_on_uninstall(tenancy: Tenancy, workspace: WorkspaceRef) -> None:
    """An uninstall stops every worker serving that workspace (`Tenancy.stop_serving`), then withdraws its pending
    approvals, in its tenant's data."""
    built = None if workspace.tenant == await tenancy.home_tenant() else await tenancy.stop_serving(workspace)
    parts = built or await tenancy.uninstalled(workspace)
    try:
        await parts.approvals.withdraw_workspace(
            workspace, by="slack", reason=f"withdrawn: the app was uninstalled from {workspace.team}")
    finally:
        if built is not None:
            await built.close()


async def learnt(services: Services, answer: dict[str, Any] | None) -> None:
    """What a worker keeps of its `auth.test` answer at start-up: links to cards in the API's answers, and the
    home workspace (`Tenants.learn_home`: recorded by the first worker to learn its team, never changed after)."""
    services.api.card_link = str((answer or {}).get("url") or "")
    services.directory.org_wide = bool((answer or {}).get("is_enterprise_install"))  # user groups name a workspace
    if answer is not None and answer.get("team_id"):
        await services.store.tenants.learn_home(home_of(answer))


def home_of(auth: dict[str, Any]) -> WorkspaceRef:
    """The workspace an `auth.test` answer is for (its Enterprise Grid organisation's, if any)."""
    return WorkspaceRef(str(auth.get("team_id") or ""), str(auth.get("enterprise_id") or "") or None,
                        org_wide=bool(auth.get("is_enterprise_install")))


def add_worker_routes(
    web_app: web.Application, settings: Settings, services: Services, workspaces: Workspaces, *,
    tenancy: Tenancy | None = None,
) -> None:
    """What every worker serves over HTTP besides Slack's requests: `/healthz`, `/metrics`, the Approvals API and,
    with SLACKBOT_MCP, Slackbot's `/slack/mcp` (also in Socket Mode, where nothing else listens). With `tenancy`, an
    API key is served by its workspace's parts (`api_of`)."""

    async def healthz(request: web.Request) -> web.Response:
        return web.json_response(await health(services, workspaces, tenancy=tenancy))

    async def metrics(request: web.Request) -> web.Response:
        refused = metrics_refusal(request, reveal(settings.metrics_token), apart=settings.metrics_listen is not None)
        if refused is not None:
            return refused
        return await scrape(request)

    async def scrape(request: web.Request) -> web.Response:
        lag = partial(services.store.audit.archive_lag, now=time.time()) if services.archiver is not None else None
        siem = partial(services.store.siem.lag, now=time.time()) if services.siem is not None else None
        await scrape_time(services)
        services.metrics.surfaces(surfaces(services, workspaces.home))  # hitl_surface_up, hitl_surface_refused
        waiting = services.store.approvals.waiting_by_channel if tenancy is None else tenancy.waiting_by_channel
        sla = tenancy.service_levels if tenancy is not None else partial(home_service_levels, services.store)
        per_person = tenancy.cards_this_hour if tenancy is not None else services.store.fatigue.this_hour
        top = services.metrics.top_people

        async def cards() -> dict[str, float]:
            return top_people(await per_person(), top)

        body = await services.metrics.render(waiting, frozen=services.store.freezes.all, archive_lag=lag, siem_lag=siem,
                                             oversight=services.store.oversight.read, top=top, sla=sla, cards=cards)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def public_healthz(request: web.Request) -> web.Response:
        """`/healthz` on PORT; with METRICS_LISTEN it is served there (`serve_apart`, with `/metrics` and the probes:
        the operators' port, which no Ingress routes to) and refused here (403), as `/metrics` is."""
        if settings.metrics_listen is not None:  # what is degraded, for the operators' port only
            return web.json_response({"error": "forbidden: /healthz is served on METRICS_LISTEN"}, status=403)
        return await healthz(request)

    web_app.router.add_get("/healthz", public_healthz)
    checking: list[asyncio.Task[None]] = []

    async def start_checking(_: web.Application) -> None:
        checking.append(asyncio.create_task(recheck_tokens(workspaces, settings.token_check_seconds),
                                            name="tokens-again"))
        checking.append(asyncio.create_task(recheck_sponsors(SponsorCheck(services, tenancy=tenancy),
                                                             settings.token_check_seconds), name="sponsors-again"))

    async def stop_checking(_: web.Application) -> None:
        await stop_task(*checking)

    web_app.on_startup.append(start_checking)
    web_app.on_cleanup.append(stop_checking)
    web_app.router.add_get("/metrics", metrics)
    add_probe_routes(web_app, services, workspaces.home,  # /livez, /readyz (bot/probes.py)
                     on_known=partial(learnt, services))
    if settings.metrics_listen is not None:  # the operators' port (METRICS_LISTEN), started and stopped with the worker
        serve_apart(web_app, settings.metrics_listen, {"/metrics": scrape, "/healthz": healthz,
                                                        **served(web_app, "/livez", "/readyz")})
    add_routes(web_app, services.api, allow_private_callbacks=settings.api_allow_private_callbacks,
               key_rate=settings.api_key_rate, key_burst=2 * settings.api_key_rate,
               api_for=None if tenancy is None else partial(api_of, tenancy),
               holder_of=None if tenancy is None else partial(holder_of, tenancy),
               claude_code_files=settings.claude_code_files, public_url=settings.public_url)
    signin = create_sign_in(settings, people=partial(people_of, tenancy, services), names=services.directory.name_of,
                            by_email=services.who.teams.by_email if services.email is None else
                            signed_in_by_email(services.who.teams.by_email, services.who.people),
                            audit=services.store.audit)
    signin.add_routes(web_app)
    if services.email is not None:  # /email/{approval}/{token}: the e-mail surface's page (issue 88)
        add_email_page(web_app, services.email, signin=signin, approvals=services.approvals,
                       step_up=services.confirmations)
    if services.push is not None:  # /app/*: the web app, the devices page; /push/{approval}/{token} (issue 90)
        add_push_pages(web_app, services.push, signin=signin, approvals=services.approvals,
                       step_up=services.confirmations, names=services.directory.name_of)
    add_stepup_routes(web_app, services.stepup, services.confirmations, signin,
                      parts_for=None if tenancy is None else partial(stepup_of, tenancy))
    add_reveal_routes(web_app, services.reveals, signin,  # /reveal/{token}
                      reveal_for=None if tenancy is None else partial(reveal_of, tenancy))
    add_brief_routes(web_app, services.store, signin,  # /attest/{scope}: a brief's page (fit to decide)
                     store_of=None if tenancy is None else partial(store_of_team, tenancy, services))
    add_details_routes(web_app, services.approvals, signin,  # /approvals/{id}
                       approvals_for=None if tenancy is None else partial(approvals_holding, tenancy))
    add_change_routes(web_app, partial(changes_of, tenancy, ChangePages(services.approvals, services.directory)),
                      signin)  # /approvals/{id}/diff
    if settings.slackbot_mcp is not None:  # POST /slack/mcp, Slackbot's MCP endpoint (also in Socket Mode)
        from bot.slackapp.slackbot_mcp import mount_slackbot  # (imports the MCP SDK only when it is used)

        mount_slackbot(web_app, services, workspaces, tenancy=tenancy)

    async def close_sign_in(_: web.Application) -> None:
        if signin.provider is not None:
            await signin.provider.close()

    web_app.on_cleanup.append(close_sign_in)


async def home_service_levels(store: Store) -> dict[str, int]:
    """The pending approvals with a service level by state, of one workspace's store (`/metrics`)."""
    return state_counts(await store.approvals.service_levels())


async def recheck_tokens(workspaces: Workspaces, every: float) -> None:
    """Ask Slack about every token again each `every` seconds (TOKEN_CHECK_INTERVAL), so `/healthz`, which never
    asks Slack itself, notices a token revoked after start-up."""
    while True:
        await asyncio.sleep(every)
        try:
            await workspaces.recheck()
        except StoreUnavailable as exc:  # the OAuth installations are read from Redis: asked again next time
            log.warning("the bot tokens were not checked again: Redis unreachable (%s)", exc.cause)


async def say_version(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer names the version of the worker that gave it."""
    response.headers[VERSION_HEADER] = __version__


async def people_of(
    tenancy: Tenancy | None, services: Services, user: str, *, said_team: str = ""
) -> tuple[str, str] | None:
    """Sign in's "only our own people": the signed-in person judged as their workspace judges its clicks (its
    parts', asking Slack afresh); a workspace this worker cannot serve: as the home workspace judges (an outsider)."""
    parts = services
    if tenancy is not None and said_team:
        with contextlib.suppress(NotInstalled):
            parts = await tenancy.parts(WorkspaceRef(said_team))
    return await parts.confirmations.people(user, said_team=said_team)


async def store_of_team(tenancy: Tenancy, services: Services, team: str) -> Store:
    """The store of a signed-in person's workspace (a brief's page): its parts', else the home workspace's."""
    with contextlib.suppress(NotInstalled):
        if team:
            return (await tenancy.parts(WorkspaceRef(team))).store
    return services.store


async def stepup_of(tenancy: Tenancy, token: str) -> tuple[Enrolment, Confirmation]:
    """The enrolment and votes that serve step-up link `token`: its tenant's (the link says which), the home ones
    for a home link or one that names no link (which they refuse as before). A link of a tenant this worker cannot
    serve (the app uninstalled there) is refused as a link that does not stand."""
    parts = await tenancy.of_tenant(await tenancy.home.store.passkeys.tenant_of(token))
    if parts is None:
        raise StepUpError(410, "This link no longer works: the app is no longer installed in its workspace.")
    return parts.stepup, parts.confirmations


async def holder_of(tenancy: Tenancy, approval_id: str) -> ApprovalsApi:
    """The Approvals API of the workspace whose data holds `approval_id` (an executor's receipt spend: the receipt
    names its approval, the record its workspace); 404 when no tenant this worker serves holds it."""
    parts = await tenancy.holding(approval_id)
    if parts is None:
        raise ApiError(404, "not_found", "no such approval")
    return parts.api


async def approvals_holding(tenancy: Tenancy, approval_id: str) -> ApprovalService | None:
    """The approvals of the workspace whose data holds `approval_id` (its details page), or None."""
    parts = await tenancy.holding(approval_id)
    return None if parts is None else parts.approvals


async def reveal_of(tenancy: Tenancy, token: str) -> Reveal:
    """The reveals that serve reveal link `token`: its tenant's (the link says which), as `stepup_of`."""
    parts = await tenancy.of_tenant(await tenancy.home.store.passkeys.tenant_of(token))
    if parts is None:
        raise StepUpError(410, "This link no longer works: the app is no longer installed in its workspace.")
    return parts.reveals


async def changes_of(tenancy: Tenancy | None, home: ChangePages, approval_id: str) -> ChangePages | None:
    """The change pages of the workspace whose data holds `approval_id` (`home` without tenants); None: none."""
    if tenancy is None:
        return home
    parts = await tenancy.holding(approval_id)
    return None if parts is None else ChangePages(parts.approvals, parts.directory)


async def api_of(tenancy: Tenancy, key: ApiKey) -> ApprovalsApi:
    """The Approvals API of `key`'s workspace (its tenant's parts; a key without one: the home workspace's). 403,
    audited, when the app is not installed there (any more: uninstalled) or, installed org-wide, not added to that
    workspace of the organisation: nothing of it is served."""
    ref = WorkspaceRef(key.team, key.enterprise or None) if key.team else None
    try:
        parts = await tenancy.parts(ref)
        if ref is None:
            return parts.api
        await tenancy.workspaces.refreshed(ref.team, ref.enterprise)  # its token rotated first when it ends soon
        if await tenancy.workspaces.added(ref.team, ref.enterprise):
            return parts.api
        why = (f"the app is approved for the Enterprise Grid organisation {ref.enterprise} but not added to workspace"
               f" {ref.team} (an org admin adds it in the organisation's app settings)")
    except NotInstalled as exc:
        why = str(exc)
        if ref is not None and any(known.tenant == ref.tenant for known in await tenancy.home.store.tenants.known()):
            why = f"the app was uninstalled from workspace {ref.team}"
    await tenancy.home.store.audit.refusal(
        f"key_workspace:{key.id}", "refused", window=REFUSAL_QUIET, by=f"key {key.name}", key=key.name, key_id=key.id,
        team=key.team, enterprise=key.enterprise, reason=f"key's workspace not served: {why}")
    raise ApiError(403, "forbidden", f"this key's workspace cannot be served: {why}. Nothing was asked.")


Handler = Callable[[web.Request], Awaitable[web.Response]]
AnyHandler = Callable[[web.Request], Awaitable[web.StreamResponse]]  # what a router holds
log = logging.getLogger(__name__)
SERVER_LOG = logging.getLogger("aiohttp.server")


class RequestErrors(logging.LoggerAdapter[logging.Logger]):
    """aiohttp's server log, where a malformed request (a header over 8 KB, a bare CR: aiohttp answers 400) is one
    WARNING line naming what was wrong, never an ERROR with a traceback; a handler's own failure stays an ERROR."""

    def exception(self, msg: object, *args: object, exc_info: Any = True, **kwargs: Any) -> None:
        if isinstance(exc_info, HttpProcessingError) and 400 <= (exc_info.code or 0) < 500:
            said = f"{type(exc_info).__name__}: {exc_info.message}"
            remote = args[0] if args else "?"
            self.warning("refused a malformed HTTP request from %s (%d): %r", remote, exc_info.code, said[:200])
            return
        super().exception(msg, *args, exc_info=exc_info, **kwargs)


# How every connection of a worker is served (the Socket Mode side's too). lingering_time 0: a request answered
# before its body was read (refused) is closed at once, not read on for 10 s. keepalive_timeout also bounds the
# headers: a connection that has not sent a whole request within it is closed (aiohttp's own default outside
# `run_app` is an hour). logger: a malformed request is a WARNING line, not a traceback (`RequestErrors`).
HANDLER_ARGS: dict[str, Any] = {"lingering_time": 0, "keepalive_timeout": KEEPALIVE_TIMEOUT,
                                "logger": RequestErrors(SERVER_LOG)}


# A proxy's headers: the request came from elsewhere (any `X-Forwarded-*` too). A proxy that sets none cannot be told
# from a local client: behind one on the same host, set METRICS_LISTEN or METRICS_TOKEN.
FORWARDED = ("Forwarded", "Via", "X-Real-IP", "X-Client-IP", "Client-IP", "True-Client-IP", "CF-Connecting-IP",
             "Fastly-Client-IP", "X-Cluster-Client-IP", "X-Original-Forwarded-For", "X-ProxyUser-Ip")


def served(web_app: web.Application, *paths: str) -> dict[str, AnyHandler]:
    """The handlers `web_app` serves `GET paths` with."""
    return {route.resource.canonical: route.handler for route in web_app.router.routes()
            if route.method == "GET" and route.resource is not None and route.resource.canonical in paths}


def serve_apart(web_app: web.Application, address: tuple[str, int], routes: dict[str, AnyHandler]) -> None:
    """Serve `GET` of `routes` (path: handler) alone on `address` (METRICS_LISTEN: `/metrics`, `/healthz` and the
    probes), to whoever reaches it, while `web_app` runs."""
    apart = web.Application(handler_args=HANDLER_ARGS)
    for path, handler in routes.items():
        apart.router.add_get(path, handler)
    runner = web.AppRunner(apart, access_log=None)

    async def start(_: web.Application) -> None:
        await runner.setup()
        await web.TCPSite(runner, address[0] or None, address[1]).start()
        log.info("serving %s apart on %s:%d (METRICS_LISTEN)", ", ".join(routes), address[0] or "every interface",
                 address[1])

    async def stop(_: web.Application) -> None:
        await runner.cleanup()

    web_app.on_startup.append(start)
    web_app.on_cleanup.append(stop)


async def scrape_time(services: Services) -> None:
    """What `/metrics` reads at each scrape besides the waiting approvals: a Redis PING's round trip, Redis's memory
    against its limit, whether the policy files load, how many API keys have no sponsor."""
    began = time.monotonic()
    try:
        with contextlib.suppress(StoreWriteRefused):  # (Redis answered: it refuses PING while it cannot persist)
            await services.store.ping()
        services.metrics.redis_latency.observe(time.monotonic() - began)
        memory = await services.store.memory()
        if memory is not None:
            services.metrics.redis_memory_used.set(memory[0])
            services.metrics.redis_memory_max.set(memory[1])
    except StoreUnavailable:
        pass  # Redis down: /healthz and /readyz say so; the alert rules see `up` and the reconnects
    services.metrics.policy_failing.set(1 if services.approvals.policies.failed else 0)
    if services.msteams is not None:  # Teams' due set (hitl_teams_copies_due; 0 without Teams)
        with contextlib.suppress(StoreUnavailable):
            services.metrics.teams_due.set(await services.store.teams_due.count())
    try:  # every agent has a person accountable: the keys still without one
        services.metrics.keys_without_sponsor.set(sum(1 for key in await services.store.api_keys.all()
                                                      if not key.sponsor))
    except StoreUnavailable:
        pass


def metrics_refusal(request: web.Request, token: str | None, *, apart: bool = False) -> web.Response | None:
    """Why `request` may not read `/metrics` on `PORT` (the answer to send), or None when it may: with `token`, only
    with `Authorization: Bearer <token>`; without, never when it is served `apart` (METRICS_LISTEN), else only from
    loopback and with no proxy's header."""
    if token is not None:
        given = request.headers.get("Authorization", "")
        if hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            return None
        return web.json_response({"error": "unauthorized: send Authorization: Bearer <METRICS_TOKEN>"}, status=401,
                                 headers={"WWW-Authenticate": 'Bearer realm="metrics"'})
    if apart:
        return web.json_response({"error": "forbidden: /metrics is served on METRICS_LISTEN; here it needs"
                                  " METRICS_TOKEN"}, status=403)
    if is_loopback(request.remote) and not proxied(request):
        return None
    return web.json_response({"error": "forbidden: /metrics answers loopback only; set METRICS_TOKEN to scrape it"
                              " from elsewhere"}, status=403)


def proxied(request: web.Request) -> bool:
    """Whether `request` carries a header a proxy sets (`FORWARDED`, any `X-Forwarded-*`)."""
    return any(name in request.headers for name in FORWARDED) or any(
        name.lower().startswith("x-forwarded-") for name in request.headers)


def is_loopback(address: str | None) -> bool:
    try:
        ip = ipaddress.ip_address((address or "").split("%")[0])
    except ValueError:  # a unix socket's peer, or no address
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_loopback

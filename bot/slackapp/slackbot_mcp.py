"""`POST /slack/mcp`: the MCP endpoint Slackbot calls (streamable HTTP, each request a JSON-RPC message answered with
JSON; no session). Slack identity auth: every request is signed as Slack signs events (`v0:<ts>:<body>`, HMAC-SHA256
with the signing secret, within 5 minutes) and each signature is taken once (a replay is refused); a `tools/call`
names its person in `params._meta.slack` (`user_id`, `team_id`, `enterprise_id`), checked as a click is (our own
people: not a guest nor another organisation's, unless the settings let them), refused with an audit entry naming
who. Each call is served by its workspace's parts (`Tenancy.parts`, by `team_id`/`enterprise_id`): the person checked
against that workspace, the approval asked with the key SLACKBOT_MCP names for it (`key` for the home workspace,
`workspaces` for the others: the key's channel is where its card goes) in that tenant's store, the DM sent with that
workspace's client; a workspace the app is not installed in, or one SLACKBOT_MCP names no key for, is refused (and
audited). What the tools do: bot/slackapp/slackbot_tools.py.

The transport, as the MCP spec's streamable HTTP says for a server that offers no stream and keeps no session: `GET`
(an SSE stream) and `DELETE` (a session's end), like any method but POST, are 405 with `Allow: POST`; a POST whose
`Accept` takes no JSON is 406; a batch or a message that is not one JSON-RPC request is 400 (-32600, or -32700 for
what is not JSON); an `MCP-Protocol-Version` we do not speak is 400; no `Mcp-Session-Id` is ever given, and one a
client sends is ignored (each request stands alone). We speak 2025-06-18 and 2025-11-25 only (`VERSIONS`): the
versions whose rules this is (2025-03-26's servers must take batches; 2024-11-05 had no streamable HTTP).
`initialize` answers the version asked when we speak it, else the latest we do."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

from aiohttp import web

from bot.api.requests import ApiError
from bot.core.security import MalformedRequest, signature_age_problem, signed
from bot.core.version import __version__
from bot.core.workspaces import WorkspaceRef
from bot.services import Services, direct_message
from bot.slack.workspaces import NotInstalled
from bot.slackapp.app import ENTERPRISE, TEAM, Workspaces, tenant_answer, tenant_of
from bot.slackapp.members import why_not
from bot.slackapp.slackbot_tools import Place, SlackbotError, SlackbotTools
from bot.store import StoreUnavailable
from bot.tenancy import Tenancy

log = logging.getLogger("bot.slackbot")
# The protocol versions served: those whose rules this endpoint keeps. Not 2025-03-26 (its servers must take JSON-RPC
# batches, refused here), nor 2024-11-05 (HTTP+SSE: its clients open with a GET, a 405 here); no "modern" era.
VERSIONS = ("2025-06-18", "2025-11-25")
PROTOCOL = VERSIONS[-1]  # answered to a client that asks for one we do not speak
MAX_BODY = 256 * 1024


def mount_slackbot(web_app: web.Application, services: Services, workspaces: Workspaces, *,
                   tenancy: Tenancy | None = None) -> None:
    """`POST /slack/mcp` on this worker, when SLACKBOT_MCP is set (its upstreams start with the server); with
    `tenancy`, each workspace's calls are served by its parts."""
    config = services.settings.slackbot_mcp
    if config is None:
        return
    tools = SlackbotTools(config, background=services.background, detectors=services.settings.redact_detectors)
    add_slackbot_route(web_app, services, workspaces, tools, tenancy=tenancy)


async def tell(parts: Services, person: str, text: str) -> None:
    """A direct message to `person`, with the client of the workspace whose parts `parts` are."""
    await direct_message(parts.slack, parts.directory, person, text)


def add_slackbot_route(web_app: web.Application, services: Services, workspaces: Workspaces,
                       tools: SlackbotTools, *, tenancy: Tenancy | None = None) -> None:
    """Serve `POST /slack/mcp` with `tools`, started and closed with the server."""
    secret = services.settings.slack_signing_secret.get_secret_value()

    async def mcp(request: web.Request) -> web.StreamResponse:
        try:
            return await served(request)
        except StoreUnavailable:  # nothing was asked nor run: Slackbot may try again
            return error(None, -32603, "the approvals service cannot reach its storage; try again", status=503)

    async def served(request: web.Request) -> web.StreamResponse:
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return error(None, -32600, "the request is too large", status=413)
        if not signed_by_slack(secret, request.headers, body):
            log.warning("refused an MCP request: not signed by Slack, or stale")
            return error(None, -32001, "not signed by Slack (or more than 5 minutes old)", status=401)
        signature = request.headers["X-Slack-Signature"]
        if not accepts_json(request.headers.get("Accept", "")):
            return error(None, -32000, "Not Acceptable: the client must accept application/json", status=406)
        if not await services.store.slackbot.first_time(signature):
            log.warning("refused an MCP request: a replay of one already served")
            return error(None, -32001, "this request was already served (a replay)", status=401)
        try:
            message = json.loads(body)
        except (ValueError, RecursionError):
            return error(None, -32700, "the body is not JSON", status=400)
        if not one_request(message):
            return error(None, -32600, "send one JSON-RPC 2.0 request (no batch; an id is a string or an integer)",
                         status=400)
        version = request.headers.get("MCP-Protocol-Version")
        if version is not None and version not in VERSIONS and message["method"] != "initialize":
            return error(None, -32000, f"Bad Request: unsupported protocol version {version[:40]!r} (supported:"
                         f" {', '.join(VERSIONS)})", status=400)
        if "id" not in message:  # a notification (notifications/initialized, ...)
            return web.Response(status=202)
        return await answer(message)

    async def answer(message: dict[str, Any]) -> web.Response:
        ident, method = message["id"], message["method"]
        params = obj(message.get("params"))
        if method == "initialize":
            asked = params.get("protocolVersion")
            return result(ident, {"protocolVersion": asked if asked in VERSIONS else PROTOCOL,
                                  "capabilities": {"tools": {}},
                                  "serverInfo": {"name": "slack-agent-approvals", "version": __version__}})
        if method == "ping":
            return result(ident, {})
        if method == "tools/list":
            return result(ident, {"tools": await tools.list_tools()})
        if method != "tools/call":
            return error(ident, -32601, f"no method {method}")
        return await call(ident, params)

    async def call(ident: Any, params: dict[str, Any]) -> web.Response:
        slack = obj(obj(params.get("_meta")).get("slack"))
        user, team = str(slack.get("user_id") or ""), str(slack.get("team_id") or "")
        enterprise = str(slack.get("enterprise_id") or "")
        name, arguments = params.get("name"), params.get("arguments") or {}
        if not user or not team:
            return error(ident, -32602, "params._meta.slack names no user_id and team_id", status=400)
        if not TEAM.fullmatch(team) or (enterprise and not ENTERPRISE.fullmatch(enterprise)):
            return error(ident, -32602, "params._meta.slack's team_id (T…) or enterprise_id (E…) is not a Slack"
                         " workspace or organisation id", status=400)
        if not isinstance(name, str) or not isinstance(arguments, dict):
            return error(ident, -32602, "give the tool's name and its arguments as an object", status=400)
        served = await place_of(user, team, name, enterprise=enterprise)
        if isinstance(served, str):
            return error(ident, -32003, served, status=403)
        try:
            return result(ident, await tools.call(user, name, arguments, at=served))
        except SlackbotError as exc:
            return error(ident, exc.code, exc.message)
        except ApiError as exc:  # the approval could not be read or used (e.g. its receipt expired)
            return error(ident, -32603, exc.message)

    async def place_of(user: str, team: str, name: str, *, enterprise: str) -> Place | str:
        """Where `user`'s call from workspace `team` is served, or why it is refused (audited, naming them)."""
        ref = WorkspaceRef(team, enterprise or None)
        try:
            parts = services if tenancy is None else await tenancy.parts(ref)
        except NotInstalled as exc:
            return await refused(user, team, name, why=(f"another workspace's call ({exc})",
                                                        "This app is not installed in your workspace."))
        home = parts is services
        if home:
            auth = await workspaces.home.answer()
            why = why_not_team(auth, team, enterprise=enterprise) or await why_not(
                services, workspaces.home.answer, user, said_team=team)
        else:
            assert tenancy is not None  # (another tenant's parts come only from it)
            served = tenant_of(await tenancy.installed(ref))
            why = await why_not(parts, partial(tenant_answer, served), user, said_team=team)
        if why is not None:
            return await refused(user, team, name, why=why)
        key = tools.config.key_for(team, enterprise or None, home=home)
        if key is None:
            return await refused(user, team, name, why=(
                f"SLACKBOT_MCP names no key for workspace {team}",
                f"Slackbot's approvals are not set up for this workspace ({team}): ask an operator to name its key"
                " in SLACKBOT_MCP's \"workspaces\"."), kind="slackbot")
        wrong = await key_elsewhere(key, parts)
        if wrong is not None:
            return await refused(user, team, name, why=(wrong, wrong), kind="slackbot")
        return Place(api=parts.api, store=parts.store, key=key, tell=partial(tell, parts))

    async def key_elsewhere(name: str, parts: Services) -> str | None:
        """Why key `name` may not ask for `parts`' workspace (it is another workspace's), or None."""
        if tenancy is None:
            return None
        key = await services.store.api_keys.get(name)
        if key is None:
            return None  # said when it is used: the key does not exist or was revoked
        ref = WorkspaceRef(key.team, key.enterprise or None) if key.team else None
        try:
            if await tenancy.parts(ref) is parts:
                return None
        except NotInstalled:
            pass
        return f"SLACKBOT_MCP's key {name} is of another workspace ({key.team or 'home'})"

    async def refused(user: str, team: str, name: str, *, why: str | tuple[str, str], kind: str = "outsider") -> str:
        """Audit the refusal of `user`'s call of `name` (naming them) and say why."""
        reason, text = why if isinstance(why, tuple) else (why, why)
        log.warning("refused Slackbot's call of %s for %s (team %r): %s", name, user, team, reason)
        await services.store.audit.refusal(f"{kind}:{user}:{reason[:100]}", "refused", by=user, team=team,
                                           reason=f"{kind}: {reason}", what=f"slackbot {name}"[:60])
        return text

    async def on_startup(_: web.Application) -> None:
        await tools.start()

    async def on_cleanup(_: web.Application) -> None:
        await tools.close()

    web_app.router.add_post("/slack/mcp", mcp)
    web_app.router.add_route("*", "/slack/mcp", not_allowed)  # GET (a stream), DELETE (a session): none offered
    web_app.on_startup.append(on_startup)
    web_app.on_cleanup.insert(0, on_cleanup)


def signed_by_slack(secret: str, headers: Mapping[str, str], body: bytes) -> bool:
    """Whether `body` carries Slack's signature, recent (the raw bytes checked, as `/slack/events` checks them: a
    body that is not UTF-8, or headers that are not a signature, are unsigned, never an error)."""
    try:
        return signature_age_problem(headers) is None and signed(secret, headers, body)
    except MalformedRequest:
        return False


def why_not_team(auth: dict[str, Any] | None, team: str, *, enterprise: str = "") -> str | None:
    """Slackbot calls for the people of the workspace it runs in (or of its Enterprise Grid organisation): another
    team's call is refused, and so is one that names an organisation ours is not part of (our team or not)."""
    if auth is None:
        return "the workspace is not known yet"
    ours, org = str(auth.get("team_id") or ""), str(auth.get("enterprise_id") or "")
    if enterprise and enterprise != org:
        return f"another organisation's call ({enterprise}, not {org or 'none: the workspace is in none'})"
    if team == ours or (org and enterprise == org):
        return None
    return f"another workspace's call ({team}, not {ours})"


async def not_allowed(request: web.Request) -> web.Response:
    """Any method but POST: no SSE stream is offered (GET) and no session kept (DELETE), so 405."""
    answer = error(None, -32000, f"Method Not Allowed: {request.method[:20]}; this endpoint takes only POST (no"
                   " stream, no session)", status=405)
    answer.headers["Allow"] = "POST"
    return answer


def one_request(message: Any) -> bool:
    """Whether `message` is one JSON-RPC 2.0 request or notification (a batch is not, since MCP 2025-06-18)."""
    if not isinstance(message, dict) or message.get("jsonrpc") != "2.0" or not isinstance(message.get("method"), str):
        return False
    ident = message.get("id", 0)
    return isinstance(ident, str | int) and not isinstance(ident, bool)


def accepts_json(accept: str) -> bool:
    """Whether an `Accept` header takes a JSON answer (none given: anything is taken)."""
    if not accept.strip():
        return True
    kinds = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(kinds & {"application/json", "application/*", "*/*"})


def obj(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def result(ident: Any, answer: dict[str, Any]) -> web.Response:
    return web.json_response({"jsonrpc": "2.0", "id": ident, "result": answer})


def error(ident: Any, code: int, message: str, *, status: int = 200) -> web.Response:
    return web.json_response({"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}},
                             status=status)

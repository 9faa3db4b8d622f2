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

The MCP server and its transport are the MCP SDK's (`SlackbotTools.server`; the streamable HTTP transport built by
the MCP gateway's `streamable_http`, the one way this project serves MCP over HTTP: stateless, a JSON answer per
POST, what is not one JSON-RPC message answered -32700/-32600 with 400), mounted under aiohttp (bot/slackapp/asgi.py).
The gateway and this endpoint share that transport, not one server: what they serve parts (the gateway: one
upstream's tools, prompts and resources, a call waiting for its decision; here: every upstream's tools for a person
at their place, answered at once), what carries an MCP server over HTTP does not.
This module is the edge in front of it, Slack's and ours: the signature first, `Accept`, the replay, the protocol
version, the person of a `tools/call` (found at their place, or refused here with 400/403), and Slackbot's handshake
taken as it comes. As the MCP spec's streamable HTTP says for a server that offers no stream and keeps no session:
`GET` (an SSE stream) and `DELETE` (a session's end), like any method but POST, are 405 with `Allow: POST`; a POST
whose `Accept` takes no JSON is 406; an `MCP-Protocol-Version` we do not speak is 400; no `Mcp-Session-Id` is ever
given, and one a client sends is ignored (each request stands alone). We speak 2025-06-18 and 2025-11-25 only
(`VERSIONS`): the versions whose rules this is (2025-03-26's servers must take batches; 2024-11-05 had no streamable
HTTP). `initialize` answers the version asked when we speak it, else the latest we do."""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from functools import partial
from typing import Any

from agent_approvals.mcp_gateway.wire import jsonrpc_refusal, streamable_http
from aiohttp import web

from bot.core.security import MalformedRequest, signature_age_problem, signed
from bot.core.workspaces import WorkspaceRef
from bot.services import Services, direct_message
from bot.slack.workspaces import NotInstalled
from bot.slackapp.app import ENTERPRISE, TEAM, Workspaces, tenant_answer, tenant_of
from bot.slackapp.asgi import AsgiMount
from bot.slackapp.members import why_not
from bot.slackapp.slackbot_tools import CALLER, STORAGE_DOWN, Caller, Place, SlackbotTools
from bot.store import StoreUnavailable
from bot.tenancy import Tenancy

log = logging.getLogger("bot.slackbot")
# The protocol versions served: those whose rules this endpoint keeps. Not 2025-03-26 (its servers must take JSON-RPC
# batches, refused here), nor 2024-11-05 (HTTP+SSE: its clients open with a GET, a 405 here); no "modern" era.
VERSIONS = ("2025-06-18", "2025-11-25")
PROTOCOL = VERSIONS[-1]  # answered to a client that asks for one we do not speak
MAX_BODY = 256 * 1024
PATH = "/slack/mcp"


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
    """Serve `POST /slack/mcp` with `tools` (the SDK's server and transport, mounted here), started and closed with
    the server."""
    secret = services.settings.slack_signing_secret.get_secret_value()
    sdk = AsgiMount(streamable_http(tools.server(), path=PATH, host=None, stateless=True, json_response=True,
                                    max_body=MAX_BODY))

    async def mcp(request: web.Request) -> web.StreamResponse:
        try:
            return await served(request)
        except StoreUnavailable:  # nothing was asked nor run: Slackbot may try again
            return error(None, -32603, STORAGE_DOWN, status=503)

    async def served(request: web.Request) -> web.StreamResponse:
        body = await request.content.read(MAX_BODY + 1)
        if len(body) > MAX_BODY:
            return error(None, -32600, "the request is too large", status=413)
        if not signed_by_slack(secret, request.headers, body):
            log.warning("refused an MCP request: not signed by Slack, or stale")
            return error(None, -32001, "not signed by Slack (or more than 5 minutes old)", status=401)
        signature = request.headers["X-Slack-Signature"]
        accept = request.headers.get("Accept", "")
        if not accepts_json(accept):
            return error(None, -32000, "Not Acceptable: the client must accept application/json", status=406)
        if not await services.store.slackbot.first_time(signature):
            log.warning("refused an MCP request: a replay of one already served")
            return error(None, -32001, "this request was already served (a replay)", status=401)
        headers = {name: value for name, value in request.headers.items() if name.lower() != "accept"}
        headers["Accept"] = accept if accept.strip() else "application/json"  # (none given: anything is taken)
        message = one_message(body)
        if message is None:  # not one JSON-RPC message: the SDK's wire says why (400, -32700 or -32600)
            return await sdk.serve(request, body, headers=headers)
        version, method = request.headers.get("MCP-Protocol-Version"), message.get("method")
        if method == "initialize":
            body = handshake(message)
            if version not in VERSIONS:  # (asked in the body, not the header: any header is taken, as the body says)
                headers = {name: value for name, value in headers.items() if name.lower() != "mcp-protocol-version"}
        elif version is not None and version not in VERSIONS:
            return error(None, -32000, f"Bad Request: unsupported protocol version {version[:40]!r} (supported:"
                         f" {', '.join(VERSIONS)})", status=400)
        scope: dict[str, Any] = {}
        if method == "tools/call" and "id" in message:
            caller = await caller_of(message)
            if isinstance(caller, web.Response):
                return caller
            scope[CALLER] = caller
        return await sdk.serve(request, body, headers=headers, scope=scope)

    async def caller_of(message: dict[str, Any]) -> Caller | web.Response:
        """The person a `tools/call` names in `params._meta.slack`, at their place; or the refusal they get."""
        ident, params = message["id"], obj(message.get("params"))
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
        return Caller(user=user, at=served)

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

    web_app.router.add_post(PATH, mcp)
    web_app.router.add_route("*", PATH, not_allowed)  # GET (a stream), DELETE (a session): none offered
    web_app.on_startup.append(on_startup)
    web_app.on_cleanup.insert(0, on_cleanup)
    sdk.mount(web_app)  # the SDK's session manager runs with the server


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


def one_message(body: bytes) -> dict[str, Any] | None:
    """`body` as one JSON-RPC message (an object), or None when it is not one (`jsonrpc_refusal` says why)."""
    if jsonrpc_refusal(body) is not None:
        return None
    message = json.loads(body)
    return message if isinstance(message, dict) else None


def handshake(message: dict[str, Any]) -> bytes:
    """Slackbot's `initialize` as the SDK takes it: the version asked when we speak it, else the latest we do (the
    SDK would agree to 2025-03-26 and 2024-11-05, whose rules we do not keep); a `clientInfo` without its version
    (Slackbot sends its name alone) or no capabilities taken as they come."""
    params = obj(message.get("params"))
    asked = params.get("protocolVersion")
    client = obj(params.get("clientInfo"))
    params = {**params, "protocolVersion": asked if asked in VERSIONS else PROTOCOL,
              "capabilities": obj(params.get("capabilities")),
              "clientInfo": {**client, "name": str(client.get("name") or "unknown"),
                             "version": str(client.get("version") or "")}}
    return json.dumps({**message, "params": params}).encode()


def accepts_json(accept: str) -> bool:
    """Whether an `Accept` header takes a JSON answer (none given: anything is taken)."""
    if not accept.strip():
        return True
    kinds = {part.split(";")[0].strip().lower() for part in accept.split(",")}
    return bool(kinds & {"application/json", "application/*", "*/*"})


def obj(value: Any) -> dict[str, Any]:
    """`value` when it is a JSON object, else an empty one."""
    return value if isinstance(value, dict) else {}


def error(ident: Any, code: int, message: str, *, status: int = 200) -> web.Response:
    return web.json_response({"jsonrpc": "2.0", "id": ident, "error": {"code": code, "message": message}},
                             status=status)

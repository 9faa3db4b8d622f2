"""An approval gateway for the Model Context Protocol (extra `mcp`): any agent's MCP tool calls decided in Slack.

    agent-approvals-mcp --url https://approvals.example.com --key-env AGENT_APPROVALS_KEY --allow 'list_*' \\
        -- npx -y @modelcontextprotocol/server-filesystem /srv/files

The gateway runs where the agent runs, between the agent's MCP client and the upstream MCP server (a command
it starts over stdio, or `--upstream-url` over streamable HTTP). It is itself an MCP server (stdio, or
streamable HTTP with `--listen`) that lists the upstream's tools, prompts and resources unchanged and forwards
each `tools/call` only after a decision, asked through the bot's Approvals API with a key (`ApprovalsClient.
tool_decision`: the card names the server, as "<name> (MCP)", and shows the tool, its arguments and its
parameters as its `inputSchema` lists them; that schema goes with the ask, so the bot also checks the arguments,
edits and rules against it):

- arguments that fail the tool's `inputSchema` are never forwarded (the client gets `isError` saying why);
- a tool whose `inputSchema` may not be used is never called (`isError`: "the inputSchema of X is not used: ..."
  and a log line). The upstream is not trusted: a schema is checked with `agent_approvals.schemas`, never with
  jsonschema alone, so it cannot make the gateway fetch a URL or read a file (`$ref` only inside the schema),
  recurse or expand without bound, or freeze it (RE2 for `pattern`, a deadline per check); the check runs off
  the event loop, so progress and other requests keep flowing meanwhile;
- Approve forwards exactly the approved arguments, once (the approval is used right before); an edit on the
  card is schema-checked and asked about again as the edited call, then forwarded with those arguments;
- Reject, a timeout, a cancellation: nothing is forwarded, the client gets `isError: true` with the reason;
- tools matching an `--allow` pattern (fnmatch, e.g. `read_*`) are forwarded without a card, each forward
  recorded in the bot's audit log first (`POST /api/v1/audit/allowed`: an `allowed` entry with the key, the
  tool, the digest of the arguments and the pattern; also a log line here). The record is retried through
  blips for up to 10 s; when it cannot be written (the API unreachable, the key refused) the call is not
  forwarded and the client gets `isError` saying so: nothing runs unaudited. The bot's policies decide first,
  as on every way in: a policy that forbids the call refuses it (`isError` with the policy's reason, audited by
  the bot), one that asks a person turns it into an ordinary ask (a card). A call an "always allow" rule
  matches is forwarded without a card too, audited by the bot;
- a forwarded call the upstream does not answer within `--call-timeout` seconds (default 300) gets the client
  `isError` ("the upstream did not answer X within N s": it may have run; the upstream is asked to cancel it)
  and a log line; any other request the upstream does not answer in that time gets an MCP error saying so;
- while a person decides, `notifications/progress` go to clients that asked for them (a `progressToken`).

No client is kept waiting past its patience (`--patience`, default 50 s a round), chosen by what it declares:
a client of the 2026-07-28 protocol gets `input_required` with a `requestState` (sealed by the MCP SDK's
`RequestStateBoundary`: encrypted, bound to `tools/call`, the tool, the arguments' digest and an expiry; inside,
the approval id, the client (`deciding.bound_to`: its program, which it cannot choose, and its clientInfo) and a
nonce: used once per process), and its retry gets the result
once approved; the grant lives in the bot (the approval's single `use`), so a gateway restarted between the ask
and the retry honours it once and only once (the sealing key from AGENT_APPROVALS_MCP_STATE_KEY or
`--state-key-file`; else one per process, logged: states from before a restart are then refused). An older
client waits, with progress notifications, or with `--deny-then-grant` gets `isError` "waiting for approval in
Slack: <card>; call again with the same arguments" and its identical retry runs once approved. A 2026-07-28
client that declares the tasks extension (`io.modelcontextprotocol/tasks`) gets a task at once instead
(`tasks.py`: `tasks/get` says "waiting for approval in Slack: <card>", then gives the result of the one run;
`tasks/cancel` withdraws the card, or says it came too late; the task id sealed with the same key, so a
restarted gateway answers it).

An approved call is forwarded with the approval's signed receipt (`Approval.receipt`, when the bot signs) in
its `_meta` under `agent_approvals.receipts.META_KEY`, so the upstream may check it itself.

Each `tools/call` is its own ask: its idempotency key is the gateway's session and a random part drawn for that
invocation (kept through the client's HTTP retries of the ask), never the JSON-RPC request id, so a client that
sends the same id again (with the same arguments) makes a new ask, a new card, and one approval runs one call;
an `--allow`ed call forwarded twice is audited twice. What is not JSON-RPC gets a JSON-RPC error, never silence,
and the gateway goes on: over stdio a line that is not JSON gets -32700 (parse error, id null), JSON that is not
a JSON-RPC message -32600 (invalid request, its id when it has one, else null), blank lines are skipped; over
`--listen` such a POST body gets HTTP 400 with the same error. An upstream that does not start, or answers
something that is not MCP, gets the client a clear MCP error and a log line (stderr), never a traceback. The key
is read from an environment variable, never logged, and never passed to the upstream.
"""

from __future__ import annotations

import asyncio
import fnmatch
import json
import logging
import sys
import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from agent_approvals._extras import missing_extra

try:
    import httpx
    from mcp import types
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server
    from mcp.server.request_state import RequestStateBoundary, RequestStateSecurity
    from mcp.shared.exceptions import MCPError
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "mcp", exc) from exc

from agent_approvals.approver import digest_of
from agent_approvals.artifacts import artifact_sha256
from agent_approvals.client import (
    AllowedCall,
    Approval,
    ApprovalsClient,
    ApprovalsError,
    call_key,
    idempotency_key,
    refusal,
    waiting_words,
)
from agent_approvals.mcp_gateway.deciding import Decisions, bound_to
from agent_approvals.mcp_gateway.forwarding import CALL_TIMEOUT, Forwarder, denial, refused
from agent_approvals.mcp_gateway.listing import LIST_ALL_ENV, LIST_TTL, Listing
from agent_approvals.mcp_gateway.marks import Marks
from agent_approvals.mcp_gateway.tasks import POLL_INTERVAL, TASK_TTL, Tasks, declares_tasks
from agent_approvals.mcp_gateway.upstream import Connected, Upstream, connect
from agent_approvals.mcp_gateway.wire import JsonRpcBodies, jsonrpc_refusal, stdio_checked

__all__ = [
    "CALL_TIMEOUT", "LIST_ALL_ENV", "PATIENCE", "POLL_INTERVAL", "STATE_KEY_ENV", "TASK_TTL", "Gateway",
    "JsonRpcBodies", "Upstream", "connect", "jsonrpc_refusal", "state_security_from", "stdio_checked",
]

log = logging.getLogger("agent_approvals.mcp_gateway")
MAX_EDITS = 5  # edits of one call asked about again, at most
AUDIT_WITHIN = 10.0  # seconds an allowed call waits for its audit entry (retried through blips), then refused
PATIENCE = 50.0  # seconds one round of a call waits for the decision (input_required, --deny-then-grant)
STATE_KEY_ENV = "AGENT_APPROVALS_MCP_STATE_KEY"  # the requestState sealing key (>= 32 bytes), shared by restarts
STATE_TTL = 24 * 3600.0  # seconds a sealed requestState may be echoed back
MODERN = ("2026-07-28",)  # protocol versions with input_required round trips
Context = ServerRequestContext[Any, Any]


def state_security_from(environ: Mapping[str, str], key_file: str = "") -> tuple[RequestStateSecurity, str]:
    """The requestState sealing policy, and a note on where its key came from: `key_file` (its first line), else
    the environment variable AGENT_APPROVALS_MCP_STATE_KEY (each at least 32 bytes), else a key of this process
    alone (a restarted gateway cannot read the states it minted: their clients' retries are refused)."""
    secret = ""
    where = ""
    if key_file:
        with open(key_file, encoding="utf-8") as file:
            secret, where = (file.readline().strip(), f"the file {key_file}")
    elif environ.get(STATE_KEY_ENV):
        secret, where = environ[STATE_KEY_ENV].strip(), f"${STATE_KEY_ENV}"
    if secret:
        return RequestStateSecurity(keys=[secret], ttl=STATE_TTL), f"requestState sealed with the key in {where}"
    return (RequestStateSecurity.ephemeral(ttl=STATE_TTL),
            f"requestState sealed with a key of this process alone (set {STATE_KEY_ENV} or --state-key-file so a"
            " restarted gateway honours the states it gave out)")


class Gateway:
    """The gateway's MCP server over one upstream session (see the module docstring).

    Args:
        upstream: the connected upstream (`connect`).
        client: asks the Approvals API (its key).
        allow: fnmatch patterns of tool names forwarded without a card.
        within: seconds a decision may take (never longer than the channel allows).
        progress_every: seconds between progress notifications while a person decides.
        audit_within: seconds an allowed call may wait for its audit entry before it is refused.
        call_timeout: seconds the upstream may take to answer a request (a forwarded call: then `isError`).
        patience: seconds one round of a call waits for the decision, for clients that get `input_required`
            (2026-07-28) and with `deny_then_grant`; then the client is answered at once (see `call_tool`).
        deny_then_grant: for older clients with a short limit: past `patience`, answer `isError` "waiting for
            approval in Slack ... call again with the same arguments"; the identical retry runs once approved.
        state_security: seals `requestState` (a key shared by restarts: `state_security_from`).
        scope: names the cards deny-then-grant finds again (default: the upstream), across restarts.
        task_ttl: seconds a task id is honoured (and a finished task's answer kept), for clients that declare
            the tasks extension (`tasks.py`).
        task_poll: seconds between a tasks client's `tasks/get`, as suggested to it.
        marks: the artefacts of a tool's calls (`marks.py`: `x-artifact` in its schema, or `--artifact`), shown on
            the card and, for a file change, checked against the disk right before the approved call is forwarded.
        list_all: list every upstream tool (`--list-all`); else `tools/list` is filtered by policy (`listing.py`).
        list_ttl: seconds a list's decisions are kept.
    """

    def __init__(
        self,
        upstream: Connected,
        client: ApprovalsClient,
        *,
        allow: Sequence[str] = (),
        within: int | None = None,
        progress_every: float = 10.0,
        audit_within: float = AUDIT_WITHIN,
        call_timeout: float = CALL_TIMEOUT,
        patience: float = PATIENCE,
        deny_then_grant: bool = False,
        state_security: RequestStateSecurity | None = None,
        scope: str = "",
        task_ttl: float = TASK_TTL,
        task_poll: float = POLL_INTERVAL,
        marks: Marks | None = None,
        list_all: bool = False,
        list_ttl: float = LIST_TTL,
    ) -> None:
        self.upstream = upstream
        self.patience = patience
        self.deny_then_grant = deny_then_grant
        self.state_security = state_security or RequestStateSecurity.ephemeral(ttl=STATE_TTL)
        self.scope = scope  # deny-then-grant's cards: the same call in the same scope finds the same card
        self._spent_states: set[str] = set()  # requestStates answered already (single use, this process)
        self.client = client
        self.allow = tuple(allow)
        self.audit_within = audit_within
        self.session_id = uuid.uuid4().hex[:16]  # this gateway process: with a random part per call, an ask's key
        marks = marks or Marks()  # what a call changes (its artefacts), and their check right before a forward
        self.forwarder = Forwarder(upstream, call_timeout=call_timeout, marks=marks)  # what forwards a call
        self.name = self.forwarder.name
        self.decisions = Decisions(client, server=self.name, within=within, progress_every=progress_every,
                                   marks=marks)
        self.tasks = Tasks(self.forwarder, self.decisions, self.state_security.codec, ttl=task_ttl, poll=task_poll)
        self.listing = Listing(client, server=self.name, list_all=list_all, ttl=list_ttl)

    def server(self) -> Server[Any]:
        """The MCP server the agent's client talks to: the upstream's name, instructions and capabilities."""
        info = self.upstream.info
        handlers: dict[str, Any] = {"on_list_tools": self.list_tools, "on_call_tool": self.call_tool}
        caps = info.capabilities if info is not None else None
        if caps is not None and caps.prompts is not None:
            handlers.update(on_list_prompts=self.list_prompts, on_get_prompt=self.get_prompt)
        if caps is not None and caps.resources is not None:
            handlers.update(on_list_resources=self.list_resources, on_read_resource=self.read_resource,
                            on_list_resource_templates=self.list_resource_templates)
        version = info.server_info.version if info is not None else ""
        instructions = info.instructions if info is not None else None
        server: Server[Any] = Server(self.name, version=version, instructions=instructions, **handlers)
        server.middleware.append(RequestStateBoundary(self.state_security, default_audience=f"{self.name} (MCP)"))
        self.tasks.install(server)
        return server

    # listing: the tools by policy (`listing.py`), the rest unchanged ------------------------------------------
    async def list_tools(self, ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        listed = await self.forwarder.call("tools/list", lambda s: s.list_tools(params=_page(params)))
        self.forwarder.known(listed.tools)
        return listed.model_copy(update={"tools": await self.listing.shown(listed.tools)})

    async def list_prompts(self, ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListPromptsResult:
        return await self.forwarder.call("prompts/list", lambda s: s.list_prompts(params=_page(params)))

    async def get_prompt(self, ctx: Context, params: types.GetPromptRequestParams) -> types.GetPromptResult:
        return await self.forwarder.call("prompts/get", lambda s: s.get_prompt(params.name, params.arguments))

    async def list_resources(
        self, ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListResourcesResult:
        return await self.forwarder.call("resources/list", lambda s: s.list_resources(params=_page(params)))

    async def list_resource_templates(
        self, ctx: Context, params: types.PaginatedRequestParams | None
    ) -> types.ListResourceTemplatesResult:
        page = _page(params)
        return await self.forwarder.call("resources/templates/list", lambda s: s.list_resource_templates(params=page))

    async def read_resource(self, ctx: Context, params: types.ReadResourceRequestParams) -> types.ReadResourceResult:
        return await self.forwarder.call("resources/read", lambda s: s.read_resource(str(params.uri)))

    # calling, once decided --------------------------------------------------------------------------
    async def call_tool(
        self, ctx: Context, params: types.CallToolRequestParams
    ) -> types.CallToolResult | types.InputRequiredResult | dict[str, Any]:
        """One `tools/call`, never blocking its client past its patience: a client that declares the tasks
        extension gets a task at once (`tasks.py`); another 2026-07-28 client gets
        `input_required` (a sealed, single-use `requestState` naming the approval) after `patience` seconds and
        the result on the retry that finds it approved; with `deny_then_grant`, an older client gets `isError`
        saying to call again; else the call waits for the decision, with progress notifications."""
        name, arguments = params.name, dict(params.arguments or {})
        tool = await self.forwarder.tool(name)
        wrong = await self.forwarder.check(tool, arguments)
        if wrong is not None:
            return wrong
        modern = ctx.protocol_version in MODERN
        if params.request_state is not None:
            return await self._resumed(ctx, name, arguments, params.request_state)
        # this invocation's own key (never the JSON-RPC id, which a client may send again): each call is one ask
        key = idempotency_key("mcp", self.session_id, uuid.uuid4().hex)
        pattern = next((p for p in self.allow if fnmatch.fnmatchcase(name, p)), None)
        if pattern is not None:
            recorded = await self._audit_allowed(name, arguments, pattern, idempotency_key(key, "allowed"))
            if isinstance(recorded, types.CallToolResult):
                return recorded  # refused by a policy, or not audited: not forwarded
            if recorded is not None:
                log.info("audit %s", json.dumps({"event": "mcp_allowed", "server": self.name, "tool": name,
                                                  "arguments": arguments, "by": "--allow", "pattern": pattern,
                                                  "recorded": recorded.id}, sort_keys=True))
                return await self.forwarder.forward(ctx, name, arguments)
            # a policy asks a person about it: asked like any call the allow-list does not name
        if modern and declares_tasks(ctx):
            return await self.tasks.create(ctx, tool, arguments, key)
        if modern:
            return await self._first_round(ctx, tool, arguments, key)
        if self.deny_then_grant:
            return await self._deny_then_grant(ctx, tool, arguments)
        for edit in range(MAX_EDITS + 1):
            this = key if not edit else idempotency_key(key, f"e{edit}")
            decided = await self.decisions.with_progress(ctx, tool, arguments, this)
            self.decisions.audit(name, decided)
            if decided.approved:
                return await self.forwarder.forward(ctx, name, arguments, decided)
            if decided.status != "revised" or not decided.edited or edit == MAX_EDITS:
                return refused(refusal(decided), denied=denial("unavailable", decided.id))
            wrong = await self.forwarder.check(tool, decided.arguments, edited=True)
            if wrong is not None:  # the bot's form checks edits against the schema too: this is the last guard
                return wrong
            arguments = dict(decided.arguments)  # the edited call, asked about again
        raise AssertionError("unreachable")

    # clients with a limit -------------------------------------------------------------------------------
    def _state(self, ctx: Context, approval: Approval, name: str, arguments: dict[str, Any]) -> str:
        """The plaintext of a requestState (the boundary seals it, with the method, tool, arguments, expiry)."""
        return json.dumps({"approval": approval.id, "tool": name, "digest": digest_of(arguments),
                           "client": bound_to(ctx), "nonce": uuid.uuid4().hex}, sort_keys=True)

    async def _first_round(
        self, ctx: Context, tool: types.Tool, arguments: dict[str, Any], key: str
    ) -> types.CallToolResult | types.InputRequiredResult:
        asked = await self.decisions.ask(tool, arguments, key)
        return await self._round(ctx, tool.name, arguments, asked)

    async def _resumed(
        self, ctx: Context, name: str, arguments: dict[str, Any], plaintext: str
    ) -> types.CallToolResult | types.InputRequiredResult:
        """A retry carrying a requestState (verified by the boundary: sealed by this gateway's key, unexpired,
        for this tool and these arguments): bound to this client and the call's digest, and used once."""
        try:
            state = json.loads(plaintext)
            approval_id, nonce = str(state["approval"]), str(state["nonce"])
            bound = state["tool"] == name and state["digest"] == digest_of(arguments)
        except (ValueError, KeyError, TypeError):
            raise MCPError(types.INVALID_PARAMS, "Invalid or expired requestState") from None
        if not bound or state.get("client", "") != bound_to(ctx) or nonce in self._spent_states:
            log.warning("refused a requestState for %s on %s: %s", name, self.name,
                        "used already" if nonce in self._spent_states else "not bound to this call or client")
            raise MCPError(types.INVALID_PARAMS, "Invalid or expired requestState")
        if len(self._spent_states) >= 100_000:
            self._spent_states.clear()
        self._spent_states.add(nonce)
        asked = await self.decisions.read(approval_id, name)
        return await self._round(ctx, name, arguments, asked)

    async def _round(
        self, ctx: Context, name: str, arguments: dict[str, Any], asked: Approval
    ) -> types.CallToolResult | types.InputRequiredResult:
        """Wait up to `patience` for `asked`; then the result (forwarded once: the approval's use, in the bot, with
        a token of this round alone, so a replayed or restarted retry never runs it again), the refusal, or, still
        pending, `input_required` with a new state."""
        try:
            decided = asked if not asked.pending else await self.client.wait(asked.id, at_most=self.patience)
            if decided.pending:
                log.info("approval %s of %s on %s: still pending, input_required", decided.id, name, self.name)
                return types.InputRequiredResult(request_state=self._state(ctx, decided, name, arguments))
            self.decisions.audit(name, decided)
            if not decided.approved:
                return refused(refusal(decided), denied=denial("unavailable", decided.id))
            used = await self.client.spend(decided.id, token=f"use-{uuid.uuid4().hex}")
            if not used.used:
                return refused(used.refusal)
        except (ApprovalsError, httpx.HTTPError) as exc:
            raise MCPError(types.INTERNAL_ERROR, f"could not read the approval of {name}: {exc}") from None
        return await self.forwarder.forward(ctx, name, arguments, decided)

    async def _deny_then_grant(self, ctx: Context, tool: types.Tool, arguments: dict[str, Any]) -> types.CallToolResult:
        """Older clients with a short limit: the decision within `patience`, else `isError` asking for the
        identical call again, which finds the same card (keyed by the scope, the tool and the arguments' digest)
        and, approved, spends its single use and runs."""
        made = await self.decisions.artifacts(tool, arguments)  # a file changed: another card
        keyed = {"arguments": arguments, "artifacts": [artifact_sha256(a) for a in made]} if made else arguments
        key = call_key("mcp", self.scope or self.name, tool.name, keyed)
        decided = await self.decisions.within_patience(tool, arguments, key, self.patience, made)
        if decided.pending:
            return refused(waiting_words(decided, tool.name, self.patience), denied=denial("undisclosed", decided.id))
        self.decisions.audit(tool.name, decided)
        if not decided.approved:
            return refused(refusal(decided), denied=denial("unavailable", decided.id))
        return await self.forwarder.forward(ctx, tool.name, arguments, decided)

    async def _audit_allowed(
        self, name: str, arguments: dict[str, Any], pattern: str, key: str
    ) -> AllowedCall | types.CallToolResult | None:
        """The allowed call recorded in the bot's audit log (`record_allowed`: the key, the tool, the digest of the
        arguments, the pattern), retried through blips for at most `audit_within` seconds; else the `isError`
        result the client gets instead of the call: an allowed call is forwarded only once it is audited. The bot's
        policies decide first: one that refuses it is that `isError` (with its reason), one that asks a person is
        None (the call is asked about like any other)."""
        try:
            async with asyncio.timeout(self.audit_within):
                return await self.client.record_allowed(name, arguments, allowed_by=f"--allow {pattern}",
                                                        agent=f"{self.name} (MCP)"[:80], idempotency_key=key)
        except ApprovalsError as exc:
            if exc.code == "ask_a_person":
                return None
            if exc.code == "refused_by_policy":
                log.info("not forwarded: %s on %s (--allow %s): %s", name, self.name, pattern, exc.message)
                return refused(f"Not run: {exc.message}", denied=denial("unavailable"))
            return self._not_audited(name, pattern, exc)
        except (httpx.HTTPError, TimeoutError) as exc:
            return self._not_audited(name, pattern, exc)

    def _not_audited(self, name: str, pattern: str, exc: Exception) -> types.CallToolResult:
        why = "no answer" if isinstance(exc, TimeoutError) else str(exc) or type(exc).__name__
        log.error("not forwarded: %s on %s (allowed by --allow %s) could not be recorded in the audit log: %s",
                  name, self.name, pattern, why)
        return refused(f"Not run: {name} is allowed without a card (--allow {pattern}), but the call could not be"
                       f" recorded in the approvals audit log ({why}); it runs only once recorded.")


def _page(params: types.PaginatedRequestParams | None) -> types.PaginatedRequestParams | None:
    """A list request's page for the upstream: its cursor only (the client's `_meta` belongs to the client's own
    connection: its protocol era, identity and capabilities are not the gateway's)."""
    return types.PaginatedRequestParams(cursor=params.cursor) if params is not None and params.cursor else None


# what is not JSON-RPC: an error, never silence ------------------------------------------------------------
def configure_logging(level: int = logging.INFO) -> None:
    """Log lines to stderr (stdout is the MCP stream on stdio)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("agent-approvals-mcp %(levelname)s %(message)s"))
    log.addHandler(handler)
    log.setLevel(level)
    log.propagate = False

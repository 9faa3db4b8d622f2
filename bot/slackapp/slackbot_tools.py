"""Slackbot asks before it writes: the tools behind `/slack/mcp` (the HTTP side: bot/slackapp/slackbot_mcp.py), served
by the MCP SDK's server (`SlackbotTools.server`, as the MCP gateway's `Gateway.server`): each call at the place the
endpoint found for its person (`Caller`, in the request's ASGI scope under `CALLER`).

The upstream MCP servers of SLACKBOT_MCP are started (or reached) when the worker starts, with the MCP gateway's own
upstream code (`agent_approvals.mcp_gateway`). Slackbot sees their tools, each marked `supportsBlockKit`, and ours,
`approval_result`. A tool the upstream marks `readOnlyHint` is forwarded at once. Any other call becomes an approval
asked with SLACKBOT_MCP's API key on the Slack person's behalf (`requester`, who never decides it), decided by
policies, rules and people as every other way in; Slackbot gets at once the blocks that say what waits for whom, and
a `tool:approval_result` button. When it is decided, the worker that asked (or, if it is gone, the requester's next
`approval_result`) spends the approval once (`ApprovalsApi.use`: another worker's try is refused), runs the call on
the upstream with its receipt, keeps the result for a day and tells the requester by direct message."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, cast

from agent_approvals.mcp_gateway.forwarding import Forwarder, refused
from agent_approvals.mcp_gateway.upstream import Upstream, connect
from agent_approvals.receipts import META_KEY
from mcp import types
from mcp.server.context import ServerRequestContext
from mcp.server.lowlevel import Server
from mcp.shared.exceptions import MCPError

from bot.api.requests import APPROVAL_ID, ApiError, CheckedAllowed, CheckedAsk
from bot.api.service import ApprovalsApi
from bot.core.arg_paths import JSON_TEXT
from bot.core.ids import random_id
from bot.core.redaction import redacted
from bot.core.sensitive import Hidden, find_hidden
from bot.core.setting_values import SlackbotMcp, SlackbotUpstream
from bot.core.tasks import Background
from bot.core.version import __version__
from bot.slack.blocks.slackbot import (
    RESULT_TOOL,
    build_outcome_blocks,
    build_outcome_text,
    build_refused_blocks,
    build_waiting_blocks,
)
from bot.store import ApiKey, Store, StoreUnavailable

log = logging.getLogger("bot.slackbot")
Tell = Callable[[str, str], Awaitable[None]]  # a direct message to a person
WAIT_ROUND = 60.0  # seconds one long-poll of the decision waits before the next
CALLER = "agent_approvals.slackbot.caller"  # the ASGI scope key the endpoint puts its `Caller` under
STORAGE_DOWN = "the approvals service cannot reach its storage; try again"
Context = ServerRequestContext[Any, Any]
RESULT_SCHEMA = {"type": "object", "properties": {"approval_id": {"type": "string", "maxLength": 64}},
                 "required": ["approval_id"], "additionalProperties": False}


class SlackbotError(Exception):
    """A call Slackbot made that is refused before anything is asked (a JSON-RPC error with `code`)."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(message)
        self.code, self.message = code, message


@dataclass(frozen=True)
class Place:
    """Where a call is served: its workspace's Approvals API and store (its tenant's: the approval, its card in the
    key's channel, the result kept), the name of the key its asks take, and the DM to a person of that workspace."""

    api: ApprovalsApi
    store: Store
    key: str
    tell: Tell


@dataclass(frozen=True)
class Caller:
    """Who calls (a Slack person, checked by the endpoint) and the place their calls are served at."""

    user: str
    at: Place


class SlackbotServer(Server[Any]):
    """The SDK's server, offering tools alone: no `listChanged` (a stateless endpoint has no stream to say it on)."""

    def get_capabilities(self, *args: Any, **kwargs: Any) -> types.ServerCapabilities:
        return types.ServerCapabilities(tools=types.ToolsCapability())


class SlackbotTools:
    """The tools Slackbot sees, and what a call of each does (see the module docstring). The upstreams are the
    worker's; each call is served at the `Place` of the workspace it comes from."""

    def __init__(self, config: SlackbotMcp, *, background: Background, detectors: tuple[str, ...] = ()) -> None:
        self.config, self.background, self.detectors = config, background, detectors
        self._stack = contextlib.AsyncExitStack()
        self._upstreams: dict[str, Forwarder] = {}  # by upstream name
        self._tools: dict[str, tuple[Forwarder, types.Tool]] = {}  # by tool name: the first upstream's wins

    async def start(self) -> None:
        """Start or reach every upstream (one that fails is logged, and its tools are missing)."""
        for one in self.config.upstreams:
            connected = await self._stack.enter_async_context(connect(upstream_of(one)))
            self._upstreams[one.name] = Forwarder(connected, call_timeout=one.call_timeout)

    async def close(self) -> None:
        await self._stack.aclose()

    def server(self) -> Server[Any]:
        """The MCP server Slackbot talks to (the SDK's: the JSON-RPC, the handshake and the framing are its own)."""
        return SlackbotServer("slack-agent-approvals", version=__version__, on_list_tools=self._listed,
                              on_call_tool=self._called)

    async def _listed(self, ctx: Context, params: types.PaginatedRequestParams | None) -> types.ListToolsResult:
        return types.ListToolsResult(tools=[types.Tool.model_validate(tool) for tool in await self.list_tools()])

    async def _called(self, ctx: Context, params: types.CallToolRequestParams) -> types.CallToolResult:
        """A `tools/call`, for the caller the endpoint checked; what is refused before anything is asked is a JSON-RPC
        error (its code), what a tool says is a result (`isError` when it did not run)."""
        caller = (getattr(ctx.request, "scope", None) or {}).get(CALLER)
        if not isinstance(caller, Caller):  # (the endpoint names one for every tools/call it lets through)
            raise MCPError(types.INVALID_PARAMS, "params._meta.slack names no user_id and team_id")
        try:
            said = await self.call(caller.user, params.name, dict(params.arguments or {}), at=caller.at)
        except SlackbotError as exc:
            raise MCPError(exc.code, exc.message) from None
        except ApiError as exc:  # the approval could not be read or used (e.g. its receipt expired)
            raise MCPError(types.INTERNAL_ERROR, exc.message) from None
        except StoreUnavailable:  # nothing was asked nor run: Slackbot may try again
            raise MCPError(types.INTERNAL_ERROR, STORAGE_DOWN) from None
        return types.CallToolResult.model_validate(said)

    async def list_tools(self) -> list[dict[str, Any]]:
        """Every upstream's tools (each marked as Block Kit capable, without its `outputSchema`: what a call answers
        is ours, what waits or what came of it, not the tool's typed output, which a client would hold it to) and
        `approval_result`."""
        listed: list[dict[str, Any]] = []
        tools: dict[str, tuple[Forwarder, types.Tool]] = {}
        for forwarder in self._upstreams.values():
            with contextlib.suppress(MCPError):  # an upstream that is down lists nothing (logged)
                found = (await forwarder.call("tools/list", lambda s: s.list_tools())).tools
                forwarder.known(found)
                for tool in found:
                    tools.setdefault(tool.name, (forwarder, tool))
        self._tools = tools
        for _, tool in tools.values():
            shown = tool.model_dump(by_alias=True, exclude_none=True, mode="json", exclude={"output_schema"})
            shown["_meta"] = {**(shown.get("_meta") or {}), "slack": {"supportsBlockKit": True}}
            listed.append(shown)
        listed.append({"name": RESULT_TOOL, "description": "The outcome and result of a call that waited for"
                       " an approval.", "inputSchema": RESULT_SCHEMA, "annotations": {"readOnlyHint": True},
                       "_meta": {"slack": {"supportsBlockKit": True}}})
        return listed

    async def call(self, user: str, name: str, arguments: dict[str, Any], *, at: Place) -> dict[str, Any]:
        """`name(arguments)` asked by Slack person `user` at `at`: forwarded, asked for, or the result fetched."""
        if name == RESULT_TOOL:
            return await self.result(user, str(arguments.get("approval_id", "")), at=at)
        if name not in self._tools:
            await self.list_tools()
        if name not in self._tools:
            raise SlackbotError(-32602, f"no tool {name!r}")
        forwarder, tool = self._tools[name]
        wrong = await forwarder.check(tool, arguments)
        if wrong is not None:
            return shown(wrong, blocks=build_refused_blocks(text_of(wrong)))
        if tool.annotations is not None and tool.annotations.read_only_hint:
            return await self.read(user, forwarder, tool, arguments, at=at)
        return await self.ask(user, tool, arguments, at=at)

    async def read(
        self, user: str, forwarder: Forwarder, tool: types.Tool, arguments: dict[str, Any], *, at: Place
    ) -> dict[str, Any]:
        """A read-only call, forwarded at once, never unaudited: recorded first as `allowed` (the decision chain walked
        to its "record as allowed" end), so a policy that refuses it refuses it and one that asks a person makes it
        an approval like a write."""
        allowed = CheckedAllowed(tool_name=tool.name, arguments=arguments, allowed_by="readOnlyHint",
                                 requester=user, agent="Slackbot")
        try:
            await at.api.record_allowed(await self.key(at), allowed)
        except ApiError as exc:
            if exc.code == "ask_a_person":
                return await self.ask(user, tool, arguments, at=at)
            return shown(refused(f"Not run: {exc.message}"), blocks=build_refused_blocks(f"Not run: {exc.message}"))
        log.info("forwarded read-only %s for %s", tool.name, user)
        return shown(await forwarder.forward(None, tool.name, arguments))

    async def ask(self, user: str, tool: types.Tool, arguments: dict[str, Any], *, at: Place) -> dict[str, Any]:
        """An approval for `tool(arguments)` on `user`'s behalf; the blocks that say what waits, at once."""
        key = await self.key(at)
        ask = CheckedAsk(kind="tool", title=f"Run {tool.name}, asked for in Slackbot",
                         tool_name=tool.name, arguments=arguments, schema=dict(tool.input_schema),
                         editable=False, requester=user, agent="Slackbot")
        try:
            status, view = await at.api.ask(key, ask, way="slackbot", never_self=True)
        except ApiError as exc:
            return shown(refused(f"Not asked: {exc.message}"), blocks=build_refused_blocks(f"Not asked: {exc.message}"))
        if status == 200:  # a policy or rule decided at once
            return await self.outcome(key, view, at=at)
        approval = await at.store.approvals.get(str(view["id"]))
        approvers, needed = (approval.approvers, approval.required_approvals) if approval else ((), 1)
        self.background.spawn(self.follow(key, str(view["id"]), at=at), name=f"slackbot-{view['id']}")
        text = f"{tool.name} waits for a decision (approval {view['id']}); you will get the outcome by DM."
        return {"content": [{"type": "text", "text": text}],
                "_meta": {"slack": {"blocks": build_waiting_blocks(view, approvers=approvers, needed=needed)}}}

    async def follow(self, key: ApiKey, approval_id: str, *, at: Place) -> None:
        """Wait for `approval_id`'s decision (this worker's long-poll), then run it if approved and tell who asked."""
        view = await at.api.get(key, approval_id, wait=WAIT_ROUND)
        while view["status"] == "pending":
            if at.api.closing:  # the worker stops: the requester's `approval_result` runs it
                return
            view = await at.api.get(key, approval_id, wait=WAIT_ROUND)
        said = await self.outcome(key, view, at=at)
        approval = await at.store.approvals.get(approval_id)
        if approval is not None and approval.requester:
            await at.tell(approval.requester, build_outcome_text(str(said["content"][0]["text"])))

    async def outcome(self, key: ApiKey, view: dict[str, Any], *, at: Place) -> dict[str, Any]:
        """What came of a decided call: approved, it is spent once here and run (or its kept result); else why not."""
        approval_id = str(view["id"])
        kept = await at.store.slackbot.result(approval_id)
        if kept is not None:
            return kept
        if view["status"] != "approved":
            text = f"{view.get('tool')} {view['status']}: it did not run. {view.get('reason') or ''}".strip()
            said = {"content": [{"type": "text", "text": text}],
                    "_meta": {"slack": {"blocks": build_outcome_blocks(view)}}}
            await at.store.slackbot.keep_result(approval_id, said)
            return said
        used = await at.api.use(key, approval_id, token=random_id("slackbot-", 16))
        if not used.get("used"):  # another worker spends it: its result comes soon
            text = f"{view.get('tool')} was approved and runs now; check again in a moment."
            return {"content": [{"type": "text", "text": text}],
                    "_meta": {"slack": {"blocks": build_outcome_blocks(view)}}}
        return await self.run(approval_id, used, at=at)

    async def run(self, approval_id: str, view: dict[str, Any], *, at: Place) -> dict[str, Any]:
        """The approved call, once, on its upstream, with its receipt; the result kept for its requester."""
        tool = str(view.get("tool"))
        if tool not in self._tools:
            await self.list_tools()
        if tool not in self._tools:
            result = refused(f"Not run: no upstream has the tool {tool} any more")
        elif view.get("arguments_redacted"):  # never run with what is shown in place of a hidden value
            result = refused(f"Not run: {tool}'s hidden values are not kept (no SECRETS_KEY, or they expired);"
                             " ask again")
        else:
            receipt = view.get("receipt")
            meta = cast("types.RequestParamsMeta", {META_KEY: receipt}) if receipt else None
            forwarder = self._tools[tool][0]
            try:
                result = await forwarder.call(f"tools/call {tool}", lambda s: s.call_tool(
                    tool, dict(view.get("arguments") or {}), meta=meta))
            except MCPError as exc:
                result = refused(f"No result: {exc.message}")
            result = await self.hidden_in(result, approval_id, view, at=at)
        log.info("ran approved %s (approval %s)", tool, approval_id)
        text = text_of(result)
        said = shown(result, blocks=build_outcome_blocks(view, result_text=text, ran=True))
        said["content"] = [{"type": "text", "text": f"{tool} was approved and ran: {text}"}]
        await at.store.slackbot.keep_result(approval_id, said)
        return said

    async def result(self, user: str, approval_id: str, *, at: Place) -> dict[str, Any]:
        """`approval_result`: the outcome for the person who asked (nobody else reads it)."""
        approval = await at.store.approvals.get(approval_id) if APPROVAL_ID.fullmatch(approval_id) else None
        key = await self.key(at)
        if approval is None or not key.owns(approval) or approval.requester != user:
            raise SlackbotError(-32602, "no such approval of yours")
        view = await at.api.view(approval)
        if approval.pending:
            blocks = build_waiting_blocks(view, approvers=approval.approvers, needed=approval.required_approvals)
            return {"content": [{"type": "text", "text": f"{approval.tool_name} still waits for a decision."}],
                    "_meta": {"slack": {"blocks": blocks}}}
        return await self.outcome(key, view, at=at)

    async def hidden_in(self, result: types.CallToolResult, approval_id: str, view: dict[str, Any], *,
                        at: Place) -> types.CallToolResult:
        """`result` with the call's hidden values (#68) hidden in it too: an upstream's answer that repeats one (a
        receipt naming the card) reaches Slackbot, the DM and the result kept as the card shows it; and what the
        detectors (REDACT_DETECTORS) find in it."""
        said = result.model_dump(by_alias=True, exclude_none=True, mode="json")
        approval = await at.store.approvals.get(approval_id)
        arguments = view.get("arguments")
        if approval is not None and approval.hidden and isinstance(arguments, dict):
            said = replaced(said, secrets_of(arguments, at.api.approvals.chain.hiding.find(approval, arguments)))
        said = redacted(said, find_hidden(str(view.get("tool")), said, detectors=self.detectors))
        return types.CallToolResult.model_validate(said)

    @staticmethod
    async def key(at: Place) -> ApiKey:
        key = await at.store.api_keys.get(at.key)
        if key is None or not await at.store.api_keys.stands(key):
            raise SlackbotError(-32603, f"SLACKBOT_MCP's key {at.key} does not exist or was revoked")
        return key


def secrets_of(arguments: dict[str, Any], hidden: tuple[Hidden, ...]) -> list[tuple[str, str]]:
    """(a hidden string of `arguments`, what is shown for it), the longest first; a value inside JSON text or a
    name is left to the detectors."""
    found: list[tuple[str, str]] = []
    for item in hidden:
        value: Any = arguments
        for step in item.path:
            if step == JSON_TEXT or item.in_key:
                value = None
                break
            try:
                value = value[step]
            except (KeyError, IndexError, TypeError):
                value = None
                break
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str):
            value = value[item.span[0]:item.span[1]] if item.span else value
            if len(value) >= 4:  # (a short value would hide ordinary words of the answer)
                found.append((value, item.display))
    return sorted(found, key=lambda pair: -len(pair[0]))


def replaced(value: Any, secrets: list[tuple[str, str]]) -> Any:
    """A copy of `value` (any JSON) with each secret string in its strings replaced by what is shown for it."""
    if isinstance(value, str):
        for secret, display in secrets:
            value = value.replace(secret, display)
        return value
    if isinstance(value, list):
        return [replaced(item, secrets) for item in value]
    if isinstance(value, dict):
        return {key: replaced(item, secrets) for key, item in value.items()}
    return value


def upstream_of(one: SlackbotUpstream) -> Upstream:
    return Upstream(command=one.command, env=dict(one.env), url=one.upstream_url, start_timeout=one.start_timeout)


def text_of(result: types.CallToolResult) -> str:
    """The text of a tool result (its text parts, joined)."""
    return "\n".join(part.text for part in result.content if isinstance(part, types.TextContent)) or "(no text)"


def shown(result: types.CallToolResult, *, blocks: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """A tool result as JSON-RPC carries it, with `blocks` in `_meta.slack` when given."""
    said = result.model_dump(by_alias=True, exclude_none=True, mode="json")
    if blocks is not None:
        said["_meta"] = {**(said.get("_meta") or {}), "slack": {"blocks": blocks}}
    return said

"""Receipt guards: the executor's side of `agent_approvals.receipts` wrapped round what runs, so nothing runs
without a valid, unspent receipt for exactly its call.

    requires_receipt(checker)                 a decorator: an async tool function runs only with a valid,
                                              unspent receipt for exactly the arguments it is called with
    guard_mcp_server(server, checker)         the same for every tool of an MCP server (the `mcp` SDK's
    receipt_extension(checker)                low-level `Server`; an `MCPServer` takes the extension)

A tool whose call applies a change gives `artifacts`: a function of its call's arguments (a dict, by name) to the
artefacts it is about to apply (`agent_approvals.artifacts`); the receipt must bind exactly those, and a file change's
file must still hold the approved `before` under `root` (`ReceiptChecker.check`).

Every failure is a `ReceiptError` (or, for an MCP call, an error result saying why) and nothing runs."""

from __future__ import annotations

import dataclasses
import functools
import inspect
import logging
import os
from collections.abc import Awaitable, Callable, Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, ParamSpec, TypeVar

from agent_approvals.receipt_terms import META_KEY, ReceiptError

if TYPE_CHECKING:  # (receipts hands on this module's old names: it imports this one)
    from mcp.server.extension import Extension
    from mcp.server.lowlevel import Server
    from mcp_types import CallToolRequestParams

    from agent_approvals.receipts import ReceiptChecker

P = ParamSpec("P")
R = TypeVar("R")
# what a tool applies, from its call's arguments (by name): the artefacts its receipt must bind
ArtifactsOf = Callable[[dict[str, Any]], Sequence[Mapping[str, Any]]]
Root = str | os.PathLike[str] | None
log = logging.getLogger("agent_approvals.receipts")


# tool functions ------------------------------------------------------------------------------------------


class ReceiptRequired(Generic[P, R]):
    """An async tool function that runs only with a valid, unspent receipt for exactly the arguments it is
    called with (bound by name, as a dict; `**kwargs` flattened into it). Made by `requires_receipt`.

        await send_email(to="bob@example.com", body="Hi", receipt=approval.receipt)  # keyword `receipt`
        await send_email.call(approval.receipt, to="bob@example.com", body="Hi")     # the same, type-checked
    """

    def __init__(self, function: Callable[P, Awaitable[R]], checker: ReceiptChecker, tool: str,
                 artifacts: ArtifactsOf | None = None, root: Root = ".") -> None:
        functools.update_wrapper(self, function)
        self.function, self.checker, self.tool = function, checker, tool
        self.artifacts_of, self.root = artifacts, root
        self._signature = inspect.signature(function)

    async def __call__(self, *args: Any, **kwargs: Any) -> R:
        receipt = kwargs.pop("receipt", None)
        return await self._run(receipt, args, kwargs)

    async def call(self, receipt: str | None, /, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self._run(receipt, args, kwargs)

    async def _run(self, receipt: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> R:
        if receipt is not None and not isinstance(receipt, str):
            raise ReceiptError("malformed", "a receipt is a compact JWS string")
        arguments = self.arguments(*args, **kwargs)
        artifacts = None if self.artifacts_of is None else _artifacts(self.artifacts_of, self.tool, arguments)
        await self.checker.check(receipt, tool=self.tool, arguments=arguments, artifacts=artifacts, root=self.root)
        return await self.function(*args, **kwargs)

    def arguments(self, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """What a call's receipt must be for: each argument given, by name (defaults left out, as the agent
        asked without them)."""
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as error:
            raise ReceiptError("wrong_arguments", f"the call does not fit {self.tool}: {error}") from None
        named: dict[str, Any] = {}
        for name, value in bound.arguments.items():
            kind = self._signature.parameters[name].kind
            if kind is inspect.Parameter.VAR_KEYWORD:
                named.update(value)
            else:
                named[name] = list(value) if kind is inspect.Parameter.VAR_POSITIONAL else value
        return named


def requires_receipt(
    checker: ReceiptChecker, *, tool: str | None = None, artifacts: ArtifactsOf | None = None, root: Root = "."
) -> Callable[[Callable[P, Awaitable[R]]], ReceiptRequired[P, R]]:
    """A decorator: the async function runs only when called with `receipt=` a valid, unspent receipt for
    calling `tool` (default: the function's name) with exactly its other arguments; else `ReceiptError`, and
    its body never runs. The receipt is taken out before the call. `artifacts(arguments)`: the artefacts the call
    applies, which the receipt must bind (a file change's file under `root` still the approved `before`).

        @requires_receipt(checker)
        async def send_email(to: str, body: str) -> str: ...

        await send_email(**approval.arguments, receipt=approval.receipt)

        @requires_receipt(checker, artifacts=lambda a: [file_change(a["path"], Path(a["path"]).read_text(), a["text"])])
        async def write_file(path: str, text: str) -> None: ...
    """

    def wrap(function: Callable[P, Awaitable[R]]) -> ReceiptRequired[P, R]:
        if not inspect.iscoroutinefunction(function):
            raise TypeError("requires_receipt wraps an async function (wrap a sync one in `async def`)")
        if "receipt" in inspect.signature(function).parameters:
            raise TypeError("the function has its own `receipt` parameter; the receipt is the wrapper's")
        return ReceiptRequired(function, checker, tool or function.__name__, artifacts, root)

    return wrap


def _artifacts(artifacts_of: ArtifactsOf, tool: str, arguments: dict[str, Any]) -> Sequence[Mapping[str, Any]]:
    """What the call applies, as the tool says; a tool that cannot say refuses the call (`wrong_artifacts`)."""
    try:
        return artifacts_of(arguments)
    except (OSError, KeyError, TypeError, ValueError) as error:
        raise ReceiptError("wrong_artifacts", f"the artefacts of {tool!r} could not be made"
                                              f" ({type(error).__name__})") from None


# MCP servers (the `mcp` SDK, extra `mcp`) ------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _Guard:
    """What an MCP server's guard needs: the checker, the tools without a receipt, each tool's artefacts."""

    checker: ReceiptChecker
    unguarded: frozenset[str]
    artifacts: Mapping[str, ArtifactsOf]
    root: Root


async def _guarded(guard: _Guard, params: CallToolRequestParams, call_next: Callable[[], Awaitable[Any]]) -> Any:
    """A `tools/call` runs `call_next` only with a valid, unspent receipt in its `_meta` for its name and
    arguments; else it is answered with an error result (`isError`) saying why."""
    if params.name in guard.unguarded:
        return await call_next()
    from mcp_types import CallToolResult, TextContent

    receipt = (params.meta or {}).get(META_KEY)
    try:
        if receipt is not None and not isinstance(receipt, str):
            raise ReceiptError("malformed", "a receipt is a compact JWS string")
        arguments = dict(params.arguments or {})
        made = guard.artifacts.get(params.name)
        artifacts = None if made is None else _artifacts(made, params.name, arguments)
        await guard.checker.check(receipt, tool=params.name, arguments=arguments, artifacts=artifacts,
                                  root=guard.root)
    except ReceiptError as error:
        log.warning("MCP call of %r refused: %s", params.name[:100], error.reason)
        return CallToolResult(content=[TextContent(type="text", text=f"Not run: {error}")], is_error=True)
    return await call_next()


def guard_mcp_server(
    server: Server[Any], checker: ReceiptChecker, *, unguarded: Collection[str] = (),
    artifacts: Mapping[str, ArtifactsOf] | None = None, root: Root = ".",
) -> None:
    """Guard every tool of a low-level `mcp.server.lowlevel.Server` (built with `on_call_tool`): a `tools/call`
    without a valid, unspent receipt in `_meta["agent-approvals/receipt"]` for exactly its name and arguments gets
    an error result and the tool never runs. `unguarded` names tools that need none (e.g. what the gateway lets
    through with `--allow`); `artifacts` maps a tool's name to what its call applies (see the module docstring).
    Guarding twice changes nothing. An `MCPServer` takes `receipt_extension` instead."""
    from mcp.server.mcpserver import MCPServer
    from mcp_types import CallToolRequestParams

    if isinstance(server, MCPServer):
        raise TypeError("give an MCPServer the guard as MCPServer(..., extensions=[receipt_extension(checker)])")
    entry = server.get_request_handler("tools/call")
    if entry is None:
        raise ValueError("the server has no tools/call handler (on_call_tool) to guard")
    if getattr(entry.handler, "receipt_guard", False):
        return
    handler, guard = entry.handler, _Guard(checker, frozenset(unguarded), dict(artifacts or {}), root)

    async def guarded(ctx: Any, params: CallToolRequestParams) -> Any:
        return await _guarded(guard, params, lambda: handler(ctx, params))

    guarded.receipt_guard = True  # type: ignore[attr-defined]
    server.add_request_handler("tools/call", CallToolRequestParams, guarded)


def receipt_extension(
    checker: ReceiptChecker, *, unguarded: Collection[str] = (), artifacts: Mapping[str, ArtifactsOf] | None = None,
    root: Root = ".",
) -> Extension:
    """The guard of `guard_mcp_server` for an `mcp.server.mcpserver.MCPServer`, as the SDK wraps `tools/call`:

        server = MCPServer("mailbox", extensions=[receipt_extension(checker)])

    The server also tells clients, in its capabilities' `extensions`, that calls carry a receipt under
    `agent-approvals/receipt`."""
    from mcp.server.extension import Extension

    guard = _Guard(checker, frozenset(unguarded), dict(artifacts or {}), root)

    class ReceiptExtension(Extension):
        identifier = META_KEY

        def settings(self) -> dict[str, Any]:
            return {"meta_key": META_KEY}

        async def intercept_tool_call(self, params: CallToolRequestParams, ctx: Any, call_next: Any) -> Any:
            return await _guarded(guard, params, lambda: call_next(ctx))

    return ReceiptExtension()

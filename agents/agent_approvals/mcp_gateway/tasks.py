"""The MCP gateway's tasks: a `tools/call` from a client that declares the tasks extension
(`io.modelcontextprotocol/tasks`) becomes a task at once, instead of a call that waits for a person.

The wire follows the extension's draft specification,
https://github.com/modelcontextprotocol/experimental-ext-tasks/blob/main/docs/specification/draft/tasks.mdx
(the MCP SDK 2.3 has no server side for it: the methods are added to the low-level server here):

- a client declares the extension in each request's `_meta` ("io.modelcontextprotocol/clientCapabilities" ->
  "extensions" -> "io.modelcontextprotocol/tasks"), so on the 2026-07-28 protocol only; the gateway advertises it
  in its capabilities. Its `tools/call` that needs a card is answered with a `CreateTaskResult`
  (`resultType: "task"`, `taskId`, `status: "working"`, `createdAt`, `lastUpdatedAt`, `ttlMs`, `pollIntervalMs`);
- `tasks/get` answers the task as it is: "working" with the statusMessage "waiting for approval in Slack:
  <card link>" while a person decides, "working" while the approved call runs, then "completed" with the tool's
  `result` (a refusal, a timeout or a withdrawal is a completed task whose result has `isError: true` saying who
  and why, as the spec wants tool errors), "cancelled" after `tasks/cancel`, "failed" with the JSON-RPC `error`
  when the upstream answered with one;
- a task nobody decides within its ttl (`--task-ttl`, default 24 h) has its card withdrawn and completes with
  `isError` saying so;
- `tasks/cancel` withdraws the card (an approval decided already is spent unused, with a use of the cancel's own,
  so no gateway runs it) and the task is cancelled; once its call runs (its approval used by a driver here or
  in another gateway process) the cancel comes too late and says so (-32602), and the task completes with the
  call's result. A cancelled task never runs: from the moment a cancel arrives this process starts no driver
  for the task and runs no call of it, and the approval's single use (in the bot) decides between the cancel
  and any other process. `tasks/update` is acknowledged (these tasks never ask the client for input: the
  person is in Slack).

The task id is sealed with the gateway's requestState key (`state_security_from`: encrypted and authenticated),
holding the approval id, the tool, the digest of its arguments, the client it was made for (`deciding.bound_to`:
the program at the other end of the connection, which the client cannot choose, and its clientInfo), when it
was made and when it expires; a forged or altered id, one past its expiry, or one from another client (another
program, or another clientInfo) is answered -32602. So
any gateway process with the same key finds the approval again: one restarted between the ask and the click
answers `tasks/get` for the old id. The process that made the task waits for the decision itself and runs the
call at the click; another one starts when it is first asked about the task. The call runs with the arguments
the approval holds, only when they still match the sealed digest, and only after the approval's single `use`
(a token of that run alone), so two `tasks/get`, two gateways or a restart never run it twice. A finished
task's answer is kept in memory for the task's ttl: fetched twice, it is the same. After a restart it is gone:
the new process finds the approval used and answers that the call ran (or its task was cancelled) and its
result is not kept, and never runs it again.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import OrderedDict
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from agent_approvals._extras import missing_extra

try:
    import httpx
    from mcp import types
    from mcp.server.context import ServerRequestContext
    from mcp.server.lowlevel import Server
    from mcp.server.request_state import InvalidRequestState, RequestStateCodec
    from mcp.shared.exceptions import MCPError
except ImportError as exc:  # the extra is not installed
    raise missing_extra(__name__, "mcp", exc) from exc
from pydantic import Field

from agent_approvals.approver import digest_of
from agent_approvals.client import Approval, ApprovalsError, refusal
from agent_approvals.mcp_gateway.deciding import Decisions, bound_to
from agent_approvals.mcp_gateway.forwarding import Forwarder, denial, refused

log = logging.getLogger("agent_approvals.mcp_gateway")
TASKS = "io.modelcontextprotocol/tasks"  # the extension's identifier
TASK_TTL = 24 * 3600.0  # seconds a task id is honoured, and its answer kept once finished
POLL_INTERVAL = 2.0  # seconds between a client's tasks/get, as suggested to it
KEPT = 10_000  # finished tasks whose answer is kept, at most (the oldest go first)
KIND = "mcp-task"  # what a sealed task id holds (never a requestState, which the SDK's boundary seals)
Context = ServerRequestContext[Any, Any]


class TaskParams(types.RequestParams):
    """The params of `tasks/get` and `tasks/cancel`."""

    task_id: str


class UpdateTaskParams(TaskParams):
    """The params of `tasks/update` (these tasks never ask for input: the responses are ignored)."""

    input_responses: dict[str, Any] = Field(default_factory=dict)


def declares_tasks(ctx: Context) -> bool:
    """Whether this request's client declares the tasks extension (its per-request capabilities, 2026-07-28)."""
    meta: Any = ctx.meta
    capabilities = meta.get(types.CLIENT_CAPABILITIES_META_KEY) if isinstance(meta, dict) else None
    extensions = capabilities.get("extensions") if isinstance(capabilities, dict) else None
    return isinstance(extensions, dict) and TASKS in extensions


@dataclass(frozen=True, slots=True)
class Sealed:
    """What a task id holds (sealed: the client cannot read or change it)."""

    approval: str
    tool: str
    digest: str  # of the arguments (`digest_of`)
    client: str  # who it was made for (`deciding.bound_to`: the connection's program, and its clientInfo)
    created: float  # epoch seconds
    expires: float
    nonce: str  # this task's own name in a process's memory


@dataclass(frozen=True, slots=True)
class _Finished:
    status: str  # completed | failed | cancelled
    message: str
    at: float
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None


class Tasks:
    """The tasks extension on one gateway (see the module docstring)."""

    def __init__(self, forwarder: Forwarder, decisions: Decisions, codec: RequestStateCodec, *,
                 ttl: float = TASK_TTL, poll: float = POLL_INTERVAL) -> None:
        self.forwarder, self.decisions, self.codec = forwarder, decisions, codec
        self.client, self.name = decisions.client, forwarder.name
        self.ttl, self.poll = ttl, poll
        self._running: dict[str, asyncio.Task[None]] = {}  # by nonce: waits for the decision, then runs the call
        self._seen: dict[str, Approval] = {}  # the approval as last read, by nonce (while the task is not finished)
        self._forwarding: set[str] = set()  # nonces whose call is used and runs: a cancel no longer stops it
        self._cancelling: set[str] = set()  # nonces a cancel is under way for: no driver starts, no call runs
        self._finished: OrderedDict[str, _Finished] = OrderedDict()

    def install(self, server: Server[Any]) -> None:
        """Advertise the extension and serve `tasks/get`, `tasks/update` and `tasks/cancel` on `server`."""
        server.extensions[TASKS] = {}
        server.add_request_handler("tasks/get", TaskParams, self.get)
        server.add_request_handler("tasks/update", UpdateTaskParams, self.update)
        server.add_request_handler("tasks/cancel", TaskParams, self.cancel)

    # the methods ------------------------------------------------------------------------------------
    async def create(self, ctx: Context, tool: types.Tool, arguments: dict[str, Any], key: str) -> dict[str, Any]:
        """The `CreateTaskResult` for `tool(arguments)`: asked at once (its card), then waited for and run here."""
        asked = await self.decisions.ask(tool, arguments, key)
        now = time.time()
        task = Sealed(asked.id, tool.name, digest_of(arguments), bound_to(ctx), now, now + self.ttl,
                      uuid.uuid4().hex)
        task_id = self.codec.seal(json.dumps({"kind": KIND, **asdict(task)}).encode())
        self._seen[task.nonce] = asked
        self._start(task)
        log.info("approval %s of %s on %s: a task (the client polls tasks/get)", asked.id, tool.name, self.name)
        return {"resultType": "task", **self._view(task_id, task)}

    async def get(self, ctx: Context, params: TaskParams) -> dict[str, Any]:
        """`tasks/get`: the task as it is now (its driver started here when this process has none: a restart)."""
        task = self._open(ctx, params.task_id)
        nonce = task.nonce
        if nonce not in self._finished and nonce not in self._running and nonce not in self._cancelling:
            self._start(task)  # (at once, before any await: two tasks/get at the same time start one driver)
            if task.nonce not in self._seen:  # (for the card's link; the driver reads it too)
                read = await self._read(task)
                if task.nonce not in self._finished:
                    self._seen.setdefault(task.nonce, read)
        return self._view(params.task_id, task)

    async def update(self, ctx: Context, params: UpdateTaskParams) -> dict[str, Any]:
        """`tasks/update`: acknowledged (nothing is ever asked of the client, so nothing is outstanding)."""
        self._open(ctx, params.task_id)
        return {}

    async def cancel(self, ctx: Context, params: TaskParams) -> dict[str, Any]:
        """`tasks/cancel`: the card withdrawn and the task cancelled; an approval decided before the cancel is
        spent unused (the cancel's own use), so no gateway process runs it afterwards. Too late (-32602) once the
        call runs: its approval used already, by this process's driver or another's."""
        task = self._open(ctx, params.task_id)
        if task.nonce in self._finished:
            return {}
        if task.nonce in self._forwarding:
            raise self._too_late(task)
        self._cancelling.add(task.nonce)  # (before any await: from now on no driver starts, none runs the call)
        try:
            runner = self._running.pop(task.nonce, None)
            if runner is not None:
                runner.cancel()  # (not forwarding: it had not used the approval, so it runs nothing)
            try:
                withdrawn = await self.client.withdraw(task.approval)
                spent = not withdrawn.approved or await self.client.use(withdrawn.id, token=f"cancel-{task.nonce}")
            except (ApprovalsError, httpx.HTTPError) as exc:
                raise MCPError(types.INTERNAL_ERROR, f"could not withdraw approval {task.approval}: {exc}") from None
            if not spent:  # used by a driver in another process (or before a restart): its call runs or ran
                raise self._too_late(task)
            log.info("withdrew approval %s of %s on %s: its task was cancelled", task.approval, task.tool, self.name)
            self._finish(task, _Finished("cancelled", "cancelled by the client; the card was withdrawn", time.time()))
        finally:
            self._cancelling.discard(task.nonce)
        return {}

    def _too_late(self, task: Sealed) -> MCPError:
        log.info("a cancel of the task of approval %s of %s on %s came too late: its call runs", task.approval,
                 task.tool, self.name)
        return MCPError(types.INVALID_PARAMS, f"Cannot cancel task: too late, approval {task.approval} was used and"
                        f" its call of {task.tool} runs (or ran)")

    # the work -------------------------------------------------------------------------------------------
    def _start(self, task: Sealed) -> None:
        runner = asyncio.create_task(self._drive(task), name=f"mcp task {task.approval}")
        self._running[task.nonce] = runner
        runner.add_done_callback(lambda done: self._running.pop(task.nonce, None) if
                                 self._running.get(task.nonce) is done else None)

    async def _drive(self, task: Sealed) -> None:
        """Wait for the decision on `task` (until it expires), then run its call once, or say why not."""
        try:
            finished = await self._decided_and_run(task)
        except (ApprovalsError, httpx.HTTPError) as exc:  # (the client retried through blips already)
            log.error("the Approvals API did not answer for approval %s of %s on %s: %s; the next tasks/get asks"
                      " again", task.approval, task.tool, self.name, exc)
            return
        except MCPError as exc:  # the upstream answered the call with a JSON-RPC error
            error = {"code": exc.code, "message": exc.message}
            finished = _Finished("failed", f"{task.tool} failed: {exc.message}", time.time(), error=error)
        except Exception as exc:  # anything else: said once, never retried in a loop
            log.error("the task of approval %s of %s on %s failed: %s", task.approval, task.tool, self.name,
                      " ".join(str(exc).split())[:300] or type(exc).__name__)
            error = {"code": types.INTERNAL_ERROR, "message": "the gateway could not finish this task"}
            finished = _Finished("failed", "the gateway could not finish this task", time.time(), error=error)
        self._finish(task, finished)

    async def _decided_and_run(self, task: Sealed) -> _Finished:
        client = self.client
        approval = self._seen.get(task.nonce) or await client.get(task.approval)
        if approval.pending:
            approval = await client.wait(task.approval, at_most=max(0.0, task.expires - time.time()))
            self._seen[task.nonce] = approval
        if approval.pending:  # the task expires: its card is withdrawn, so a later click runs nothing
            approval = await client.withdraw(task.approval)
            self._seen[task.nonce] = approval
            if not approval.approved:
                log.info("withdrew approval %s of %s on %s: its task expired", task.approval, task.tool, self.name)
                return _done(refused(f"Not run: nobody decided within the task's {self.ttl:g} s; the card was"
                                     " withdrawn. Call again to be asked again."))
        self.decisions.audit(task.tool, approval)
        if approval.status == "cancelled" and approval.feedback.startswith("withdrawn"):
            return _Finished("cancelled", f"the card was withdrawn ({approval.feedback})", time.time())
        if not approval.approved:
            return _done(refused(refusal(approval), denied=denial("unavailable", approval.id)))
        if approval.tool != task.tool or digest_of(dict(approval.arguments)) != task.digest:
            log.warning("refused to run approval %s on %s: it is not for the call its task was made for",
                        approval.id, self.name)
            return _done(refused(f"Not run: approval {approval.id} is not for this call of {task.tool}."))
        if task.nonce in self._cancelling:  # (a cancel is under way: it spends the approval, nothing runs here)
            return _Finished("cancelled", "cancelled by the client; the card was withdrawn", time.time())
        self._forwarding.add(task.nonce)  # (before the use: a cancel from now on comes too late)
        try:
            used = await client.spend(approval.id, token=f"use-{uuid.uuid4().hex}")
        except BaseException:  # (the use failed: nothing runs, a cancel may stop the task again)
            self._forwarding.discard(task.nonce)
            raise
        if not used.used:  # (nothing runs, a cancel may stop the task again)
            self._forwarding.discard(task.nonce)
            return _done(refused(f"{used.refusal} Its task ran in another gateway process, or before the gateway"
                                 " restarted (perhaps it did not finish), or was cancelled: its result is not kept"
                                 " here."))
        log.info("approval %s of %s on %s: approved, running its task", approval.id, task.tool, self.name)
        result = await self.forwarder.forward(None, task.tool, dict(approval.arguments), approval)
        return _done(result)

    async def _read(self, task: Sealed) -> Approval:
        return await self.decisions.read(task.approval, task.tool)

    def _finish(self, task: Sealed, finished: _Finished) -> None:
        if task.nonce in self._finished:  # (a cancel that came first stays)
            return
        self._finished[task.nonce] = finished
        self._forwarding.discard(task.nonce)
        self._seen.pop(task.nonce, None)
        now = time.time()
        while self._finished and (len(self._finished) > KEPT or next(iter(self._finished.values())).at
                                  < now - self.ttl):
            self._finished.popitem(last=False)

    # the wire -----------------------------------------------------------------------------------------
    def _open(self, ctx: Context, task_id: str) -> Sealed:
        """The task a task id names: sealed by this gateway's key, a task's, this client's and unexpired; else
        -32602 (the id itself is a bearer token: never logged)."""
        try:
            held = json.loads(self.codec.unseal(task_id))
            if held.pop("kind") != KIND:
                raise ValueError("not a task")
            task = Sealed(**held)
        except (InvalidRequestState, ValueError, KeyError, TypeError, AttributeError):
            log.warning("refused a task id on %s: not one this gateway sealed", self.name)
            raise MCPError(types.INVALID_PARAMS, "Failed to retrieve task: Task not found") from None
        if task.client != bound_to(ctx):
            log.warning("refused the task of approval %s on %s: made for another client", task.approval, self.name)
            raise MCPError(types.INVALID_PARAMS, "Failed to retrieve task: Task not found")
        if time.time() > task.expires and task.nonce not in self._finished and task.nonce not in self._running:
            raise MCPError(types.INVALID_PARAMS, "Failed to retrieve task: Task has expired")
        return task

    def _view(self, task_id: str, task: Sealed) -> dict[str, Any]:
        """The task on the wire (the spec's `DetailedTask`)."""
        finished = self._finished.get(task.nonce)
        approval = self._seen.get(task.nonce)
        updated = finished.at if finished is not None else _epoch(approval.decided_at if approval else None)
        view: dict[str, Any] = {"taskId": task_id, "createdAt": _iso(task.created),
                                "lastUpdatedAt": _iso(max(task.created, updated or task.created)),
                                "ttlMs": int(self.ttl * 1000), "pollIntervalMs": int(self.poll * 1000)}
        if finished is not None:
            view.update(status=finished.status, statusMessage=finished.message)
            if finished.result is not None:
                view["result"] = finished.result
            if finished.error is not None:
                view["error"] = finished.error
        elif task.nonce in self._forwarding and approval is not None:
            view.update(status="working", statusMessage=f"approved by {approval.who}: running {task.tool}")
        else:
            where = approval.card_url if approval is not None and approval.card_url else f"approval {task.approval}"
            view.update(status="working", statusMessage=f"waiting for approval in Slack: {where}",
                        _meta=denial("available", task.approval, hint="task"))  # (SEP-2643, provisional)
        return view


def _done(result: types.CallToolResult) -> _Finished:
    """A completed task: the call's result, or the `isError` result saying why it did not run."""
    text = " ".join(c.text for c in result.content if isinstance(c, types.TextContent))
    message = text[:200] if result.is_error else "done"
    return _Finished("completed", message, time.time(),
                     result=result.model_dump(by_alias=True, mode="json", exclude_none=True))


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _epoch(iso: str | None) -> float | None:
    with contextlib.suppress(ValueError, TypeError):
        return datetime.fromisoformat(str(iso).replace("Z", "+00:00")).timestamp()
    return None

"""An MCP client of the tasks extension (`io.modelcontextprotocol/tasks`), built on the `mcp` 2.3 client's own
extension hooks (`ClientExtension`, `ResultClaim`): `mcp.Client(..., extensions=[TasksExtension()])` declares the
extension in each request's capabilities, takes a `tools/call` answered with a task (`resultType: "task"`), and
`Client.call_tool` polls `tasks/get` until the task is finished and returns its result. `task_get`,
`task_cancel` and `task_update` send the extension's methods themselves, as a client that drives the task does
(`session.call_tool(..., allow_claimed=True)` returns the `CreateTask`)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, Literal

import anyio
from mcp import Client, types
from mcp.client.extension import ClaimContext, ClientExtension, ResultClaim
from mcp.client.session import ClientSession

from tests.conftest import Worker
from tests.support.mcp_gateway import ended, stdio_params

TASKS = "io.modelcontextprotocol/tasks"
TERMINAL = ("completed", "failed", "cancelled")


class _TaskFields(types.Result):
    """What every answer that names a task says of it."""

    task_id: str
    status: str
    status_message: str | None = None
    created_at: str
    last_updated_at: str
    ttl_ms: int | None = None
    poll_interval_ms: int | None = None


class CreateTask(_TaskFields):
    """The `CreateTaskResult` a `tools/call` may be answered with."""

    result_type: Literal["task"] = "task"


class Task(_TaskFields):
    """A task as `tasks/get` answers it (the spec's `DetailedTask`)."""

    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None

    @property
    def call_result(self) -> types.CallToolResult:
        assert self.status == "completed" and self.result is not None, self
        return types.CallToolResult.model_validate(self.result)


class TaskIdParams(types.RequestParams):
    task_id: str


class UpdateParams(TaskIdParams):
    input_responses: dict[str, Any]


class TaskRequest(types.Request[TaskIdParams, str]):
    name_param = "taskId"  # (over HTTP the spec wants the task id in Mcp-Name)


class UpdateRequest(types.Request[UpdateParams, str]):
    name_param = "taskId"


async def task_get(session: ClientSession, task_id: str) -> Task:
    return await session.send_request(TaskRequest(method="tasks/get", params=TaskIdParams(task_id=task_id)), Task)


async def task_cancel(session: ClientSession, task_id: str) -> types.Result:
    request = TaskRequest(method="tasks/cancel", params=TaskIdParams(task_id=task_id))
    return await session.send_request(request, types.Result)


async def task_update(session: ClientSession, task_id: str) -> types.Result:
    request = UpdateRequest(method="tasks/update", params=UpdateParams(task_id=task_id, input_responses={}))
    return await session.send_request(request, types.Result)


async def finished(session: ClientSession, task_id: str, *, within: float = 30, every: float = 0.05) -> Task:
    """`tasks/get` until the task is finished (polled every `every` s, at most `within` s)."""
    deadline = time.monotonic() + within
    while True:
        task = await task_get(session, task_id)
        if task.status in TERMINAL:
            return task
        assert time.monotonic() < deadline, f"task still {task.status} after {within} s: {task.status_message}"
        await anyio.sleep(every)


class TasksExtension(ClientExtension):
    """Declares the tasks extension; a task answered to `Client.call_tool` is polled (every `every` s, or the
    server's `pollIntervalMs` when it is shorter) until finished, and its result returned."""

    identifier = TASKS

    def __init__(self, every: float = 0.05) -> None:
        self.every = every
        self.created: list[CreateTask] = []  # each task the server answered with, in order
        self.polls = 0  # tasks/get sent while resolving

    def claims(self) -> Sequence[ResultClaim[Any]]:
        return [ResultClaim(result_type="task", model=CreateTask, resolve=self._resolve)]

    async def _resolve(self, created: CreateTask, ctx: ClaimContext) -> types.CallToolResult:
        self.created.append(created)
        every = min(self.every, (created.poll_interval_ms or 1000) / 1000)
        while True:
            task = await task_get(ctx.session, created.task_id)
            self.polls += 1
            if task.status in TERMINAL:
                break
            await anyio.sleep(every)
        if task.status != "completed":
            return types.CallToolResult(content=[types.TextContent(type="text", text=f"task {task.status}")],
                                        is_error=True)
        return task.call_result


def forwarded(tmp_path: Path) -> list[dict[str, Any]]:
    record = tmp_path / "calls.jsonl"
    lines = record.read_text().splitlines() if record.exists() else []
    return [c for c in map(json.loads, lines) if c["tool"] == "send_email"]


@contextlib.asynccontextmanager
async def tasks_client(bot: Worker, key: str, tmp_path: Path, *extra: str, env: dict[str, str] | None = None,
                       name: str = "mcp", extension: TasksExtension | None = None) -> Any:
    """A gateway process (stdio) and an `mcp.Client` of the tasks extension; on the way out both are gone."""
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(ended, tmp_path)
        params = stdio_params(bot, key, tmp_path, "--task-poll", "0.1", *extra, env=env)
        client = await stack.enter_async_context(Client(params, extensions=[extension or TasksExtension()],
                                                        client_info=types.Implementation(name=name, version="1")))
        assert client.protocol_version == "2026-07-28"
        yield client


async def create(client: Client, arguments: dict[str, Any]) -> CreateTask:
    created = await asyncio.wait_for(client.session.call_tool("send_email", dict(arguments), allow_claimed=True), 30)
    assert isinstance(created, CreateTask), created
    return created

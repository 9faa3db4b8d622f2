"""The MCP gateway's tasks tried as an attacker would (issue 45, item 1), with real processes: a worker, the
gateway over stdio (killed -9 and restarted with the same sealing key) and the test upstream, which records each
call it receives.

- A gateway killed -9 and replaced, the card approved, then `tasks/cancel` and `tasks/get` sent together, round
  after round (each withdrawal held by a proxy until a use passed, `tests.support.mcp_api_proxy`, so the window
  is open every round): either the cancel succeeds and the call never runs, or the cancel says it came too late
  and the task completes with the call's one run. Never both "cancelled" and run.
- A task id is bound to the program that made it (the process at the other end of the gateway's stdio), not
  only to the clientInfo the client declares: another program, declaring the same clientInfo and holding the
  id, can neither read nor cancel it."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import secrets
import signal
from pathlib import Path
from typing import Any

import pytest
from mcp import Client, types
from mcp.shared.exceptions import MCPError

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, Worker
from tests.support.hitl import click, nth_card, until
from tests.support.mcp_api_proxy import holding_withdrawals
from tests.support.mcp_gateway import EMAIL, alive, ended, stdio_params, text
from tests.support.mcp_tasks import TasksExtension, create, finished, forwarded, task_cancel, task_get, tasks_client

pytestmark = pytest.mark.slow  # the gateway's upstream as a process

ROUNDS = 3


def _fresh(path: Path) -> Path:
    path.mkdir()
    return path


async def test_cancel_and_get_together_after_a_restart_never_run_a_cancelled_task(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    worker, key = emailer
    env = {"AGENT_APPROVALS_MCP_STATE_KEY": secrets.token_hex(32)}
    outcomes: list[str] = []
    async with holding_withdrawals(worker.url) as (url, _):
        bot = dataclasses.replace(worker, url=url)  # the gateway reaches the bot through the proxy
        for n in range(1, ROUNDS + 1):
            await one_round(bot, key, slack, _fresh(tmp_path / f"round-{n}"), n, env, outcomes)
    assert len(outcomes) == ROUNDS


async def one_round(bot: Worker, key: str, slack: SlackStandIn, here: Path, n: int, env: dict[str, str],
                    outcomes: list[str]) -> None:
    """One round: the task made, its gateway killed -9, the card approved, then a new gateway (the same key) gets
    tasks/cancel and tasks/get together."""
    async with tasks_client(bot, key, here, env=env) as client:
        created = await create(client, EMAIL)
        card = await nth_card(slack, n)
        pid = int((here / "gateway.pid").read_text())
        os.kill(pid, signal.SIGKILL)
        await until(lambda: not alive(pid), what="the gateway killed")
    await click(slack, card, "approval_approve", user=BOB)
    async with tasks_client(bot, key, here, env=env) as client:
        cancelled, got = await asyncio.gather(task_cancel(client.session, created.task_id),
                                              task_get(client.session, created.task_id), return_exceptions=True)
        assert not isinstance(got, BaseException), got
        if isinstance(cancelled, MCPError):  # too late: the call runs, once
            assert "too late" in cancelled.message, cancelled.message
            done = await finished(client.session, created.task_id)
            assert done.status == "completed" and text(done.call_result) == "sent to bob@example.com"
            outcomes.append("ran")
        else:
            assert not isinstance(cancelled, BaseException), cancelled
            assert (await task_get(client.session, created.task_id)).status == "cancelled"
            outcomes.append("cancelled")
    await ended(here)  # the gateway is gone: whatever it would have forwarded, the upstream has it
    ran = forwarded(here)
    assert len(ran) == (1 if outcomes[-1] == "ran" else 0), (n, outcomes, ran)


@contextlib.asynccontextmanager
async def another_program(bot: Worker, key: str, tmp_path: Path, env: dict[str, str]) -> Any:
    """The gateway started by another program (a shell that stays between, as the process at the other end of
    its stdio), with the same sealing key, declaring the same clientInfo as the program that made the task."""
    params = stdio_params(bot, key, tmp_path, "--task-poll", "0.1", env=env)
    script = params.args[1].replace('exec "$@"', '"$@"; exit $?')
    assert script != params.args[1]
    params = params.model_copy(update={"args": [params.args[0], script, *params.args[2:]]})
    async with contextlib.AsyncExitStack() as stack:
        stack.push_async_callback(ended, tmp_path)
        client = await stack.enter_async_context(Client(params, extensions=[TasksExtension()],
                                                        client_info=types.Implementation(name="mcp", version="1")))
        yield client


async def test_another_program_declaring_the_same_client_cannot_read_or_cancel_a_task(
    emailer: tuple[Worker, str], slack: SlackStandIn, tmp_path: Path
) -> None:
    """Program A makes a task; program B (the same key, the same clientInfo "mcp/1", given A's task id) is told
    "Task not found" for tasks/get and tasks/cancel; A's card is approved and A's task runs the call once."""
    bot, key = emailer
    env = {"AGENT_APPROVALS_MCP_STATE_KEY": secrets.token_hex(32)}
    a_dir, b_dir = _fresh(tmp_path / "a"), _fresh(tmp_path / "b")
    async with tasks_client(bot, key, a_dir, env=env) as a_client:
        created = await create(a_client, EMAIL)
        card = await nth_card(slack, 1)
        async with another_program(bot, key, b_dir, env) as b_client:
            for method in (task_get, task_cancel):
                with pytest.raises(MCPError, match="Task not found") as refused:
                    await method(b_client.session, created.task_id)
                assert refused.value.code == types.INVALID_PARAMS
        await click(slack, card, "approval_approve", user=BOB)
        done = await finished(a_client.session, created.task_id)
        assert text(done.call_result) == "sent to bob@example.com"
    assert len(forwarded(a_dir)) == 1 and forwarded(b_dir) == []

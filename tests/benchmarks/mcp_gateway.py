"""The MCP approval gateway's cost: what `agent-approvals-mcp` adds to a tool call, the same run, interleaved.

One worker A in this process (the Approvals API), the Slack stand-in in another, one redis-server; the test
upstream (`tests/support/mcp_upstream.py`) over stdio, reached by official `mcp` SDK client sessions:

* allowed: `list_inbox` (matched by `--allow 'list_*'`, no card) through the gateway (a process: the client
  session -> the gateway -> its own upstream process), against `list_inbox` on an upstream session directly;
  timed from the call to its result at the client. `added_p50_ms` / `added_p99_ms`: gateway minus direct.
* approved: `send_email` through the gateway; once its card is posted, a signed Approve click reaches A's
  `/slack/events`; timed from the click to the tool's result at the client (the long-poll answered, the
  approval used, the upstream called, the result passed back), against the same without the gateway:
  `ApprovalsClient.tool_decision` in this process, then the call on the direct upstream session.
* as a task: `send_email` from an `mcp.Client` that declares the tasks extension (tests/support/mcp_tasks.py)
  to a gateway of its own (`--task-poll 0.05`, the client polling `tasks/get` that often); timed from the click
  to the tool running (the upstream's record of the call on disk, watched every millisecond: the gateway that
  made the task waits for the decision itself, whatever the client's polling) and to the result at the client.

    python tests/benchmarks/mcp_gateway.py [--calls 500] [--decisions 100] [--out FILE]
    python tests/benchmarks/mcp_gateway.py --small      # CI: 30 calls, 10 decisions
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent_approvals import ApprovalsClient
from mcp import Client, types
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client

from tests.benchmarks.common import (
    Proc,
    click_body,
    interleaved,
    machine_info,
    sign,
    start_redis,
    stop_redis,
    summary_ms,
    worker_env,
    write_json,
)
from tests.conftest import Worker, start_worker
from tests.support.mcp_tasks import TasksExtension

WARMUP = 10
UPSTREAM = Path(__file__).resolve().parents[1] / "support" / "mcp_upstream.py"
EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}
CHANNEL = "C0BENCH00"


async def mcp_session(stack: AsyncExitStack, command: list[str], env: dict[str, str], log: Path) -> ClientSession:
    """An initialized MCP client session to `command` over stdio (its stderr in `log`), closed with `stack`."""
    errlog = stack.enter_context(log.open("w"))
    params = StdioServerParameters(command=command[0], args=command[1:], env=env)
    read, write = await stack.enter_async_context(stdio_client(params, errlog=errlog))
    session = await stack.enter_async_context(ClientSession(read, write))
    await asyncio.wait_for(session.initialize(), 60)
    return session


class Bench:
    def __init__(self, a: Worker, http: aiohttp.ClientSession, direct: ClientSession, gateway: ClientSession,
                 client: ApprovalsClient, tasks: Client | None = None, record: Path | None = None) -> None:
        self.a, self.http = a, http
        self.direct, self.gateway, self.client = direct, gateway, client
        self.tasks, self.record = tasks, record
        self.running: list[float] = []  # tasks: click -> the tool running at the upstream, seconds
        self.seen: set[str] = set()
        self.n = 0

    async def allowed_direct(self) -> float:
        return await _timed(self.direct.call_tool("list_inbox", {"limit": 2}))

    async def allowed_gateway(self) -> float:
        return await _timed(self.gateway.call_tool("list_inbox", {"limit": 2}))

    async def approved_gateway(self) -> float:
        return await self._click_to_result(self.gateway.call_tool("send_email", self._email()))

    async def approved_tool_decision(self) -> float:
        async def decided_then_called() -> types.CallToolResult:
            email = self._email()
            decided = await self.client.tool_decision("send_email", email, idempotency_key=f"bench-{self.n}")
            assert decided.approved, decided
            return await self.direct.call_tool("send_email", decided.arguments)

        return await self._click_to_result(decided_then_called())

    async def approved_task(self) -> float:
        assert self.tasks is not None and self.record is not None
        return await self._click_to_result(self.tasks.call_tool("send_email", self._email()), watch=self.record)

    def _email(self) -> dict[str, str]:
        self.n += 1
        return {**EMAIL, "body": f"{EMAIL['body']} #{self.n}"}

    async def _click_to_result(self, call: Awaitable[types.CallToolResult], watch: Path | None = None) -> float:
        calling = asyncio.ensure_future(call)
        approval_id, channel, ts = await self._new_card()
        body = click_body(approval_id, channel, ts)
        headers = sign(body)
        before = _lines(watch)
        started = time.perf_counter()
        running = asyncio.ensure_future(_grown(watch, before)) if watch is not None else None
        async with self.http.post(self.a.url + "/slack/events", data=body, headers=headers) as response:
            assert response.status == 200, await response.text()
        result = await asyncio.wait_for(calling, 60)
        done = time.perf_counter()
        assert not result.is_error, result
        if running is not None:
            self.running.append(await asyncio.wait_for(running, 60) - started)
        return done - started

    async def _new_card(self) -> tuple[str, str, str]:
        """The approval asked just now, once its card is posted (polled, with a deadline)."""
        store = self.a.services.store
        bench = await store.api_keys.get("bench")
        assert bench is not None
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            for approval_id in await store.redis.smembers(store.keys.api_pending(bench.id)):
                approval_id = approval_id.decode() if isinstance(approval_id, bytes) else str(approval_id)
                if approval_id in self.seen:
                    continue
                approval = await store.approvals.get(approval_id)
                if approval is not None and approval.card_ts:
                    self.seen.add(approval_id)
                    return approval_id, approval.card_channel, approval.card_ts
            await asyncio.sleep(0.001)
        raise RuntimeError("no card within 30 s")


def _lines(record: Path | None) -> int:
    return len(record.read_bytes().splitlines()) if record is not None and record.exists() else 0


async def _grown(record: Path, before: int) -> float:
    """When `record` (the upstream's calls, one line each, on disk before it answers) has a line more."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _lines(record) > before:
            return time.perf_counter()
        await asyncio.sleep(0.001)
    raise RuntimeError("the upstream received no call within 60 s")


async def _timed(call: Awaitable[types.CallToolResult]) -> float:
    started = time.perf_counter()
    result = await call
    assert not result.is_error, result
    return time.perf_counter() - started


async def measure(calls: int, decisions: int) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-mcp-"))
    redis_server = start_redis()
    slack = await Proc.start("slack", {"kind": "standin"}, log_dir=log_dir)
    a = await start_worker(worker_env(api_url=str(slack.info["api_url"]), redis_url=redis_server.url))
    try:
        made = await a.services.store.api_keys.create("bench", [CHANNEL], by="bench", max_pending=100_000,
                                                      per_minute=100_000)
        assert made is not None
        upstream = [sys.executable, str(UPSTREAM), "--record", str(log_dir / "calls.jsonl")]
        gateway = [sys.executable, "-m", "agent_approvals.mcp_gateway", "--url", a.url, "--key-env", "BENCH_KEY",
                   "--allow", "list_*", "--", *upstream]
        async with (
            AsyncExitStack() as stack,
            aiohttp.ClientSession() as http,
            ApprovalsClient(a.url, made.key, title="benchmark") as client,
        ):
            direct = await mcp_session(stack, upstream, {}, log_dir / "direct.log")
            through = await mcp_session(stack, gateway, {"BENCH_KEY": made.key}, log_dir / "gateway.log")
            record = log_dir / "task-calls.jsonl"
            task_gateway = [*gateway[:gateway.index("--")], "--task-poll", "0.05", "--", upstream[0], upstream[1],
                            "--record", str(record)]
            tasks = await stack.enter_async_context(Client(
                StdioServerParameters(command=task_gateway[0], args=task_gateway[1:], env={"BENCH_KEY": made.key}),
                extensions=[TasksExtension(every=0.05)]))
            bench = Bench(a, http, direct, through, client, tasks, record)
            allowed = await interleaved(
                {"direct": bench.allowed_direct, "gateway": bench.allowed_gateway}, calls, warmup=WARMUP
            )
            approved = await interleaved(
                {"tool_decision": bench.approved_tool_decision, "gateway": bench.approved_gateway,
                 "task": bench.approved_task},
                decisions,
                warmup=WARMUP,
            )
        await a.services.background.drain()
        await a.services.cards.drain()
    finally:
        await a.stop()
        await slack.stop()
        stop_redis(redis_server)
    allowed_ms = {name: summary_ms(values) for name, values in allowed.items()}
    approved_ms = {name: summary_ms(values) for name, values in approved.items()}
    return {
        "benchmark": "mcp_gateway",
        "machine": machine_info(),
        "allowed": {
            "ms": allowed_ms,
            "added_p50_ms": allowed_ms["gateway"]["p50_ms"] - allowed_ms["direct"]["p50_ms"],
            "added_p99_ms": allowed_ms["gateway"]["p99_ms"] - allowed_ms["direct"]["p99_ms"],
        },
        "approved_click_to_result": {
            "ms": approved_ms,
            "added_p50_ms": approved_ms["gateway"]["p50_ms"] - approved_ms["tool_decision"]["p50_ms"],
            "added_p99_ms": approved_ms["gateway"]["p99_ms"] - approved_ms["tool_decision"]["p99_ms"],
        },
        "task_click_to_running": {"ms": summary_ms(bench.running[-decisions:]), "task_poll_ms": 50},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=500, help="allowed calls per series (after 10 warm-up)")
    parser.add_argument("--decisions", type=int, default=100, help="approved calls per series (after 10 warm-up)")
    parser.add_argument("--small", action="store_true", help="CI size: 30 calls, 10 decisions")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    calls, decisions = (30, 10) if args.small else (args.calls, args.decisions)
    result = asyncio.run(measure(calls, decisions))
    print(json.dumps(result, indent=2))
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

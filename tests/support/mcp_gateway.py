"""The MCP gateway as a process (stdio or HTTP) in front of the test upstream (tests/support/mcp_upstream.py).

The MCP SDK is imported by the helpers that speak MCP, not with this module: fast tests import `EMAIL` from here,
and the SDK costs every test process a second of CPU to collect them (tests/support/lazy.py)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tests.conftest import Worker, free_port
from tests.support.hitl import until

if TYPE_CHECKING:
    from mcp import types
    from mcp.client.session import ClientSession
    from mcp.client.stdio import StdioServerParameters

UPSTREAM = Path(__file__).with_name("mcp_upstream.py")
GATEWAY = Path(sys.executable).with_name("agent-approvals-mcp")  # the console script pip installed
EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}
TOKEN = "upstream-token-0123456789"


@dataclass
class Gateway:
    session: ClientSession
    record: Path  # the upstream's calls, one JSON line each
    log: Path  # the gateway's stderr
    pid: Path  # the gateway's process id (stdio)
    url: str = ""  # where it serves streamable HTTP (--listen)

    def calls(self, tool: str | None = None) -> list[dict[str, Any]]:
        lines = [json.loads(line) for line in self.record.read_text().splitlines()] if self.record.exists() else []
        return [c for c in lines if tool is None or c["tool"] == tool]

    def logged(self) -> str:
        return self.log.read_text() if self.log.exists() else ""


def gateway_args(bot: Worker, *extra: str) -> list[str]:
    return ["--url", bot.url, "--key-env", "MCP_TEST_KEY", "--allow", "list_*", *extra]


def stdio_params(bot: Worker, key: str, tmp_path: Path, *extra: str, mode: str = "ok",
                 command: list[str] | None = None, env: dict[str, str] | None = None) -> StdioServerParameters:
    """The gateway as the MCP client SDK starts it (through `sh`, which notes its pid in gateway.pid and execs it),
    in front of the test upstream (which notes its own in upstream.pid), or of `command`."""
    from mcp.client.stdio import StdioServerParameters

    record, up_pid = tmp_path / "calls.jsonl", tmp_path / "upstream.pid"
    upstream = command or [sys.executable, str(UPSTREAM), "--record", str(record), "--mode", mode,
                           "--pid-file", str(up_pid)]
    return StdioServerParameters(
        command="sh",
        args=["-c", 'echo $$ > "$0"; exec "$@"', str(tmp_path / "gateway.pid"), sys.executable, "-m",
              "agent_approvals.mcp_gateway", *gateway_args(bot, *extra), "--", *upstream],
        env={"MCP_TEST_KEY": key, **_inherited(), **(env or {})},
    )


def _inherited() -> dict[str, str]:
    """What the MCP client SDK does not pass on to the gateway, yet it needs: the import path of the code under test
    (`PYTHONPATH`, when the tests run a checkout other than the installed one)."""
    return {"PYTHONPATH": os.environ["PYTHONPATH"]} if os.environ.get("PYTHONPATH") else {}


@asynccontextmanager
async def over_stdio(
    bot: Worker, key: str, tmp_path: Path, *extra: str, mode: str = "ok", command: list[str] | None = None
) -> AsyncIterator[Gateway]:
    """The gateway started by the MCP client SDK over stdio, in front of the test upstream started by the
    gateway; the session initialized. On the way out, the gateway and its upstream are gone (`ended`)."""
    from mcp.client.session import ClientSession
    from mcp.client.stdio import stdio_client

    record, log, pid = tmp_path / "calls.jsonl", tmp_path / "gateway.log", tmp_path / "gateway.pid"
    for stale in (pid, tmp_path / "upstream.pid"):
        stale.unlink(missing_ok=True)
    params = stdio_params(bot, key, tmp_path, *extra, mode=mode, command=command)
    try:
        with log.open("w") as errlog:
            async with stdio_client(params, errlog=errlog) as (read, write), ClientSession(read, write) as session:
                await initialized(session, log)
                yield Gateway(session, record, log, pid)
    finally:
        await ended(tmp_path)


STARTED_WITHIN = 90.0  # the gateway's own start (its imports, the bot's check, the upstream's 30 s) on a loaded CI


async def initialized(session: ClientSession, log: Path) -> None:
    """The session initialized, within STARTED_WITHIN: longer than the gateway's own limits, so a gateway that gives
    up says why (its stderr, in the failure) rather than the test's clock cutting it short."""
    try:
        await asyncio.wait_for(session.initialize(), STARTED_WITHIN)
    except TimeoutError:
        raise AssertionError(f"the gateway did not answer initialize within {STARTED_WITHIN:g} s; its stderr:\n"
                             f"{_text(log)}") from None


def _text(path: Path) -> str:
    return path.read_text() if path.exists() else "(none)"


async def ended(tmp_path: Path, *, within: float = 10) -> None:
    """What a test started is gone: the gateway (gateway.pid) and the upstream it started (upstream.pid), each
    given `within` seconds to exit by itself (the SDK closes the gateway's stdin, then signals its process
    group; the upstream, in a session of its own, sees its stdin close when the gateway goes), then killed -9.
    Nothing of theirs is left to hold a request open on the worker, whatever the test did."""
    for name, marker in (("gateway.pid", "agent_approvals.mcp_gateway"), ("upstream.pid", UPSTREAM.name)):
        path = tmp_path / name
        if not path.exists() or not path.read_text().strip():
            continue
        pid = int(path.read_text())

        def running(pid: int = pid, marker: str = marker) -> bool:
            return alive(pid) and _runs(pid, marker)

        with contextlib.suppress(AssertionError):
            await until(lambda: not running(), within=within, what=f"{name[:-4]} exited")
        if running():
            os.kill(pid, signal.SIGKILL)
            await until(lambda: not running(), what=f"{name[:-4]} killed")


def _runs(pid: int, marker: str) -> bool:
    """Whether process `pid` still runs our program (not another that took its pid)."""
    with contextlib.suppress(OSError):
        return marker in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace")
    return False


@asynccontextmanager
async def over_http(bot: Worker, key: str, tmp_path: Path, *extra: str) -> AsyncIterator[Gateway]:
    """The test upstream serving streamable HTTP (only to its bearer token), the gateway (the `agent-approvals-mcp`
    script) reaching it with `--upstream-url` and the token from an environment variable, and serving streamable
    HTTP itself with `--listen`; an MCP client session to it. Both processes are stopped on the way out (SIGTERM,
    then -9 after 10 s)."""
    from mcp.client.session import ClientSession
    from mcp.client.streamable_http import streamable_http_client

    record, log = tmp_path / "calls.jsonl", tmp_path / "gateway.log"
    up_port, port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("SLACK_BOT_TOKEN", "REDIS_URL")}
    started: list[asyncio.subprocess.Process] = []
    try:
        with log.open("w") as errlog:
            started.append(await asyncio.create_subprocess_exec(
                sys.executable, str(UPSTREAM), "--record", str(record), "--http", str(up_port), "--token", TOKEN,
                env=env, stderr=asyncio.subprocess.DEVNULL,
            ))
            await until(lambda: listening(up_port), within=30, what="the upstream serving HTTP")
            started.append(await asyncio.create_subprocess_exec(
                str(GATEWAY), *gateway_args(bot, *extra), "--upstream-url", f"http://127.0.0.1:{up_port}/mcp",
                "--upstream-header-env", "Authorization=UPSTREAM_AUTH", "--listen", f"127.0.0.1:{port}",
                env=env | {"MCP_TEST_KEY": key, "UPSTREAM_AUTH": f"Bearer {TOKEN}"}, stderr=errlog,
            ))
            await until(lambda: listening(port), within=30, what="the gateway serving HTTP")
            async with (
                streamable_http_client(f"http://127.0.0.1:{port}/mcp") as (read, write),
                ClientSession(read, write) as session,
            ):
                await asyncio.wait_for(session.initialize(), 30)
                yield Gateway(session, record, log, Path(), f"http://127.0.0.1:{port}/mcp")
    finally:
        for process in reversed(started):  # the gateway first, then its upstream
            await stopped(process)


async def stopped(process: asyncio.subprocess.Process, *, within: float = 10) -> None:
    """`process` ended: SIGTERM, and -9 when it has not exited within `within` seconds."""
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            process.terminate()
    try:
        await asyncio.wait_for(process.wait(), within)
    except TimeoutError:
        with contextlib.suppress(ProcessLookupError):
            process.kill()
        await process.wait()


async def listening(port: int) -> bool:
    """Whether something accepts connections on 127.0.0.1:`port` (an HTTP server up)."""
    with contextlib.suppress(OSError):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.close()
        return True
    return False


def text(result: types.CallToolResult) -> str:
    from mcp import types

    return "\n".join(c.text for c in result.content if isinstance(c, types.TextContent))


def alive(pid: int) -> bool:
    """Whether process `pid` runs (not gone, not a zombie)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:
        return "zombie" not in Path(f"/proc/{pid}/status").read_text()
    except (FileNotFoundError, ProcessLookupError):  # reaped since os.kill (or between the file's open and its read)
        return False

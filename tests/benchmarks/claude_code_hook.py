"""What the Claude Code hook adds to each tool call that policy allows (no card): the same run, interleaved.

One worker A in this process (the Approvals API; its channel in the `policy` input mode, so a `Read` is approved
at once), the Slack stand-in in another process, one redis-server. Each series decides one new `Read` call (its
own file path) and is timed from the hook's input handed over to the decision read back:

* command: `python -m agent_approvals.claude_code hook` as Claude Code runs it, a process per call (the
  interpreter's start, the imports, the ask and the use), the input on stdin, the decision parsed from stdout;
* http: the bot's HTTP hook, `POST /api/v1/hooks/claude-code` on a kept-alive connection, as Claude Code's HTTP
  hook posts it (no process; the ask and the use in the worker's own process);
* floor_api: the least any hook can cost, `ApprovalsClient.tool_decision` in this process (the ask and the use
  over HTTP);
* floor_process: `python -c pass`, the interpreter's start alone.

`ratios`: each series' p50 over floor_api's (machine-independent), and the command's added p50 over the HTTP
hook's. Claude Code's own dispatch of a hook is not in these figures.

    python tests/benchmarks/claude_code_hook.py [--calls 200] [--out FILE]
    python tests/benchmarks/claude_code_hook.py --small      # CI: 5 calls per series after 1 warm-up
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent_approvals import ApprovalsClient

from tests.benchmarks.common import (
    Proc,
    interleaved,
    machine_info,
    start_redis,
    stop_redis,
    summary_ms,
    worker_env,
    write_json,
)
from tests.conftest import start_worker

WARMUP = 3
CHANNEL = "C0BENCH00"
PATH = "/api/v1/hooks/claude-code"


class Bench:
    def __init__(self, url: str, key: str, http: aiohttp.ClientSession, client: ApprovalsClient) -> None:
        self.url, self.key, self.http, self.client = url, key, http, client
        self.env = {**os.environ, "AGENT_APPROVALS_URL": url, "AGENT_APPROVALS_KEY": key}
        self.n = 0

    def _input(self) -> dict[str, Any]:
        self.n += 1
        return {"session_id": "bench", "cwd": "/srv/shop-api", "hook_event_name": "PreToolUse", "tool_name": "Read",
                "tool_input": {"file_path": f"/srv/shop-api/notes-{self.n}.md"}, "tool_use_id": f"toolu_{self.n}"}

    async def command(self) -> float:
        raw = json.dumps(self._input()).encode()
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "agent_approvals.claude_code", "hook", "--wait", "30", env=self.env,
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        out, _ = await process.communicate(raw)
        took = time.perf_counter() - started
        _allowed(json.loads(out))
        return took

    async def http_hook(self) -> float:
        body = self._input()
        started = time.perf_counter()
        async with self.http.post(f"{self.url}{PATH}?wait=30", json=body,
                                  headers={"Authorization": f"Bearer {self.key}"}) as response:
            answer = await response.json()
        took = time.perf_counter() - started
        _allowed(answer)
        return took

    async def floor_api(self) -> float:
        body = self._input()
        started = time.perf_counter()
        decided = await self.client.tool_decision("Read", body["tool_input"], idempotency_key=f"floor-{self.n}")
        took = time.perf_counter() - started
        assert decided.approved, decided
        return took

    async def floor_process(self) -> float:
        started = time.perf_counter()
        process = await asyncio.create_subprocess_exec(sys.executable, "-c", "pass")
        await process.wait()
        return time.perf_counter() - started


def _allowed(answer: dict[str, Any]) -> None:
    out = answer["hookSpecificOutput"]
    assert out["permissionDecision"] == "allow", answer


async def measure(calls: int, warmup: int = WARMUP) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-claude-code-"))
    redis_server = start_redis()
    slack = await Proc.start("slack", {"kind": "standin"}, log_dir=log_dir)
    a = await start_worker(worker_env(api_url=str(slack.info["api_url"]), redis_url=redis_server.url))
    try:
        store = a.services.store
        made = await store.api_keys.create("bench", [CHANNEL], by="bench", max_pending=100_000, per_minute=100_000)
        assert made is not None
        assert await store.settings.set(CHANNEL, "mode", "policy", by="bench") is None
        async with aiohttp.ClientSession() as http, ApprovalsClient(a.url, made.key, title="benchmark") as client:
            bench = Bench(a.url, made.key, http, client)
            series = await interleaved({"command": bench.command, "http": bench.http_hook,
                                        "floor_api": bench.floor_api, "floor_process": bench.floor_process},
                                       calls, warmup=warmup)
        await a.services.background.drain()
    finally:
        await a.stop()
        await slack.stop()
        stop_redis(redis_server)
    ms = {name: summary_ms(values) for name, values in series.items()}
    floor = ms["floor_api"]["p50_ms"]
    return {
        "benchmark": "claude_code_hook",
        "machine": machine_info(),
        "calls": calls,
        "ms": ms,
        "added_p50_ms": {"command": ms["command"]["p50_ms"], "http": ms["http"]["p50_ms"]},
        "ratios": {
            "command/floor_api p50": ms["command"]["p50_ms"] / floor,
            "http/floor_api p50": ms["http"]["p50_ms"] / floor,
            "command/http p50": ms["command"]["p50_ms"] / ms["http"]["p50_ms"],
            "command/floor_process p50": ms["command"]["p50_ms"] / ms["floor_process"]["p50_ms"],
        },
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200, help="calls per series (after 3 warm-up)")
    parser.add_argument("--small", action="store_true", help="CI size: 5 calls per series after 1 warm-up")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = asyncio.run(measure(5, warmup=1) if args.small else measure(args.calls))
    print(json.dumps(result, indent=2))
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

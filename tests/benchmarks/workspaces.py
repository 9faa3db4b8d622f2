"""A worker's cost with 1, 10, 100 and 1,000 installed workspaces, side by side in one run (issue 78: flat in
workspaces).

For each size, a redis-server of its own and a real worker process (`python -m bot`) installed in that many
workspaces besides home (SLACK_WORKSPACES_FILE; the local Slack, in this process, serves each with its token, a
person and a channel). Measured, in order:

    memory per workspace   the worker's RSS after each workspace has been served once (its person opens the app's
                           Home: the workspace's parts are built, its Home drawn) minus before, / the count
    idle                   over a quiet window after that: the worker's CPU (% of one core) and Redis's commands a
                           second (INFO commandstats, every client's: the worker is the only one)
    click -> resumed       in the first workspace: a program asks (API key), long-polls, a person clicks Approve;
                           timed from the click to the long-poll's "approved", while the other workspaces' people
                           keep opening their Homes (a steady load, the same rate at every size)

Each figure also as a ratio to the 1-workspace one (the goal: idle cost and click latency at 1,000 within 1.1x).

    python tests/benchmarks/workspaces.py [--sizes 1,10,100,1000] [--window 20] [--decisions 60] [--out FILE]
    python tests/benchmarks/workspaces.py --small     # CI: sizes 1 and 10, short windows
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import redis.asyncio as aredis

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.core.workspaces import WorkspaceRef
from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from tests.benchmarks.common import (
    machine_info,
    proc_cpu_seconds,
    proc_rss_bytes,
    start_redis,
    stop_redis,
    summary_ms,
    write_json,
)
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, bot_env, free_port
from tests.support.api import Client, tool_ask
from tests.support.workspaces import Installed, serve_many, workspaces_file

REPO = Path(__file__).resolve().parents[2]
LOAD_PER_S = 10.0  # Homes opened a second by the other workspaces' people while clicks are timed


class Process:
    """A worker process's address (what `Client` needs)."""

    def __init__(self, port: int, process: subprocess.Popen[bytes]) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self.process = process


async def start(slack: SlackStandIn, redis_url: str, listed: Path, log: Path) -> Process:
    port = free_port()
    env = {**os.environ, **bot_env(slack=slack, redis_url=redis_url, model_config=None,
                                   SLACK_WORKSPACES_FILE=str(listed), API_KEY_RATE="100000"),
           "PORT": str(port), "LOG_LEVEL": "WARNING"}
    with log.open("wb") as out:
        process = subprocess.Popen(  # noqa: ASYNC220 - starting a worker is instant; we then poll it
            [sys.executable, "-m", "bot"], cwd=REPO, env=env, stdout=out, stderr=out)
    worker = Process(port, process)
    deadline = time.monotonic() + 120
    async with aiohttp.ClientSession() as http:
        while True:
            try:
                async with http.get(worker.url + "/readyz") as answer:
                    if answer.status == 200:
                        return worker
            except aiohttp.ClientError:
                pass
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"the worker did not start: {tail(log)}")
            await asyncio.sleep(0.05)


def tail(log: Path) -> str:
    return log.read_text()[-2000:]


async def commands(redis_url: str) -> int:
    """Every command Redis has run so far (INFO commandstats)."""
    client = aredis.Redis.from_url(redis_url)
    try:
        return sum(int(v["calls"]) for v in (await client.info("commandstats")).values())
    finally:
        await client.aclose()


async def decision(slack: SlackStandIn, worker: Process, client: Client, at: Installed) -> float:
    """One ask in `at`'s workspace, its card, the long-poll, a click: seconds from the click to the answer."""
    status, asked = await client.ask(tool_ask(requester=at.person))
    assert status == 201, asked
    approval_id = asked["id"]

    def card() -> dict[str, Any] | None:
        return next((m for m in slack.messages(at.channel) if approval_id in json.dumps(m.get("blocks") or [])
                     and any(b.get("type") == "actions" for b in m.get("blocks") or [])), None)

    posted = await slack.wait_for(card, timeout=30, description=f"the card of {approval_id}")
    polling = asyncio.create_task(client.wait(approval_id, wait=20))
    await asyncio.sleep(0.02)  # the long-poll is in: what is timed is the decision reaching it
    started = time.perf_counter()
    clicked = await slack.click(user=at.approver, channel=at.channel, ts=posted["ts"], action_id="approval_approve")
    answer = await polling
    took = time.perf_counter() - started
    assert clicked.status == 200 and answer["status"] == "approved", (clicked, answer)
    return took


async def load(slack: SlackStandIn, others: list[Installed], stop: asyncio.Event) -> int:
    """The other workspaces' people open their Homes, `LOAD_PER_S` a second, until `stop`; how many."""
    n = 0
    while not stop.is_set():
        await slack.open_home(user=others[n % len(others)].person)
        n += 1
        try:
            await asyncio.wait_for(stop.wait(), 1 / LOAD_PER_S)
        except TimeoutError:
            pass
    return n


async def one_size(slack: SlackStandIn, installed: list[Installed], *, window: float, decisions: int,
                   folder: Path) -> dict[str, Any]:
    server = start_redis()
    worker: Process | None = None
    try:
        listed = workspaces_file(folder / f"workspaces-{len(installed)}.json", installed)
        worker = await start(slack, server.url, listed, folder / f"worker-{len(installed)}.log")
        slack.events_url = worker.url + "/slack/events"
        pid = worker.process.pid
        await asyncio.sleep(2.0)  # its start settled
        rss_before = proc_rss_bytes(pid)
        began = time.monotonic()
        for each in installed:  # each workspace served once: its parts built, its Home drawn
            opened = await slack.open_home(user=each.person)
            assert opened.status == 200, opened
        served_s = time.monotonic() - began
        await asyncio.sleep(3.0)  # the Homes drawn, the work of serving them done
        rss_after = proc_rss_bytes(pid)
        cpu0, cmds0, t0 = proc_cpu_seconds(pid), await commands(server.url), time.monotonic()
        await asyncio.sleep(window)
        cpu1, cmds1, t1 = proc_cpu_seconds(pid), await commands(server.url), time.monotonic()
        store = Store(connect(server.url))
        try:
            first = installed[0]
            made = await store.api_keys.create("bench", (first.channel,), by="bench",
                                               workspace=WorkspaceRef(first.team), per_minute=100_000,
                                               max_pending=100_000)
            assert made is not None
        finally:
            await store.close()
        client = Client(worker, made.key)
        await decision(slack, worker, client, first)  # warm
        stop = asyncio.Event()
        loading = asyncio.create_task(load(slack, installed[1:] or installed, stop))
        times = [await decision(slack, worker, client, first) for _ in range(decisions)]
        stop.set()
        loaded = await loading
        return {
            "workspaces": len(installed),
            "serve_each_once_s": round(served_s, 2),
            "rss_before_mb": round(rss_before / 2**20, 1),
            "rss_after_mb": round(rss_after / 2**20, 1),
            "memory_per_workspace_kb": round((rss_after - rss_before) / len(installed) / 1024, 1),
            "idle_cpu_percent": round(100 * (cpu1 - cpu0) / (t1 - t0), 3),
            "idle_redis_commands_per_s": round((cmds1 - cmds0) / (t1 - t0), 2),
            "resumed": summary_ms(times),
            "homes_opened_meanwhile": loaded,
        }
    finally:
        if worker is not None:
            worker.process.terminate()
            worker.process.wait(timeout=60)
        stop_redis(server)


def ratio(value: float, base: float) -> float | None:
    return None if base <= 0 else round(value / base, 3)


async def run(sizes: list[int], *, window: float, decisions: int) -> dict[str, Any]:
    slack = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    installed = serve_many(slack, max(sizes))
    results = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            for size in sizes:
                results.append(await one_size(slack, installed[:size], window=window, decisions=decisions,
                                              folder=Path(folder)))
                print(json.dumps({k: v for k, v in results[-1].items() if k != "resumed"}), file=sys.stderr)
    finally:
        await slack.stop()
    one = results[0]
    for result in results:
        result["ratios_to_first"] = {
            "idle_cpu": ratio(result["idle_cpu_percent"], one["idle_cpu_percent"]),
            "idle_redis_commands": ratio(result["idle_redis_commands_per_s"], one["idle_redis_commands_per_s"]),
            "resumed_p50": ratio(result["resumed"]["p50_ms"], one["resumed"]["p50_ms"]),
            "resumed_p99": ratio(result["resumed"]["p99_ms"], one["resumed"]["p99_ms"]),
        }
    return {"benchmark": "workspaces", "window_s": window, "decisions": decisions, "load_homes_per_s": LOAD_PER_S,
            "sizes": results, "machine": machine_info()}


def table(result: dict[str, Any]) -> str:
    """The Markdown table of docs/operators/sizing.md's "Workspaces"."""
    rows = ["| Workspaces | Idle CPU (% of a core) | Redis commands/s at idle | Memory per workspace | "
            "Click -> resumed p50 / p99 | Ratios to 1 (CPU, commands, p50, p99) |",
            "|---:|---:|---:|---:|---:|---|"]
    for s in result["sizes"]:
        r = s["ratios_to_first"]
        rows.append(f"| {s['workspaces']:,} | {s['idle_cpu_percent']:.2f} | {s['idle_redis_commands_per_s']:.1f} | "
                    f"{s['memory_per_workspace_kb']:.0f} KB | {s['resumed']['p50_ms']:.1f} / "
                    f"{s['resumed']['p99_ms']:.1f} ms | {r['idle_cpu']}, {r['idle_redis_commands']}, "
                    f"{r['resumed_p50']}, {r['resumed_p99']} |")
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="1,10,100,1000")
    parser.add_argument("--window", type=float, default=20.0, help="seconds of the idle window")
    parser.add_argument("--decisions", type=int, default=60)
    parser.add_argument("--small", action="store_true", help="sizes 1 and 10, a 3 s window, 10 decisions")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sizes = [1, 10] if args.small else [int(s) for s in args.sizes.split(",")]
    result = asyncio.run(run(sizes, window=3.0 if args.small else args.window,
                             decisions=10 if args.small else args.decisions))
    write_json(result, args.out)
    print(table(result))


if __name__ == "__main__":
    main()

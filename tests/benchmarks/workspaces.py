"""A worker's cost with 1, 10, 100 and 1,000 installed workspaces, side by side in one run (issue 78: flat in
workspaces).

For each size, a redis-server of its own and a real worker process (`python -m bot`) installed in that many
workspaces besides home (SLACK_WORKSPACES_FILE; the local Slack, in this process, serves each with its token, two
people and a channel), every size's worker running at once. Measured, in order:

    memory per workspace   the worker's RSS after each workspace has been served once (its person opens the app's
                           Home: the workspace's parts are built, its Home drawn) minus before, / the count
    idle                   over one quiet window for every size: each worker's CPU (% of one core) and its Redis's
                           commands a second (INFO commandstats, every client's: the worker is the only one)
    click -> resumed       in the first workspace: a program asks (API key), long-polls, a person clicks Approve;
                           timed from the click to the long-poll's "approved", while the other workspaces' people
                           keep opening their Homes (a steady load, the same rate at every size); in rounds,
                           a batch of each size's in turn, so the machine's noise falls on every size alike

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
from dataclasses import dataclass, field
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
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, RedisServer, bot_env, free_port
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


@dataclass
class Size:
    """One size's worker, its Redis, its workspaces, and what was measured of it."""

    installed: list[Installed]
    server: RedisServer
    worker: Process
    client: Client | None = None
    figures: dict[str, Any] = field(default_factory=dict)
    times: list[float] = field(default_factory=list)
    loaded: int = 0


async def serve_once(slack: SlackStandIn, size: Size, settle: float) -> None:
    """Each workspace served once (its person opens the app's Home: its parts built, its Home drawn), the worker's
    RSS before and after."""
    slack.events_url = size.worker.url + "/slack/events"
    pid = size.worker.process.pid
    rss_before = proc_rss_bytes(pid)
    began = time.monotonic()
    for each in size.installed:
        opened = await slack.open_home(user=each.person)
        assert opened.status == 200, opened
    size.figures["serve_each_once_s"] = round(time.monotonic() - began, 2)
    await asyncio.sleep(settle)  # the Homes drawn, the work of serving them done
    rss_after = proc_rss_bytes(pid)
    size.figures.update(rss_before_mb=round(rss_before / 2**20, 1), rss_after_mb=round(rss_after / 2**20, 1),
                        memory_per_workspace_kb=round((rss_after - rss_before) / len(size.installed) / 1024, 1))


async def idle(sizes: list[Size], window: float) -> None:
    """Every worker idle over the same window: its CPU and its Redis's commands a second."""
    before = [(proc_cpu_seconds(s.worker.process.pid), await commands(s.server.url)) for s in sizes]
    t0 = time.monotonic()
    await asyncio.sleep(window)
    after = [(proc_cpu_seconds(s.worker.process.pid), await commands(s.server.url)) for s in sizes]
    took = time.monotonic() - t0
    for size, (cpu0, cmds0), (cpu1, cmds1) in zip(sizes, before, after, strict=True):
        size.figures.update(idle_cpu_percent=round(100 * (cpu1 - cpu0) / took, 3),
                            idle_redis_commands_per_s=round((cmds1 - cmds0) / took, 2))


async def clicks(slack: SlackStandIn, size: Size, count: int) -> None:
    """`count` decisions in the first workspace while the others' people open their Homes."""
    assert size.client is not None
    slack.events_url = size.worker.url + "/slack/events"
    stop = asyncio.Event()
    loading = asyncio.create_task(load(slack, size.installed[1:] or size.installed, stop))
    try:
        for _ in range(count):
            size.times.append(await decision(slack, size.worker, size.client, size.installed[0]))
    finally:
        stop.set()
        size.loaded += await loading


async def keyed(slack: SlackStandIn, size: Size) -> None:
    """An API key of the first workspace, and one decision with it (warm)."""
    store = Store(connect(size.server.url))
    try:
        first = size.installed[0]
        made = await store.api_keys.create("bench", (first.channel,), by="bench", workspace=WorkspaceRef(first.team),
                                           per_minute=100_000, max_pending=100_000)
        assert made is not None
    finally:
        await store.close()
    size.client = Client(size.worker, made.key)
    slack.events_url = size.worker.url + "/slack/events"
    await decision(slack, size.worker, size.client, size.installed[0])


def ratio(value: float, base: float) -> float | None:
    return None if base <= 0 else round(value / base, 3)


async def run(
    sizes: list[int], *, window: float, decisions: int, rounds: int = 5, settle: float = 3.0
) -> dict[str, Any]:
    """Every size's worker at once (each with its own redis-server): each served once in turn, one idle window for
    all, then click rounds interleaved (a batch of each size's in turn, `rounds` times), so that the machine's
    noise falls on every size alike. `settle`: seconds given to the Homes' drawing before the RSS is read (and
    two thirds of it to the workers' starts)."""
    slack = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    installed = serve_many(slack, max(sizes))
    started: list[Size] = []
    try:
        with tempfile.TemporaryDirectory() as folder:
            for n in sizes:
                server = start_redis()
                listed = workspaces_file(Path(folder) / f"workspaces-{n}.json", installed[:n])
                try:
                    worker = await start(slack, server.url, listed, Path(folder) / f"worker-{n}.log")
                except BaseException:
                    stop_redis(server)
                    raise
                started.append(Size(installed=installed[:n], server=server, worker=worker))
            await asyncio.sleep(settle * 2 / 3)  # their starts settled
            for size in started:
                await serve_once(slack, size, settle)
            await idle(started, window)
            for size in started:
                await keyed(slack, size)
            for _ in range(rounds):
                for size in started:
                    await clicks(slack, size, max(1, decisions // rounds))
    finally:
        for size in started:
            size.worker.process.terminate()
            size.worker.process.wait(timeout=60)
            stop_redis(size.server)
        await slack.stop()
    results = [{"workspaces": len(s.installed), **s.figures, "resumed": summary_ms(s.times),
                "homes_opened_meanwhile": s.loaded} for s in started]
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
    parser.add_argument("--small", action="store_true", help="sizes 1 and 10, a 1 s window, 10 decisions")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    sizes = [1, 10] if args.small else [int(s) for s in args.sizes.split(",")]
    result = asyncio.run(run(sizes, window=1.0 if args.small else args.window, settle=1.0 if args.small else 3.0,
                             decisions=10 if args.small else args.decisions))
    write_json(result, args.out)
    print(table(result))


if __name__ == "__main__":
    main()

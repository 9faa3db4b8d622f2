"""A worker with 1,000 workspaces installed is ready as soon as one with its home workspace alone (issue 78: a
worker builds no workspace's parts at its start), side by side in one run: the floor is the same worker, the same
machine, the same moment, without the workspaces.

For each size (0, the floor: the home workspace alone; and `--workspaces`, 1,000 by default) a redis-server of its
own holding that many OAuth installations (tokens sealed, as the install flow keeps them), each workspace served
before (its tenant remembered); the local Slack, in this process, knows them all. In each round, a `python -m bot`
of each size in turn (the order rotated every round), started and timed:

    first line -> ready    from the worker's first log line (its modules imported: what a loaded machine spends
                           importing is the same whatever the workspaces) to its first `/readyz` 200
    start -> ready         from the process's start to its first `/readyz` 200
    CPU to ready           the worker's user+system CPU when it first answers ready

then stopped. Medians over the rounds, and each as a ratio to the floor's (issue 78's goal: flat in workspaces).
tests/scenarios/test_tenant_scale.py keeps the functional test (ready at all); the timing is here, where the floor
shares the machine's load (under the suite's load the absolute 5 s it asserted failed).

    python tests/benchmarks/workspaces_ready.py [--workspaces 1000] [--rounds 5] [--out FILE]
    python tests/benchmarks/workspaces_ready.py --small     # CI: 100 workspaces, 1 round
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.core.workspaces import WorkspaceRef
from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from tests.benchmarks.common import machine_info, proc_cpu_seconds, start_redis, stop_redis, write_json
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, RedisServer, free_port
from tests.support.oauth import TOKENS_KEY, oauth_env
from tests.support.workspaces import Installed, install_all, serve_many

REPO = Path(__file__).resolve().parents[2]


async def installed_in(redis_url: str, installed: list[Installed]) -> None:
    """`installed` kept as OAuth installations, each served before (its tenant remembered)."""
    await install_all(redis_url, installed, tokens_key=TOKENS_KEY)
    store = Store(connect(redis_url))
    try:
        for each in installed:
            await store.tenants.remember(WorkspaceRef(each.team))
    finally:
        await store.close()


def first_line_at(log: Path) -> float | None:
    """When the worker wrote its first log line (epoch seconds, its clock), if it has."""
    lines = log.read_text().splitlines()
    if not lines or not lines[0][:4].isdigit():
        return None
    stamp, _, ms = lines[0][:23].partition(",")
    return time.mktime(time.strptime(stamp, "%Y-%m-%d %H:%M:%S")) + int(ms) / 1000


def tail(log: Path) -> str:
    return log.read_text()[-2000:]


async def one_start(slack: SlackStandIn, server: RedisServer, log: Path) -> dict[str, float]:
    """Start a worker on `server`, time it to ready, stop it."""
    port = free_port()
    env = {**os.environ, **oauth_env(slack, server.url), "PORT": str(port), "LOG_LEVEL": "INFO"}
    with log.open("wb") as out:
        began = time.time()
        process = subprocess.Popen(  # noqa: ASYNC220 - starting a worker is instant; we then poll it
            [sys.executable, "-m", "bot"], cwd=REPO, env=env, stdout=out, stderr=out)
    try:
        deadline = time.monotonic() + 120
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=1)) as http:
            while True:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"the worker did not get ready: {tail(log)}")
                try:
                    async with http.get(f"http://127.0.0.1:{port}/readyz") as answer:
                        if answer.status == 200:
                            ready, cpu = time.time(), proc_cpu_seconds(process.pid)
                            break
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.02)
        first = first_line_at(log)
        if first is None:
            raise RuntimeError(f"the worker wrote no log line: {tail(log)}")
        return {"first_line_to_ready_s": ready - first, "start_to_ready_s": ready - began, "cpu_to_ready_s": cpu}
    finally:
        process.terminate()
        process.wait(timeout=60)


def medians(runs: list[dict[str, float]]) -> dict[str, float]:
    return {key: round(statistics.median(run[key] for run in runs), 3) for key in runs[0]}


async def run(workspaces: int, rounds: int) -> dict[str, Any]:
    slack = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    installed = serve_many(slack, workspaces)
    sizes = {"floor": 0, "installed": workspaces}
    servers: dict[str, RedisServer] = {}
    runs: dict[str, list[dict[str, float]]] = {name: [] for name in sizes}
    try:
        for name, n in sizes.items():
            servers[name] = start_redis()
            await installed_in(servers[name].url, installed[:n])
        with tempfile.TemporaryDirectory() as folder:
            names = list(sizes)
            for i in range(rounds):
                for name in names[i % 2:] + names[:i % 2]:  # the order rotated every round
                    runs[name].append(await one_start(slack, servers[name], Path(folder) / f"{name}-{i}.log"))
    finally:
        for server in servers.values():
            stop_redis(server)
        await slack.stop()
    floor, many = medians(runs["floor"]), medians(runs["installed"])
    ratios = {key: round(many[key] / floor[key], 3) if floor[key] > 0 else None for key in floor}
    return {"benchmark": "workspaces_ready", "workspaces": workspaces, "rounds": rounds,
            "floor": floor, "installed": many, "ratios": ratios, "runs": runs, "machine": machine_info()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--workspaces", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--small", action="store_true", help="100 workspaces, 1 round")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(run(100 if args.small else args.workspaces, 1 if args.small else args.rounds))
    write_json(result, args.out)
    for key in result["floor"]:
        print(f"{key}: home alone {result['floor'][key]:.2f} s, {result['workspaces']:,} workspaces "
              f"{result['installed'][key]:.2f} s (x{result['ratios'][key]})")


if __name__ == "__main__":
    main()

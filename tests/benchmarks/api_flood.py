"""One key's flood against another key's clicks (issue #45 item 9): click -> resumed for key B's approvals, quiet
and while key A floods the same worker, as a ratio measured in one run.

A real worker (another process), the Slack stand-in (another process), one redis-server. Key B asks through
`POST /api/v1/approvals`, holds a `GET …?wait=30` long-poll, a signed Approve click reaches the worker's
`/slack/events`, and the time from the click to the long-poll's answer is one sample. Key A (its per-minute
limit raised, `max_pending` 1, so its asks are refused cheaply, as in the issue) floods the worker from a third
process during the flood phases: 430 asks a second (the issue's 10,827 in 25 s), at most 32 in flight. Quiet and
flood phases alternate, so a noisy machine weighs on both. The flood's achieved rate is reported: on a machine too
busy to reach it, the ratio says less.

Goal: flood p50 <= 1.5 x quiet p50 (`ratio_flood_to_quiet_p50`). Also reported: the flood's requests a second
and their statuses (most 429 `rate_limited`, refused before their bodies are read).

    python tests/benchmarks/api_flood.py [--rounds 200] [--phases 4] [--rate 430] [--out FILE]
    python tests/benchmarks/api_flood.py --small      # CI: 10 rounds in 1 phase
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.store import Store, connect
from tests.benchmarks.common import (
    Proc,
    click_body,
    machine_info,
    sign,
    start_redis,
    stop_redis,
    summary_ms,
    write_json,
)

CHANNEL = "C0BENCH00"
ASK = {"kind": "tool", "title": "benchmark", "tool": {"name": "send_email", "arguments": {"to": "b@example.com"}}}
FLOOD_IN_FLIGHT = 32
FLOOD_RATE = 430.0  # asks a second: the flood (10,827 in 25 s)
WARMUP = 10


async def flood(url: str, key: str, rate: float) -> None:
    """The flooder's process: asks at `rate` a second (at most 32 in flight) until stdin closes; then prints its
    counts."""
    counts: Counter[int] = Counter()
    stop = asyncio.Event()
    headers = {"Authorization": f"Bearer {key}"}
    body = json.dumps({**ASK, "title": "flood"}).encode()
    started = time.perf_counter()

    async def one_connection(http: aiohttp.ClientSession, n: int) -> None:
        every = FLOOD_IN_FLIGHT / rate
        due = time.monotonic() + n / rate
        while not stop.is_set():
            await asyncio.sleep(max(0.0, due - time.monotonic()))
            due += every
            try:
                async with http.post(url + "/api/v1/approvals", data=body,
                                     headers={**headers, "Content-Type": "application/json"}) as response:
                    await response.read()
                    counts[response.status] += 1
            except aiohttp.ClientError:
                counts[0] += 1

    async def until_stdin_closes() -> None:
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, sys.stdin.read)
        stop.set()

    connector = aiohttp.TCPConnector(limit=FLOOD_IN_FLIGHT)
    async with aiohttp.ClientSession(connector=connector) as http:
        print(json.dumps({"ready": True}), flush=True)
        await asyncio.gather(until_stdin_closes(), *(one_connection(http, n) for n in range(FLOOD_IN_FLIGHT)))
    took = time.perf_counter() - started
    print(json.dumps({"statuses": {str(k): v for k, v in counts.items()}, "seconds": took,
                      "per_second": sum(counts.values()) / took}), flush=True)


class Flooder:
    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process

    @classmethod
    async def start(cls, url: str, key: str, rate: float) -> Flooder:
        process = await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--flood", url, key, str(rate),
            stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE)
        assert process.stdout is not None
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        assert json.loads(line)["ready"], line
        return cls(process)

    async def stop(self) -> dict[str, Any]:
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.close()
        line = await asyncio.wait_for(self.process.stdout.readline(), 60)
        await self.process.wait()
        return dict(json.loads(line))


async def one_click(http: aiohttp.ClientSession, store: Store, worker: Proc, auth: dict[str, str]) -> float:
    """Key B asks, long-polls, and its card is approved: seconds from the click to the long-poll's answer."""
    url = str(worker.info["url"])
    async with http.post(url + "/api/v1/approvals", json=ASK, headers=auth) as response:
        asked = await response.json()
        assert response.status == 201, asked
    approval = await store.approvals.get(asked["id"])
    assert approval is not None and approval.card_ts, asked
    answered: asyncio.Future[float] = asyncio.get_running_loop().create_future()

    async def poll() -> None:
        async with http.get(f"{url}/api/v1/approvals/{asked['id']}?wait=30", headers=auth) as response:
            body = await response.json()
        answered.set_result(time.perf_counter())
        assert body["status"] == "approved", body

    polling = asyncio.create_task(poll())
    deadline = time.monotonic() + 10
    while not await _held(http, url):  # the long-poll is held before the click
        if time.monotonic() > deadline:
            raise RuntimeError("the long-poll was not held within 10 s")
        await asyncio.sleep(0.002)
    body = click_body(approval.id, approval.card_channel, approval.card_ts)
    started = time.perf_counter()
    async with http.post(str(worker.info["events_url"]), data=body, headers=sign(body)) as response:
        assert response.status == 200, await response.text()
    done = await answered
    await polling
    return done - started


async def _held(http: aiohttp.ClientSession, url: str) -> bool:
    async with http.get(url + "/healthz") as response:
        return int((await response.json()).get("api_long_polls", 0)) > 0


async def measure(rounds: int, phases: int, rate: float) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-flood-"))
    redis_server = start_redis()
    procs: list[Proc] = []
    redis = connect(redis_server.url)
    store = Store(redis)
    series: dict[str, list[float]] = {"quiet": [], "flood": []}
    floods: list[dict[str, Any]] = []
    try:
        slack = await Proc.start("slack", {"kind": "standin"}, log_dir=log_dir)
        procs.append(slack)
        worker = await Proc.start("worker", {"redis_url": redis_server.url, "api_url": slack.info["api_url"],
                                             "env": {"API_KEY_RATE": "50"}},  # the default admission, measured
                                  log_dir=log_dir)
        procs.append(worker)
        clicker = await store.api_keys.create("clicker", [CHANNEL], by="bench", max_pending=100_000,
                                              per_minute=100_000)
        flooder = await store.api_keys.create("flooder", [CHANNEL], by="bench", max_pending=1, per_minute=10_000_000)
        assert clicker is not None and flooder is not None
        auth = {"Authorization": f"Bearer {clicker.key}"}
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as http:
            for _ in range(WARMUP):
                await one_click(http, store, worker, auth)
            per_phase = max(1, rounds // phases)
            for _ in range(phases):
                for _ in range(per_phase):
                    series["quiet"].append(await one_click(http, store, worker, auth))
                flooding = await Flooder.start(str(worker.info["url"]), flooder.key, rate)
                await asyncio.sleep(1.0)  # the flood under way
                try:
                    for _ in range(per_phase):
                        series["flood"].append(await one_click(http, store, worker, auth))
                finally:
                    floods.append(await flooding.stop())
    finally:
        await redis.aclose()
        for proc in reversed(procs):
            await proc.stop()
        stop_redis(redis_server)
    quiet, flooded = summary_ms(series["quiet"]), summary_ms(series["flood"])
    statuses: Counter[str] = Counter()
    for phase in floods:
        statuses.update(phase["statuses"])
    ratio = flooded["p50_ms"] / quiet["p50_ms"]
    return {
        "benchmark": "api_flood",
        "machine": machine_info(),
        "rounds": rounds,
        "phases": phases,
        "flood_rate_asked": rate,
        "click_to_resumed": {"quiet": quiet, "flood": flooded},
        "ratio_flood_to_quiet_p50": ratio,
        "ratio_flood_to_quiet_p99": flooded["p99_ms"] / quiet["p99_ms"],
        "goal_ratio_p50": 1.5,
        "within_goal": ratio <= 1.5,
        "flood_requests_per_second": sum(p["per_second"] for p in floods) / len(floods),
        "flood_statuses": dict(statuses),
    }


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--flood":
        asyncio.run(flood(sys.argv[2], sys.argv[3], float(sys.argv[4])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=200, help="clicks per series (quiet, flood)")
    parser.add_argument("--phases", type=int, default=4, help="quiet / flood phases, alternating")
    parser.add_argument("--rate", type=float, default=FLOOD_RATE, help="the flood's asks a second")
    parser.add_argument("--small", action="store_true", help="CI size: 10 rounds in 1 phase")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    rounds, phases = (10, 1) if args.small else (args.rounds, args.phases)
    result = asyncio.run(measure(rounds, phases, args.rate))
    write_json(result, args.out)
    print(json.dumps({k: result[k] for k in ("click_to_resumed", "ratio_flood_to_quiet_p50", "within_goal",
                                             "flood_requests_per_second", "flood_statuses")}, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""/healthz under hostile load: how fast a worker answers while it checks asks whose schemas once froze one.

Real parts: a throwaway redis-server, the Slack stand-in, one `python -m bot` worker process (as in production), an
API key with its limits raised. First the floor: `--polls` sequential GET /healthz on the quiet worker. Then the
same polls while the hostile asks of tests/support/hostile_schemas.py are checked (each once, then all but the raw
one three times at once, `--rounds` times): each must be a 400 naming its field. Reported: /healthz p50 and max,
quiet and under load, and their ratios to the quiet p50 (goal: p50 within 5x, max within 20x). Nothing here
asserts on time; it exits 1 only if a hostile ask is not a 400.

    python tests/benchmarks/hostile_load.py [--rounds 3] [--polls 50] [--out FILE]
    python tests/benchmarks/hostile_load.py --small      # CI: 1 round
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from tests.benchmarks.common import machine_info, start_redis, stop_redis, summary_ms, write_json
from tests.conftest import BOB, BOT_TOKEN, SALES, SIGNING_SECRET
from tests.support.cluster import DEMO, Cluster
from tests.support.hostile_schemas import HOSTILE


async def healthz(http: aiohttp.ClientSession, url: str) -> float:
    started = time.perf_counter()
    async with http.get(url + "/healthz") as response:
        await response.read()
        if response.status != 200:
            raise RuntimeError(f"/healthz answered {response.status}")
    return time.perf_counter() - started


async def poll_until(done: asyncio.Event, http: aiohttp.ClientSession, url: str, into: list[float]) -> None:
    while not done.is_set():
        into.append(await healthz(http, url))
        await asyncio.sleep(0.02)


async def ask(http: aiohttp.ClientSession, url: str, key: str, body: Any) -> tuple[int, str]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with http.post(url + "/api/v1/approvals", data=data, headers=headers) as response:
        answer = await response.json(content_type=None)
        return response.status, str((answer.get("error") or {}).get("field", ""))


async def measure(rounds: int, polls: int) -> dict[str, Any]:
    redis_server = start_redis()
    slack = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-hostile-"))
    model = tmp / "model.json"
    model.write_text(json.dumps(DEMO))
    cluster = Cluster(slack, redis_server.url, tmp, model)
    redis = connect(redis_server.url)
    quiet: list[float] = []
    loaded: list[float] = []
    wrong: list[str] = []
    try:
        worker = await cluster.start()
        made = await Store(redis).api_keys.create("hostile", [SALES], by=BOB, per_minute=100_000,
                                                  max_pending=100_000)
        assert made is not None
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(120)) as http:
            for _ in range(3):  # warm up: connections, the first request's imports
                await healthz(http, worker.url)
            for _ in range(rounds):
                quiet.extend([await healthz(http, worker.url) for _ in range(polls)])
                done = asyncio.Event()
                watcher = asyncio.create_task(poll_until(done, http, worker.url, loaded))
                try:
                    for body, field in HOSTILE:
                        status, named = await ask(http, worker.url, made.key, body)
                        if status != 400 or named != field:
                            wrong.append(f"{field or 'raw'}: {status} {named}")
                    answers = await asyncio.gather(*(ask(http, worker.url, made.key, b) for b, _ in HOSTILE[:-1] * 3))
                    wrong += [f"at once: {status}" for status, _ in answers if status != 400]
                finally:
                    done.set()
                    await watcher
    finally:
        cluster.stop_all()
        await redis.aclose()
        await slack.stop()
        stop_redis(redis_server)
    floor = statistics.median(quiet)
    return {
        "benchmark": "hostile_load",
        "machine": machine_info(),
        "rounds": rounds,
        "quiet_ms": summary_ms(quiet),
        "loaded_ms": summary_ms(loaded),
        "p50_ratio": round(statistics.median(loaded) / floor, 2),
        "max_ratio": round(max(loaded) / floor, 2),
        "goal": "under hostile load, /healthz p50 within 5x its quiet p50 and max within 20x",
        "wrong": wrong,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--polls", type=int, default=50)
    parser.add_argument("--small", action="store_true", help="CI: 1 round of 20 polls")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    rounds, polls = (1, 20) if args.small else (args.rounds, args.polls)
    result = asyncio.run(measure(rounds, polls))
    write_json(result, args.out)
    quiet, loaded = result["quiet_ms"], result["loaded_ms"]
    print(f"/healthz quiet p50 {quiet['p50_ms']:.2f} ms; under hostile load p50 {loaded['p50_ms']:.2f} ms"
          f" ({result['p50_ratio']}x), max {loaded['max_ms']:.1f} ms ({result['max_ratio']}x)")
    if result["wrong"]:
        print("not a 400 naming the field:", result["wrong"], file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

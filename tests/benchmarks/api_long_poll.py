"""The Approvals API's waiting end: click -> the program's long-poll answered, next to the in-process path,
and 1,000 long-polls held at once on one worker.

Latency (one worker A in this process, the Slack stand-in in another, one redis-server; series interleaved
in a rotating order):

* in_process: an approval owned by A with its card (as `/agent` runs ask); a signed Approve click reaches A's
  `/slack/events`; timed until the future the agent awaits (linked to a cancellation token) runs again.
* api: an approval asked with `POST /api/v1/approvals`; a `GET …?wait=30` long-poll held on A; the same click;
  timed until the long-poll's answer (`"status": "approved"`) is read by the client.
* http_rtt: one bare HTTP round trip to an aiohttp handler in this process (the floor of any HTTP answer).

Goal: api p50 <= 2 x in_process p50 + http_rtt p50.

Concurrency (a worker B as its own process): N approvals asked through the API, N long-polls held on B at
once (its `/healthz` counts them), B's RSS before and after (memory per waiting request; the approvals are
stored directly, so no HTTP handling warms B's heap first); then all N decided
in one burst through the decide step, each timed from its decision to its answer (goal: all within 1 s).

    python tests/benchmarks/api_long_poll.py [--decisions 500] [--polls 1000] [--out FILE]
    python tests/benchmarks/api_long_poll.py --small      # CI: 20 decisions, 50 long-polls
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from dataclasses import replace

from bot.api.service import new_approval_id as new_api_approval_id
from bot.core.records import API_OWNER
from bot.store import Store, connect
from tests.benchmarks.click_to_resume import Bench
from tests.benchmarks.common import (
    Proc,
    click_body,
    interleaved,
    machine_info,
    new_approval,
    proc_rss_bytes,
    realistic_checkpoint,
    sign,
    start_redis,
    stop_redis,
    summary_ms,
    worker_env,
    write_json,
)
from tests.conftest import Worker, start_worker

WARMUP = 20
ASK = {"kind": "tool", "title": "benchmark", "tool": {"name": "send_email", "arguments": {"to": "b@example.com"}}}


class ApiBench(Bench):
    def __init__(self, http: aiohttp.ClientSession, a: Worker, checkpoint: str, proposal: str, key: str) -> None:
        super().__init__(http, a, checkpoint, proposal)
        self.auth = {"Authorization": f"Bearer {key}"}
        self.rtt_url = ""

    async def in_process(self) -> float:
        resumed, _ = await self.ours(self.a.url + "/slack/events")  # (click_to_resume's same-worker series)
        return resumed

    async def api(self) -> float:
        services = self.a.services
        async with self.http.post(self.a.url + "/api/v1/approvals", json=ASK, headers=self.auth) as response:
            asked = await response.json()
            assert response.status == 201, asked
        approval = await services.store.approvals.get(asked["id"])
        assert approval is not None and approval.card_ts
        answered: asyncio.Future[float] = asyncio.get_running_loop().create_future()

        async def poll() -> None:
            url = f"{self.a.url}/api/v1/approvals/{asked['id']}?wait=30"
            async with self.http.get(url, headers=self.auth) as response:
                body = await response.json()
            answered.set_result(time.perf_counter())
            assert body["status"] == "approved", body

        polling = asyncio.create_task(poll())
        while services.api.waiters.count == 0:  # noqa: ASYNC110 - the long-poll is held before the click
            await asyncio.sleep(0.0005)
        body = click_body(approval.id, approval.card_channel, approval.card_ts)
        started = time.perf_counter()
        await self._post(self.a.url + "/slack/events", body, sign(body))
        done = await answered
        await polling
        return done - started

    async def rtt(self) -> float:
        started = time.perf_counter()
        async with self.http.get(self.rtt_url) as response:
            await response.read()
        return time.perf_counter() - started


async def latency(decisions: int, redis_url: str, slack: Proc, log_dir: Path) -> dict[str, Any]:
    env = worker_env(api_url=str(slack.info["api_url"]), redis_url=redis_url)
    a = await start_worker(env)
    rtt_app = web.Application()
    rtt_app.router.add_get("/ping", lambda request: _pong())
    runner = web.AppRunner(rtt_app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        made = await a.services.store.api_keys.create("bench", ["C0BENCH00"], by="bench", max_pending=100_000,
                                                      per_minute=100_000)
        assert made is not None
        checkpoint, proposal = await realistic_checkpoint()
        async with aiohttp.ClientSession() as http:
            bench = ApiBench(http, a, checkpoint, proposal, made.key)
            bench.rtt_url = f"http://127.0.0.1:{runner.addresses[0][1]}/ping"
            steps: dict[str, Callable[[], Awaitable[float]]] = {
                "in_process": bench.in_process, "api": bench.api, "http_rtt": bench.rtt,
            }
            series = await interleaved(steps, decisions, warmup=WARMUP)
            await a.services.background.drain()
            await a.services.cards.drain()
    finally:
        await runner.cleanup()
        await a.stop()
    result = {name: summary_ms(values) for name, values in series.items()}
    budget = 2 * result["in_process"]["p50_ms"] + result["http_rtt"]["p50_ms"]
    return {
        "ms": result,
        "goal_p50_ms": budget,
        "api_p50_within_goal": result["api"]["p50_ms"] <= budget,
        "ratio_api_to_in_process_p50": result["api"]["p50_ms"] / result["in_process"]["p50_ms"],
        "ratio_api_to_in_process_p99": result["api"]["p99_ms"] / result["in_process"]["p99_ms"],
    }


async def _pong() -> web.Response:
    return web.Response(text="pong")


async def concurrency(polls: int, redis_url: str, slack: Proc, log_dir: Path) -> dict[str, Any]:
    b = await Proc.start("worker", {"redis_url": redis_url, "api_url": slack.info["api_url"]}, log_dir=log_dir)
    redis = connect(redis_url)
    store = Store(redis)
    try:
        made = await store.api_keys.create("bench-many", ["C0BENCH00"], by="bench", max_pending=100_000,
                                           per_minute=100_000)
        assert made is not None
        auth = {"Authorization": f"Bearer {made.key}"}
        url = str(b.info["url"])
        connector = aiohttp.TCPConnector(limit=0)
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=120)) as http:
            # stored as the API stores them (no HTTP asks first: the worker's memory is measured cold)
            ids = [new_api_approval_id() for _ in range(polls)]
            for approval_id in ids:
                approval = replace(new_approval(API_OWNER, approval_id=approval_id), asked_by="bench-many",
                                   key_id=made.record.id)
                assert await store.approvals.create(approval) == "ok"

            async def held() -> int:
                async with http.get(url + "/healthz") as response:
                    return int((await response.json())["api_long_polls"])

            rss_before = proc_rss_bytes(b.pid)
            answered: dict[str, float] = {}

            async def poll(approval_id: str) -> None:
                async with http.get(f"{url}/api/v1/approvals/{approval_id}?wait=60", headers=auth) as response:
                    body = await response.json()
                answered[approval_id] = time.perf_counter()
                assert body["status"] == "approved", body

            polling = [asyncio.create_task(poll(i)) for i in ids]
            deadline = time.monotonic() + 60
            while await held() < polls:
                if time.monotonic() > deadline:
                    raise RuntimeError("the long-polls were not all held within 60 s")
                await asyncio.sleep(0.05)
            rss_held = proc_rss_bytes(b.pid)
            decided: dict[str, float] = {}
            burst_started = time.perf_counter()
            for approval_id in ids:  # one burst, through the decide step (as clicks decide)
                result = await store.approvals.decide(approval_id, outcome="approved", by="U0BENCH")
                assert result.status == "ok", result.status
                decided[approval_id] = time.perf_counter()
            await asyncio.wait_for(asyncio.gather(*polling), 120)
            waits = [answered[i] - decided[i] for i in ids]
    finally:
        await redis.aclose()
        await b.stop()
    return {
        "long_polls": polls,
        "rss_kb_before": rss_before // 1024,
        "rss_kb_held": rss_held // 1024,
        "rss_kb_per_long_poll": round((rss_held - rss_before) / 1024 / polls, 2),
        "decision_burst_s": round(max(decided.values()) - burst_started, 3),
        "decision_to_answer": summary_ms(waits),
        "all_within_1s": max(waits) <= 1.0,
    }


async def measure(decisions: int, polls: int) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-api-"))
    redis_server = start_redis()
    slack = await Proc.start("slack", {"kind": "standin"}, log_dir=log_dir)
    try:
        first = await latency(decisions, redis_server.url, slack, log_dir)
        second = await concurrency(polls, redis_server.url, slack, log_dir)
    finally:
        await slack.stop()
        stop_redis(redis_server)
    return {"benchmark": "api_long_poll", "machine": machine_info(), "decisions": decisions, "latency": first,
            "concurrency": second}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=500, help="decisions per latency series (after 20 warm-up)")
    parser.add_argument("--polls", type=int, default=1000, help="long-polls held at once on one worker")
    parser.add_argument("--small", action="store_true", help="CI size: 20 decisions, 50 long-polls")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    decisions, polls = (20, 50) if args.small else (args.decisions, args.polls)
    result = asyncio.run(measure(decisions, polls))
    print(json.dumps(result, indent=2))
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

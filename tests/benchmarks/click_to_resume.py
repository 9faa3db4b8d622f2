"""Click -> agent resumed, measured next to the floor in the same run.

Ours: a signed `block_actions` POST reaches the real Bolt app at `/slack/events`; the listener runs
the atomic decide step (Lua), which publishes to the owner worker; the worker's one subscription
resolves the future the input function awaits. We time from just before the POST until the code
awaiting that future runs again (the input function returning), after the HTTP answer has arrived.

Floor: a bare aiohttp handler doing one Redis `SET NX` + `PUBLISH`, resolving a waiting future
through one subscription: the least any design built on HTTP + Redis pub/sub can cost here.

Both run against the same real redis-server, interleaved, on the same event loop.

    python tests/benchmarks/click_to_resume.py [--decisions 2000] [--out artifacts/bench-click.json]
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
import os
import platform
import statistics
import sys
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.devslack.server import SlackStandIn
from bot.records import ApprovalRecord
from bot.store import connect
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, bot_env, free_port, start_redis, start_worker

CARD_CHANNEL = "C0APPROVALS"


def signed(body: str) -> dict[str, str]:
    stamp = str(int(time.time()))
    digest = hmac.new(SIGNING_SECRET.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {
        "X-Slack-Request-Timestamp": stamp,
        "X-Slack-Signature": f"v0={digest}",
        "Content-Type": "application/x-www-form-urlencoded",
    }


def click_body(approval_id: str, ts: str) -> str:
    payload = {
        "type": "block_actions",
        "user": {"id": "U0BOB", "username": "bob", "name": "bob", "team_id": "T0DEV"},
        "team": {"id": "T0DEV", "domain": "dev"},
        "api_app_id": "A0DEV",
        "container": {"type": "message", "message_ts": ts, "channel_id": CARD_CHANNEL, "is_ephemeral": False},
        "channel": {"id": CARD_CHANNEL, "name": "approvals"},
        "message": {"ts": ts, "text": "Approval needed"},
        "actions": [
            {
                "action_id": "approval_approve",
                "block_id": "b",
                "value": approval_id,
                "type": "button",
                "action_ts": str(time.time()),
            }
        ],
        "trigger_id": "1.2.3",
        "state": {"values": {}},
    }
    return urllib.parse.urlencode({"payload": json.dumps(payload)})


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def summary(samples: list[float]) -> dict[str, float]:
    ms = [s * 1000 for s in samples]
    return {
        "n": len(ms),
        "p50_ms": percentile(ms, 0.5),
        "p90_ms": percentile(ms, 0.9),
        "p99_ms": percentile(ms, 0.99),
        "mean_ms": statistics.fmean(ms),
        "max_ms": max(ms),
    }


async def start_floor(
    redis_url: str,
) -> tuple[web.AppRunner, str, dict[str, asyncio.Future[float]], asyncio.Task[None]]:
    """The floor: POST /click -> SET NX + PUBLISH; one subscription resolves futures."""
    redis = connect(redis_url)
    futures: dict[str, asyncio.Future[float]] = {}

    async def click(request: web.Request) -> web.Response:
        approval_id = (await request.post())["id"]
        if await redis.set(f"floor:{approval_id}", "approved", nx=True):
            await redis.publish("floor:worker", str(approval_id))
        return web.Response()

    pubsub = redis.pubsub()
    await pubsub.subscribe("floor:worker")

    async def listen() -> None:
        async for message in pubsub.listen():
            if message.get("type") == "message":
                future = futures.pop(message["data"], None)
                if future is not None and not future.done():
                    future.set_result(0.0)

    task = asyncio.create_task(listen())
    app = web.Application()
    app.router.add_post("/click", click)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    return runner, f"http://127.0.0.1:{port}/click", futures, task


async def measure(decisions: int) -> dict[str, Any]:
    redis_server = start_redis()
    slack = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_server.url, model_config=None))
    floor_runner, floor_url, floor_futures, floor_task = await start_floor(redis_server.url)
    store, waiter = worker.services.store, worker.services.waiter
    ours: list[float] = []
    floor: list[float] = []
    try:
        async with aiohttp.ClientSession() as http:
            for i in range(decisions + 50):  # the first 50 of each warm up and are not counted
                # ours: a pending approval with a card, waited on by this worker
                now = time.time()
                approval_id = str(uuid.uuid4())
                ts = f"{1700000000 + i}.000100"
                await store.create_approval(
                    ApprovalRecord(
                        id=approval_id,
                        run_id="rbenchmrk",
                        owner=worker.services.worker_id,
                        requester="U0ALICE",
                        origin_channel="C0SALES",
                        card_channel=CARD_CHANNEL,
                        task="t",
                        proposal="p",
                        author="assistant",
                        created_at=now,
                        deadline=now + 600,
                        timeout_seconds=600,
                    )
                )
                await store.attach_card(approval_id, channel=CARD_CHANNEL, ts=ts)
                future = waiter.expect(approval_id)
                body = click_body(approval_id, ts)
                headers = signed(body)
                started = time.perf_counter()
                async with http.post(worker.url + "/slack/events", data=body, headers=headers) as response:
                    assert response.status == 200, await response.text()
                await future  # what the input function awaits: it returns now
                if i >= 50:
                    ours.append(time.perf_counter() - started)

                # floor
                floor_id = str(uuid.uuid4())
                floor_future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
                floor_futures[floor_id] = floor_future
                started = time.perf_counter()
                async with http.post(floor_url, data={"id": floor_id}) as response:
                    assert response.status == 200
                await floor_future
                if i >= 50:
                    floor.append(time.perf_counter() - started)
        await worker.services.background.drain()
        updates = len(slack.calls("chat.update"))
    finally:
        floor_task.cancel()
        await floor_runner.cleanup()
        await worker.stop()
        await slack.stop()
        redis_server.process.terminate()
        redis_server.process.wait(timeout=10)
    ours_s, floor_s = summary(ours), summary(floor)
    return {
        "benchmark": "click_to_resume_same_worker",
        "machine": f"{platform.machine()} {platform.system()} python {platform.python_version()}",
        "cpus": os.cpu_count(),
        "ours": ours_s,
        "floor": floor_s,
        "ratio_p50": ours_s["p50_ms"] / floor_s["p50_ms"],
        "ratio_p99": ours_s["p99_ms"] / floor_s["p99_ms"],
        "slack_card_updates": updates,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=2000)
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    result = asyncio.run(measure(args.decisions))
    text = json.dumps(result, indent=2)
    print(text)
    print(f"\n{'':8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'mean ms':>8}")
    for name in ("ours", "floor"):
        row = result[name]
        print(f"{name:8} {row['p50_ms']:8.2f} {row['p90_ms']:8.2f} {row['p99_ms']:8.2f} {row['mean_ms']:8.2f}")
    print(f"ratio p50 {result['ratio_p50']:.2f}x, p99 {result['ratio_p99']:.2f}x of the floor")
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())

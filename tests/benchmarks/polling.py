"""Polling designs next to ours, in one run: how long after a decision does the agent learn of it?

Other approval tools make the waiting agent poll for the decision: HumanLayer's SDK every 3 s, AG2's Slack reply
tool every 5 s (tutorial code too). Here every pending approval has three waiters at once:

* ours: the future `input_func` awaits, resolved by the owner worker's subscription;
* poll 3 s and poll 5 s: a loop that reads the approval's status from the same Redis every N seconds (starting when
  the approval is created, as those SDKs start polling when they make the request).

A reviewer clicks Approve (signed `block_actions` to the real Bolt app) at a random time after the approval was
created. Added latency = when the waiter learned of the decision - when the decision was committed (`decided_at`,
stamped by the worker just before the atomic decide step). All approvals wait concurrently, so the run is bounded by
`--window` + the slowest poll interval. Polling here is a Redis read on loopback, cheaper than those SDKs' HTTPS
calls, so the pollers' figures are a lower bound for them.

    python tests/benchmarks/polling.py [--decisions 20] [--window 10] [--seed 1] [--out FILE]
    python tests/benchmarks/polling.py --small      # CI: 8 decisions in a 2 s window
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from autogen_core import CancellationToken

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.store import connect
from bot.store.connection import aw as _aw
from tests.benchmarks.common import (
    Proc,
    click_body,
    fire,
    machine_info,
    new_approval,
    realistic_checkpoint,
    sign,
    start_redis,
    stop_redis,
    summary_ms,
    worker_env,
    write_json,
)
from tests.conftest import Worker, start_worker

INTERVALS = {"poll_3s": 3.0, "poll_5s": 5.0}


async def measure(decisions: int, window: float, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    log_dir = Path(tempfile.mkdtemp(prefix="bench-poll-"))
    redis_server = start_redis()
    procs: list[Proc] = []
    worker: Worker | None = None
    rows: list[dict[str, Any]] = []
    try:
        slack = await Proc.start("slack", {"kind": "standin"}, log_dir=log_dir)
        procs.append(slack)
        worker = await start_worker(worker_env(api_url=str(slack.info["api_url"]), redis_url=redis_server.url))
        services = worker.services
        events_url = worker.url + "/slack/events"
        checkpoint, proposal = await realistic_checkpoint()
        poll_redis = connect(redis_server.url)

        async def ours(future: asyncio.Future[Any]) -> float:
            token = CancellationToken()  # awaited as `ApprovalService.ask` awaits it
            token.link_future(future)
            await future
            return time.time()

        async def poller(key: str, every: float) -> tuple[float, int]:
            polls = 0
            while True:
                polls += 1
                if await _aw(poll_redis.hget(key, "status")) != "pending":
                    return time.time(), polls
                await asyncio.sleep(every)

        async def one(http: aiohttp.ClientSession, delay: float) -> dict[str, Any]:
            approval = new_approval(services.worker_id, proposal=proposal)
            future = services.waiter.expect(approval.id)
            await services.store.approvals.create(approval, checkpoint=checkpoint)
            channel, ts = await services.cards.post(approval)
            await services.store.approvals.attach_card(approval.id, channel=channel, ts=ts)
            key = services.store.keys.approval(approval.id)
            waiters = {"ours": asyncio.create_task(ours(future))}
            pollers = {name: asyncio.create_task(poller(key, every)) for name, every in INTERVALS.items()}
            await asyncio.sleep(delay)
            body = click_body(approval.id, channel, ts)
            clicked = time.time()
            result = await fire(http, events_url, body, sign(body))
            assert result.status == 200, result
            learned = {"ours": await waiters["ours"]}
            polls = {}
            for name, task in pollers.items():
                learned[name], polls[name] = await task
            decided = await services.store.approvals.get(approval.id)
            assert decided is not None and decided.status == "approved"
            return {
                "delay_s": delay,
                "clicked": clicked,
                "decided_at": decided.decided_at,
                "added_s": {name: at - decided.decided_at for name, at in learned.items()},
                "from_click_s": {name: at - clicked for name, at in learned.items()},
                "polls": polls,
            }

        async with aiohttp.ClientSession() as http:
            delays = [rng.uniform(0.2, window) for _ in range(decisions)]
            rows = list(await asyncio.gather(*(one(http, delay) for delay in delays)))
        await services.background.drain()
        await poll_redis.aclose()
    finally:
        if worker is not None:
            await worker.stop()
        for proc in procs:
            await proc.stop()
        stop_redis(redis_server)
    designs = ["ours", *INTERVALS]
    table: dict[str, dict[str, Any]] = {}
    for name in designs:
        added = [r["added_s"][name] for r in rows]
        table[name] = {
            "added": summary_ms(added),
            "from_click": summary_ms([r["from_click_s"][name] for r in rows]),
            "reads_per_decision": statistics.fmean(r["polls"].get(name, 0) for r in rows),
            "expected_mean_ms": INTERVALS[name] * 500 if name in INTERVALS else None,
        }
    ours_mean = table["ours"]["added"]["mean_ms"]
    return {
        "benchmark": "polling",
        "decisions": decisions,
        "window_s": window,
        "seed": seed,
        "machine": machine_info(),
        "designs": table,
        "mean_added_vs_ours": {name: table[name]["added"]["mean_ms"] / ours_mean for name in INTERVALS},
        "samples_ms": {name: [round(r["added_s"][name] * 1000, 4) for r in rows] for name in designs},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=20)
    parser.add_argument("--window", type=float, default=10.0, help="clicks come at random within this many seconds")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--small", action="store_true", help="CI size: 8 decisions in a 2 s window")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    decisions, window = (8, 2.0) if args.small else (args.decisions, args.window)
    result = asyncio.run(measure(decisions, window, args.seed))
    print(json.dumps({k: v for k, v in result.items() if k != "samples_ms"}, indent=2))
    write_json(result, args.out)
    print(f"\ndecision -> agent learns of it ({decisions} decisions, clicks at random in {window:.0f} s)")
    print(f"{'':9} {'mean ms':>9} {'p50 ms':>9} {'max ms':>9} {'reads/decision':>15}")
    for name, row in result["designs"].items():
        added = row["added"]
        print(
            f"{name:9} {added['mean_ms']:9.2f} {added['p50_ms']:9.2f} {added['max_ms']:9.2f}"
            f" {row['reads_per_decision']:15.1f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())

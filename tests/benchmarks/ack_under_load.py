"""Ack under load: 200 reviewers click Approve at once, each on a different pending approval.

A real bot worker (another process: the Bolt app over aiohttp, logging at INFO like `python -m bot`) owns 200 pending
approvals (each with a real ~3 KB checkpoint and a card posted to the Slack stand-in, awaited by its own task). This
process fires the 200 signed `block_actions` POSTs at the same instant and times each HTTP 200 from that instant
(`from_burst`, the goal's figure) and from when its own request started (`own`). Then it checks that every
awaiting task resumed with `approved`, every card was updated, and nothing failed. Repeated for `--bursts` bursts on
fresh approvals; the first burst also opens the 200 connections.

With `--workers 2` the clicks alternate between two workers (half of them reach the worker that does not own the
approval). CPU seconds used by each process during the bursts are reported too.

    python tests/benchmarks/ack_under_load.py [--reviewers 200] [--bursts 10] [--workers 1|2] [--out FILE]
    python tests/benchmarks/ack_under_load.py --small      # CI: 2 bursts of 50 clicks
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

from tests.benchmarks.common import (
    Proc,
    click_all,
    click_body,
    machine_info,
    proc_cpu_seconds,
    realistic_checkpoint,
    settled_counts,
    start_redis,
    stop_redis,
    summary_ms,
    write_json,
)


async def measure(reviewers: int, bursts: int, workers: int) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-ack-"))
    redis_server = start_redis()
    procs: list[Proc] = []
    checkpoint, proposal = await realistic_checkpoint()
    from_burst: list[float] = []
    own: list[float] = []
    per_burst: list[dict[str, Any]] = []
    errors: list[str] = []
    try:
        slack = await Proc.start("slack", {"kind": "standin"}, log_dir=log_dir)
        procs.append(slack)
        options = {"redis_url": redis_server.url, "api_url": slack.info["api_url"]}
        owner = await Proc.start("worker", options, log_dir=log_dir)
        procs.append(owner)
        urls = [str(owner.info["events_url"])]
        if workers > 1:
            other = await Proc.start("worker", options, log_dir=log_dir)
            procs.append(other)
            urls.append(str(other.info["events_url"]))
        pids = {p.role + str(i): p.pid for i, p in enumerate(procs)} | {"redis": redis_server.process.pid}
        pids["load_generator"] = os.getpid()
        cpu = dict.fromkeys(pids, 0.0)  # CPU seconds each process used from each burst until all agents resumed
        connector = aiohttp.TCPConnector(limit=0)  # no client-side queue: all 200 requests leave at once
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=30)) as http:
            for burst in range(bursts):
                await owner.call(http, "/reset", {})
                prepared = await owner.call(
                    http,
                    "/prepare",
                    {"n": reviewers, "mode": "expect", "checkpoint": checkpoint, "proposal": proposal},
                )
                clicks = [
                    (urls[i % len(urls)], click_body(approval_id, channel, ts))
                    for i, (approval_id, channel, ts) in enumerate(prepared["approvals"])
                ]
                await asyncio.sleep(0.2)  # let the workers go idle
                cpu_before = {name: proc_cpu_seconds(pid) for name, pid in pids.items()}
                wall = time.time()
                start = time.perf_counter()
                results = await click_all(http, clicks)
                waited = await owner.call(http, "/wait", {"timeout": 30})
                for name, pid in pids.items():
                    cpu[name] += proc_cpu_seconds(pid) - cpu_before[name]
                burst_from = [r.done - start for r in results]
                burst_own = [r.done - r.started for r in results]
                failed = [f"HTTP {r.status} {r.error}" for r in results if r.status != 200]
                failed += [f"never resumed: {approval_id}" for approval_id in waited["missing"]]
                wrong = {k: v for k, v in waited["outcomes"].items() if k != "approved"}
                if wrong:
                    failed.append(f"outcomes {wrong}")
                errors += failed
                resumed = [t - wall for t in waited["resolved"].values()]
                from_burst += burst_from
                own += burst_own
                per_burst.append(
                    {
                        "burst": burst,
                        "ack_from_burst": summary_ms(burst_from),
                        "all_resumed_ms": max(resumed) * 1000 if resumed else None,
                        "errors": len(failed),
                    }
                )
            calls = await settled_counts(slack, http)
    finally:
        for proc in procs:
            await proc.stop()
        stop_redis(redis_server)
    warm = [x for b in per_burst[1:] for x in [b["ack_from_burst"]["p99_ms"]]]
    overall = summary_ms(from_burst)
    return {
        "benchmark": "ack_under_load",
        "reviewers": reviewers,
        "bursts": bursts,
        "workers": workers,
        "machine": machine_info(),
        "ack_from_burst": overall,
        "ack_own_request": summary_ms(own),
        "p99_per_burst_ms": [b["ack_from_burst"]["p99_ms"] for b in per_burst],
        "median_warm_burst_p99_ms": sorted(warm)[len(warm) // 2] if warm else None,
        "all_resumed_ms_per_burst": [b["all_resumed_ms"] for b in per_burst],
        "errors": len(errors),
        "error_examples": errors[:5],
        "slack_calls": calls,
        "card_updates_per_decision": calls.get("chat.update", 0) / (reviewers * bursts),
        "cpu_ms_per_click": {name: round(seconds * 1000 / (reviewers * bursts), 3) for name, seconds in cpu.items()},
        "goals": {"p99_under_100ms": overall["p99_ms"] < 100.0, "zero_errors": not errors},
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reviewers", type=int, default=200)
    parser.add_argument("--bursts", type=int, default=10)
    parser.add_argument("--workers", type=int, choices=(1, 2), default=1)
    parser.add_argument("--small", action="store_true", help="CI size: 2 bursts of 50 clicks")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.small:
        args.reviewers, args.bursts = 50, 2
    result = asyncio.run(measure(args.reviewers, args.bursts, args.workers))
    print(json.dumps(result, indent=2))
    write_json(result, args.out)
    row = result["ack_from_burst"]
    print(f"\n{args.reviewers} clicks at once x {result['bursts']} bursts, {args.workers} worker(s)")
    print(
        f"HTTP 200 after (from the burst): p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f}, max {row['max_ms']:.1f}"
    )
    print(f"per burst p99: {', '.join(f'{x:.1f}' for x in result['p99_per_burst_ms'])} ms")
    print(f"every agent resumed after: {', '.join(f'{x:.0f}' for x in result['all_resumed_ms_per_burst'])} ms")
    print(f"errors: {result['errors']}; chat.update per decision: {result['card_updates_per_decision']:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

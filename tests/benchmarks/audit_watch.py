"""The audit watcher's cost (#67): its CPU per 10,000 entries, and that the click path is unchanged while it watches.

Real parts: a throwaway redis-server; the store as a worker builds it; a signing key made for the run; the checkpoint
writer and the watcher a worker runs (bot/audit/checkpoints.py, bot/audit/watch.py), alerts going nowhere.

1. CPU: a log of `--entries` entries written through the append step and checkpointed as it goes (1,000 entries a
   checkpoint); then the watcher's full look (the whole log walked and verified, as every AUDIT_WATCH_FULL) and its
   incremental look (after `--more` new entries, as every AUDIT_WATCH_INTERVAL), `--repeat` times each. Reported:
   this process's CPU seconds (time.process_time: the hashing and verifying are the worker's) per 10,000 entries,
   medians.
2. The click path: the decide step (`Approvals.decide`, what a click on Approve runs, writing its audit entry) one
   at a time, in two interleaved series on one event loop with the checkpoint writer running in both: with the
   watcher looking every second (incremental looks over what the clicks wrote) and without it. Reported: each
   series' median mean round trip (ms) and their ratio (target: within 1.10x).

Nothing here asserts on time.

    python tests/benchmarks/audit_watch.py [--entries 100000] [--more 10000] [--clicks 300] [--rounds 5] [--out F]
    python tests/benchmarks/audit_watch.py --small     # CI: 5,000 entries, 1,000 more, 3 rounds of 100 clicks
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

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.audit.checkpoints import AuditCheckpoints
from bot.audit.watch import Alerter, AuditWatch
from bot.core.metrics import Metrics
from bot.core.signing import SigningKeys
from bot.store import Store, connect
from tests.benchmarks.audit_chain import fill
from tests.benchmarks.common import interleaved, machine_info, start_redis, stop_redis, write_json
from tests.support.audit_log import keys_file
from tests.support.records import approval

RETENTION = 90 * 86400


def watcher(store: Store, keys: SigningKeys, *, full_every: float, interval: float = 1.0) -> AuditWatch:
    """The watcher as a worker builds it, its alerts going to the metrics only."""
    metrics = Metrics()
    alerter = Alerter(metrics, post=None, escape=lambda text: text, url="", signed=lambda body: {}, worker="bench")
    return AuditWatch(store, keys, alerter, metrics, worker="bench", interval=interval, full_every=full_every,
                      stalled=3600, retention=RETENTION)


async def cpu_of_look(watch: AuditWatch) -> float:
    started = time.process_time()
    found = await watch.look()
    assert found == [], found  # (the log is intact: a finding would be a bug here)
    return time.process_time() - started


async def measure_cpu(store: Store, keys: SigningKeys, entries: int, more: int, repeat: int) -> dict[str, Any]:
    writer = AuditCheckpoints(store, keys, worker="bench", every=1000, interval=0, retention=RETENTION)
    await fill(store, entries, writer)
    full = watcher(store, keys, full_every=0)
    fulls = [await cpu_of_look(full) for _ in range(repeat)]
    incremental: list[float] = []
    step = watcher(store, keys, full_every=10 * RETENTION)
    for _ in range(repeat):
        await fill(store, more, writer)
        incremental.append(await cpu_of_look(step))
    full_cpu, step_cpu = statistics.median(fulls), statistics.median(incremental)
    return {"entries": entries, "more": more, "repeat": repeat,
            "full_look_cpu_s": full_cpu, "full_cpu_s_per_10k": full_cpu / entries * 10_000,
            "incremental_look_cpu_s": step_cpu, "incremental_cpu_s_per_10k": step_cpu / more * 10_000,
            "runs_cpu_s": {"full": fulls, "incremental": incremental}}


async def measure_clicks(store: Store, keys: SigningKeys, clicks: int, rounds: int) -> dict[str, Any]:
    writer = AuditCheckpoints(store, keys, worker="bench", every=1000, interval=1, retention=RETENTION)
    await writer.start()
    watch = watcher(store, keys, full_every=3600)
    made = 0

    async def decided() -> float:
        nonlocal made
        ids = [f"bench-{made + n:07d}-w" for n in range(clicks)]
        made += clicks
        for approval_id in ids:
            await store.approvals.create(approval(approval_id))
        started = time.perf_counter()
        for approval_id in ids:
            await store.approvals.decide(approval_id, outcome="approved", by="U0BOB")
        return (time.perf_counter() - started) / clicks

    async def watched() -> float:
        await watch.start()
        try:
            return await decided()
        finally:
            await watch.stop()

    try:
        series = await interleaved({"watched": watched, "unwatched": decided}, rounds, warmup=1)
    finally:
        await writer.stop()
    with_ms = statistics.median(series["watched"]) * 1e3
    without_ms = statistics.median(series["unwatched"]) * 1e3
    return {"clicks_per_round": clicks, "rounds": rounds, "decide_ms_watched": with_ms,
            "decide_ms_unwatched": without_ms, "ratio_watched_to_unwatched": with_ms / without_ms,
            "runs_ms": {name: [v * 1e3 for v in values] for name, values in series.items()}}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    server = start_redis()
    redis = connect(server.url)
    store = Store(redis)
    try:
        with tempfile.TemporaryDirectory(prefix="watch-bench-") as folder:
            keys = SigningKeys.from_file(keys_file(Path(folder) / "keys.json"))
            cpu = await measure_cpu(store, keys, args.entries, args.more, args.repeat)
            await redis.flushdb()
            clicks = await measure_clicks(store, keys, args.clicks, args.rounds)
    finally:
        await redis.aclose()
        stop_redis(server)
    return {"benchmark": "audit_watch", "machine": machine_info(), "cpu": cpu, "click_path": clicks}


def print_summary(result: dict[str, Any]) -> None:
    cpu, click = result["cpu"], result["click_path"]
    print(f"watcher CPU per 10,000 entries: full look {cpu['full_cpu_s_per_10k']:.3f} s, incremental look"
          f" {cpu['incremental_cpu_s_per_10k']:.3f} s ({cpu['entries']:,} entries, {cpu['more']:,} more)")
    print(f"click path (decide step): {click['decide_ms_watched']:.3f} ms watched, {click['decide_ms_unwatched']:.3f}"
          f" ms unwatched, ratio {click['ratio_watched_to_unwatched']:.2f}x (target within 1.10x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000, help="audit entries in the log the full look walks")
    parser.add_argument("--more", type=int, default=10_000, help="new entries each incremental look verifies")
    parser.add_argument("--repeat", type=int, default=3, help="looks of each kind (medians)")
    parser.add_argument("--clicks", type=int, default=300, help="decide steps per series per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the click series")
    parser.add_argument("--small", action="store_true", help="CI size: 5,000 entries, 1,000 more, 3 x 100 clicks")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    if args.small:
        args.entries, args.more, args.clicks, args.rounds = 5000, 1000, 100, 3
    result = asyncio.run(measure(args))
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2, default=str)[:4000])
    print_summary(result)
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

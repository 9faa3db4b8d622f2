"""The audit watcher's cost (#67): its CPU per 10,000 entries, and that the click path is unchanged while it watches.

Real parts: a throwaway redis-server; the store as a worker builds it; a signing key made for the run; the checkpoint
writer and the watcher a worker runs (bot/audit/checkpoints.py, bot/audit/watch.py), alerts going nowhere.

1. CPU: a log of `--entries` entries written through the append step and checkpointed as it goes (1,000 entries a
   checkpoint); then the watcher's full look (the whole log walked and verified, as every AUDIT_WATCH_FULL) and its
   incremental look (after `--more` new entries, as every AUDIT_WATCH_INTERVAL), `--repeat` times each. Reported:
   this process's CPU seconds (time.process_time: the hashing and verifying are the worker's) per 10,000 entries,
   medians. Then the incremental look's cost as the log grows (`--growth` steps, each adding `--entries` entries
   before `--more` new ones are looked at): flat per look, not growing with the log (the look reads only the
   checkpoints from where it stopped), said as the ratio of the last step's to the first's.
2. The click path: the decide step (`Approvals.decide`, what a click on Approve runs, writing its audit entry) one
   at a time, with the checkpoint writer running throughout: `--series` series of `--rounds` rounds, each round
   running in a rotated order the clicks with the watcher looking every second (incremental looks over what the
   clicks wrote), without it, and without it again (an A/A pair: what noise alone makes of two identical runs).
   Each round gives a paired ratio (watched / unwatched, run back to back in that round) and an A/A ratio; each
   series its median ratios. Reported: the median of the series' medians with their spread (lowest to highest
   series, and the interquartile range of every round's ratio), beside the A/A ratio's: the watcher costs the click
   path something only where the A/B spread sits apart from the A/A one (target: within 1.10x).

Nothing here asserts on time.

    python tests/benchmarks/audit_watch.py [--entries 100000] [--more 10000] [--growth 4] [--clicks 300]
                                           [--rounds 5] [--series 5] [--out F]
    python tests/benchmarks/audit_watch.py --small     # CI: 2,000 entries, 500 more, 2 series of 2 x 50 clicks
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


async def measure_cpu(store: Store, keys: SigningKeys, entries: int, more: int, repeat: int,
                      steps: int) -> dict[str, Any]:
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
            "runs_cpu_s": {"full": fulls, "incremental": incremental},
            "growth": await measure_growth(store, keys, writer, step, entries, more, repeat, steps)}


async def measure_growth(store: Store, keys: SigningKeys, writer: AuditCheckpoints, watch: AuditWatch,
                         entries: int, more: int, repeat: int, steps: int) -> dict[str, Any]:
    """The incremental look over `more` new entries, as the log grows by `entries` a step: its CPU per look and
    per 10,000 new entries at each size (medians of `repeat`), and the last step's over the first's."""
    rows: list[dict[str, Any]] = []
    for _ in range(steps):
        await fill(store, entries, writer)
        await cpu_of_look(watch)  # (caught up: the next look is over `more` new entries only)
        looks: list[float] = []
        for _ in range(repeat):
            await fill(store, more, writer)
            looks.append(await cpu_of_look(watch))
        cpu = statistics.median(looks)
        rows.append({"log_entries": await store.audit.counter() or 0,
                     "checkpoints": len(await store.audit.checkpoints()), "look_cpu_s": cpu,
                     "cpu_s_per_10k_new": cpu / more * 10_000, "runs_cpu_s": looks})
    return {"steps": rows, "last_over_first": rows[-1]["look_cpu_s"] / rows[0]["look_cpu_s"] if rows else 0.0}


async def measure_clicks(store: Store, keys: SigningKeys, clicks: int, rounds: int, series: int) -> dict[str, Any]:
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

    runs: list[dict[str, list[float]]] = []
    try:
        for number in range(series):
            runs.append(await interleaved({"watched": watched, "unwatched": decided, "unwatched_again": decided},
                                          rounds, warmup=1 if number == 0 else 0))
    finally:
        await writer.stop()
    return clicks_said(runs, clicks=clicks, rounds=rounds)


def spread(values: list[float]) -> dict[str, float]:
    """The median of `values`, their lowest and highest, and their interquartile range."""
    ordered = sorted(values)
    quartiles = statistics.quantiles(ordered, n=4, method="inclusive") if len(ordered) > 1 else ordered * 3
    return {"median": statistics.median(ordered), "low": ordered[0], "high": ordered[-1], "q1": quartiles[0],
            "q3": quartiles[2]}


def clicks_said(runs: list[dict[str, list[float]]], *, clicks: int, rounds: int) -> dict[str, Any]:
    """Each round's paired ratios (watched / unwatched: A/B; unwatched again / unwatched: A/A), each series'
    medians, and their spread: the A/B ratio is told from noise where it sits apart from the A/A one."""
    paired = [[w / u for w, u in zip(r["watched"], r["unwatched"], strict=True)] for r in runs]
    same = [[a / u for a, u in zip(r["unwatched_again"], r["unwatched"], strict=True)] for r in runs]
    series_ab = [statistics.median(p) for p in paired]
    series_aa = [statistics.median(p) for p in same]
    every_ab = [v for p in paired for v in p]
    every_aa = [v for p in same for v in p]
    ab, aa = spread(series_ab), spread(series_aa)
    rounds_ab, rounds_aa = spread(every_ab), spread(every_aa)
    apart = ab["low"] > aa["high"] or ab["high"] < aa["low"]
    return {"clicks_per_round": clicks, "rounds": rounds, "series": len(runs),
            "decide_ms_watched": statistics.median(v for r in runs for v in r["watched"]) * 1e3,
            "decide_ms_unwatched": statistics.median(v for r in runs for v in r["unwatched"]) * 1e3,
            "ratio_watched_to_unwatched": ab["median"], "ratio_series_spread": ab, "ratio_rounds_spread": rounds_ab,
            "aa_ratio": aa["median"], "aa_series_spread": aa, "aa_rounds_spread": rounds_aa,
            "told_from_noise": apart,
            "runs_ms": [{name: [v * 1e3 for v in values] for name, values in r.items()} for r in runs]}


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    server = start_redis()
    redis = connect(server.url)
    store = Store(redis)
    try:
        with tempfile.TemporaryDirectory(prefix="watch-bench-") as folder:
            keys = SigningKeys.from_file(keys_file(Path(folder) / "keys.json"))
            cpu = await measure_cpu(store, keys, args.entries, args.more, args.repeat, args.growth)
            await redis.flushdb()
            clicks = await measure_clicks(store, keys, args.clicks, args.rounds, args.series)
    finally:
        await redis.aclose()
        stop_redis(server)
    return {"benchmark": "audit_watch", "machine": machine_info(), "cpu": cpu, "click_path": clicks}


def print_summary(result: dict[str, Any]) -> None:
    cpu, click = result["cpu"], result["click_path"]
    print(f"watcher CPU per 10,000 entries: full look {cpu['full_cpu_s_per_10k']:.3f} s, incremental look"
          f" {cpu['incremental_cpu_s_per_10k']:.3f} s ({cpu['entries']:,} entries, {cpu['more']:,} more)")
    steps = cpu["growth"]["steps"]
    print("incremental look as the log grows: " + ", ".join(
        f"{row['log_entries']:,} entries ({row['checkpoints']} checkpoints) {row['look_cpu_s'] * 1e3:.0f} ms"
        for row in steps) + f"; last over first {cpu['growth']['last_over_first']:.2f}x")
    ab, aa = click["ratio_series_spread"], click["aa_series_spread"]
    print(f"click path (decide step): {click['decide_ms_watched']:.3f} ms watched, {click['decide_ms_unwatched']:.3f}"
          f" ms unwatched; ratio {ab['median']:.2f}x (series {ab['low']:.2f}-{ab['high']:.2f}, rounds' IQR"
          f" {click['ratio_rounds_spread']['q1']:.2f}-{click['ratio_rounds_spread']['q3']:.2f}) against A/A"
          f" {aa['median']:.2f}x (series {aa['low']:.2f}-{aa['high']:.2f}, rounds' IQR"
          f" {click['aa_rounds_spread']['q1']:.2f}-{click['aa_rounds_spread']['q3']:.2f});"
          f" {'told apart from' if click['told_from_noise'] else 'within'} the noise (target within 1.10x)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000, help="audit entries in the log the full look walks")
    parser.add_argument("--more", type=int, default=10_000, help="new entries each incremental look verifies")
    parser.add_argument("--repeat", type=int, default=3, help="looks of each kind (medians)")
    parser.add_argument("--clicks", type=int, default=300, help="decide steps per series per round")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of each click series")
    parser.add_argument("--series", type=int, default=5, help="click series (their medians, and the spread)")
    parser.add_argument("--growth", type=int, default=4, help="steps of the log's growth (each --entries more)")
    parser.add_argument("--small", action="store_true", help="CI size: 2,000 entries, 500 more, 2 growth steps,"
                        " 2 series of 2 x 50 clicks, each look once")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    if args.small:
        args.entries, args.more, args.clicks, args.rounds, args.series, args.growth = 2000, 500, 50, 2, 2, 2
        args.repeat = 1
    result = asyncio.run(measure(args))
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2, default=str)[:4000])
    print_summary(result)
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The audit log's cost (#44 "Speed"): an append against a plain XADD, entries a second from two workers into one
Redis, and `audit verify` over 100,000 entries, each with its floor measured in the same run.

Real parts: a throwaway redis-server; the store as a worker builds it; a signing key made for the run; the checkpoint
writer a worker runs (bot/audit/checkpoints.py).

1. Append, per entry: `AuditLog.append` (the Lua step that numbers the entry: one INCR, one XADD) against the
   floor, a plain `XADD` of the same fields, one entry at a time, both series interleaved in a rotating order,
   `--rounds` rounds of `--appends` each. Reported: the median over rounds of each series' mean round trip (us),
   their ratio (target: within 1.5x), and Redis's own CPU per call (`INFO commandstats`).
2. Throughput: two worker processes, each appending `--concurrency` at a time for `--seconds`, while one of them
   runs the checkpoint writer (every 5 s or 1,000 entries, as deployed); the same with plain XADDs as the floor,
   one command per entry (the appends go by group commit: one script call per batch of what queued meanwhile).
   Reported: entries a second into the one Redis (target: at least 20,000) and the ratio.
3. Verify: a log of `--entries` entries written through the append step, checkpointed by the writer as it goes
   (1,000 entries a checkpoint, AUDIT_CHECKPOINT_EVERY's default); then `walk` (what `python -m bot audit verify`
   runs) with the key, `--repeat` times, against the floor: reading the same entries in the same batches and
   nothing else. Reported: medians (s), entries/s (target: at least 17,000, the old chain's), the ratio.

Nothing here asserts on time; it exits 1 only if verify does not find the log intact.

    python tests/benchmarks/audit_chain.py [--entries 100000] [--rounds 5] [--appends 2000] [--repeat 3] [--out F]
    python tests/benchmarks/audit_chain.py --small     # CI: 2,000 entries, 2 rounds of 100 appends, 1 s, once
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.audit.checkpoints import AuditCheckpoints
from bot.audit.verify import BATCH, walk
from bot.core.signing import SigningKeys
from bot.store import Store, connect
from tests.benchmarks.common import interleaved, machine_info, start_redis, stop_redis, write_json
from tests.support.audit_log import keys_file, verifier

# a decision's entry as lib/decide.lua writes it (its usual fields and sizes)
FIELDS: dict[str, str] = {
    "at": "1795000000.123456", "approval": "a1b2c3d4-5e6f-4a1b-8c9d-0e1f2a3b4c5d", "run": "r8f3k2m1",
    "card_channel": "C0APPROVALS", "origin_channel": "C0SALES", "event": "decision", "outcome": "approved",
    "by": "U0BOB", "for": "", "feedback": "fine, but keep the discount under 10% next time", "latency_ms": "8421",
}
ENTRY = {k: v for k, v in FIELDS.items() if k != "event"}


async def commandstats(store: Store) -> dict[str, dict[str, float]]:
    info = await store.redis.info("commandstats")
    return {name: dict(value) for name, value in info.items() if isinstance(value, dict)}


async def measure_append(store: Store, rounds: int, appends: int) -> dict[str, Any]:
    plain_key = store.keys.prefix + ":bench:plain"

    async def numbered() -> float:
        started = time.perf_counter()
        for _ in range(appends):
            await store.audit.append("decision", **ENTRY)
        return (time.perf_counter() - started) / appends

    async def plain() -> float:
        started = time.perf_counter()
        for _ in range(appends):
            await store.redis.xadd(plain_key, FIELDS)  # type: ignore[arg-type]
        return (time.perf_counter() - started) / appends

    await store.redis.config_resetstat()
    series = await interleaved({"append": numbered, "plain": plain}, rounds, warmup=1)
    stats = await commandstats(store)
    append_us = statistics.median(series["append"]) * 1e6
    plain_us = statistics.median(series["plain"]) * 1e6
    await store.redis.delete(store.keys.audit, store.keys.audit_seq, store.keys.audit_shards, plain_key)
    return {
        "rounds": rounds, "appends_per_round": appends,
        "append_us": append_us, "plain_xadd_us": plain_us, "ratio_append_to_plain": append_us / plain_us,
        "added_us": append_us - plain_us,
        "redis_usec_per_call": {"evalsha (append)": stats.get("cmdstat_evalsha", {}).get("usec_per_call"),
                                "xadd (plain)": stats.get("cmdstat_xadd", {}).get("usec_per_call")},
        "runs_us": {name: [v * 1e6 for v in values] for name, values in series.items()},
    }


def _appender(url: str, kind: str, seconds: float, concurrency: int, start_at: float, keys: str, out: Any) -> None:
    out.put(asyncio.run(_append_for(url, kind, seconds, concurrency, start_at, keys)))


async def _append_for(url: str, kind: str, seconds: float, concurrency: int, start_at: float,
                      keys: str) -> tuple[int, float, float]:
    """One worker process: `concurrency` appenders for `seconds` from `start_at` (wall clock, shared by both
    processes); with `keys`, this process also runs the checkpoint writer, as a deployed worker does."""
    redis = connect(url)
    store = Store(redis)
    writer = None
    if keys:
        writer = AuditCheckpoints(store, SigningKeys.from_file(Path(keys)), worker="bench", every=1000, interval=5,
                                  retention=90 * 86400)
        await writer.start()
    plain_key = store.keys.prefix + ":bench:plain"
    count = 0

    async def one() -> None:
        nonlocal count
        while time.time() < end:
            if kind == "append":
                await store.audit.append("decision", **ENTRY)
            else:
                await store.redis.xadd(plain_key, FIELDS)  # type: ignore[arg-type]
            count += 1

    await asyncio.sleep(max(0.0, start_at - time.time()))  # both processes start together (a benchmark, not a test)
    began = time.time()
    end = began + seconds
    await asyncio.gather(*(one() for _ in range(concurrency)))
    ended = time.time()
    if writer is not None:
        await writer.stop()
    await redis.aclose()
    return count, began, ended


def measure_throughput(url: str, seconds: float, concurrency: int, keys: Path, start: str) -> dict[str, Any]:
    """`start`: how the worker processes start, `spawn` (each imports this script) or, in small, `forkserver` (one
    server imports it, the four are forked from it)."""
    context = multiprocessing.get_context(start)
    result: dict[str, Any] = {"workers": 2, "seconds": seconds, "concurrency_per_worker": concurrency}
    for kind in ("plain", "append"):
        queue = context.Queue()
        start_at = time.time() + 3.0
        procs = [context.Process(target=_appender, args=(url, kind, seconds, concurrency, start_at,
                                                          str(keys) if kind == "append" and n == 0 else "", queue))
                 for n in range(2)]
        for proc in procs:
            proc.start()
        runs = [queue.get(timeout=seconds + 120) for _ in procs]
        for proc in procs:
            proc.join()
        total = sum(count for count, _, _ in runs)
        wall = max(e for _, _, e in runs) - min(b for _, b, _ in runs)
        result[f"{kind}_per_s"] = total / wall
    result["ratio_append_to_plain"] = result["plain_per_s"] / result["append_per_s"]
    return result


async def fill(store: Store, entries: int, writer: AuditCheckpoints) -> int:
    written = 0
    while written < entries:
        batch = min(1000, entries - written)
        await asyncio.gather(*(store.audit.append("decision", **ENTRY) for _ in range(batch)))
        written += batch
        while await writer.write_due():
            pass
    return written


async def time_floor(store: Store) -> float:
    started = time.perf_counter()
    lower = "-"
    while batch := await store.audit.chained(lower=lower, count=BATCH):
        if len(batch) < BATCH:
            break
        lower = "(" + batch[-1][0]
    return time.perf_counter() - started


async def measure(args: argparse.Namespace) -> dict[str, Any]:
    server = start_redis()
    redis = connect(server.url)
    store = Store(redis)
    try:
        with tempfile.TemporaryDirectory(prefix="audit-bench-") as folder:
            path = keys_file(Path(folder) / "keys.json")
            keys = SigningKeys.from_file(path)
            append = await measure_append(store, args.rounds, args.appends)
            start = "forkserver" if args.small else "spawn"
            throughput = await asyncio.to_thread(
                measure_throughput, server.url, args.seconds, args.concurrency, path, start
            )
            await redis.flushdb()
            writer = AuditCheckpoints(store, keys, worker="bench", every=1000, interval=0, retention=90 * 86400)
            started = time.perf_counter()
            written = await fill(store, args.entries, writer)
            fill_s = time.perf_counter() - started
            check = verifier(keys)
            floors, verifies, said, code = [], [], "", 0
            for i in range(args.repeat):
                for what in (("floor", "verify") if i % 2 == 0 else ("verify", "floor")):
                    if what == "floor":
                        floors.append(await time_floor(store))
                    else:
                        started = time.perf_counter()
                        said, code = await walk(store, None, check)
                        verifies.append(time.perf_counter() - started)
            checkpoints = len(await store.audit.checkpoints())
    finally:
        await redis.aclose()
        stop_redis(server)
    verify_s, floor_s = statistics.median(verifies), statistics.median(floors)
    return {
        "benchmark": "audit_chain",
        "machine": machine_info(),
        "append": append,
        "throughput": throughput,
        "verify": {
            "entries": written, "checkpoints": checkpoints, "fill_s": fill_s, "repeat": args.repeat,
            "verify_s": verify_s, "floor_read_s": floor_s, "entries_per_s": written / verify_s,
            "ratio_verify_to_floor": verify_s / floor_s, "runs_s": {"verify": verifies, "floor": floors},
            "exit_code": code, "said": said,
        },
    }


def print_summary(result: dict[str, Any]) -> None:
    a, t, v = result["append"], result["throughput"], result["verify"]
    print(f"\nappend, one entry at a time (median of {a['rounds']} rounds of {a['appends_per_round']}):")
    print(f"  append (Lua step)  {a['append_us']:7.1f} us   plain XADD {a['plain_xadd_us']:7.1f} us"
          f"   x{a['ratio_append_to_plain']:.2f} (+{a['added_us']:.1f} us)")
    print(f"  Redis CPU per call: {json.dumps(a['redis_usec_per_call'])}")
    print(f"two workers, {t['concurrency_per_worker']} at a time each, {t['seconds']} s (one signing checkpoints):")
    print(f"  append {t['append_per_s']:,.0f} entries/s   plain XADD {t['plain_per_s']:,.0f}/s"
          f"   x{t['ratio_append_to_plain']:.2f}")
    print(f"verify {v['entries']:,} entries, {v['checkpoints']} signed checkpoints (median of {v['repeat']}):")
    print(f"  verify {v['verify_s']:.2f} s ({v['entries_per_s']:,.0f} entries/s); floor (read only)"
          f" {v['floor_read_s']:.2f} s; x{v['ratio_verify_to_floor']:.2f} the floor")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000, help="audit entries verified")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the append series")
    parser.add_argument("--appends", type=int, default=2000, help="appends per series per round")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each two-worker throughput run")
    parser.add_argument("--concurrency", type=int, default=64, help="appends in flight per worker")
    parser.add_argument("--repeat", type=int, default=3, help="repeats of verify and its floor (medians)")
    parser.add_argument("--small", action="store_true", help="CI size: 2,000 entries, 2 x 100 appends, 1 s, once")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    if args.small:
        args.entries, args.rounds, args.appends, args.seconds, args.repeat = 2000, 2, 100, 1.0, 1
    result = asyncio.run(measure(args))
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2, default=str)[:4000])
    print_summary(result)
    write_json(result, args.out)
    return 0 if result["verify"]["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

"""The tamper-evident audit log (#38.4): what the chain costs per audit entry, and `audit verify` over 100,000 entries.

Measure (issue #38, part 4): "chain cost per audit entry, `audit verify` over 100,000 entries".

Real parts: a throwaway redis-server; the store as a worker builds it; a signing key made for the run.

1. Append, per entry: `AuditLog.append` (the chained Lua step: read the last entry, SHA-256 in Lua, XADD) against
   the floor, a plain `XADD` of the same fields with the same trimming (what `append` did before the chain), one
   entry at a time, both series interleaved in a rotating order, `--rounds` rounds of `--appends` each. Reported:
   the median over rounds of each series' mean round trip (us), their ratio, and Redis's own CPU per call
   (`INFO commandstats`: usec_per_call of EVALSHA and of XADD).
2. Verify: a log of `--entries` entries written through the chained step (concurrently: Redis runs them one at a
   time), with a signed checkpoint every 1,000 (bot/report/checkpoints.py, AUDIT_CHECKPOINT_EVERY's default);
   then `walk` (what `python -m bot audit verify` runs) with the key, `--repeat` times, against the floor: reading
   the same entries in the same batches and nothing else. Reported: medians (s), entries/s, the ratio.

Nothing here asserts on time; it exits 1 only if verify does not find the log intact.

    python tests/benchmarks/audit_chain.py [--entries 100000] [--rounds 5] [--appends 2000] [--repeat 3] [--out F]
    python tests/benchmarks/audit_chain.py --small     # CI: 5,000 entries, 3 rounds of 300 appends, 3 repeats
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

from bot.report.audit_verify import BATCH, walk
from bot.report.checkpoints import AuditCheckpoints
from bot.store import Store, connect
from tests.benchmarks.common import interleaved, machine_info, start_redis, stop_redis, write_json
from tests.support.audit_log import signing_keys, verifier

# a decision's entry as lib/decide.lua writes it (its usual fields and sizes)
FIELDS: dict[str, str] = {
    "at": "1795000000.123456", "approval": "a1b2c3d4-5e6f-4a1b-8c9d-0e1f2a3b4c5d", "run": "r8f3k2m1",
    "card_channel": "C0APPROVALS", "origin_channel": "C0SALES", "event": "decision", "outcome": "approved",
    "by": "U0BOB", "for": "", "feedback": "fine, but keep the discount under 10% next time", "latency_ms": "8421",
}


async def commandstats(store: Store) -> dict[str, dict[str, float]]:
    info = await store.redis.info("commandstats")
    return {name: dict(value) for name, value in info.items() if isinstance(value, dict)}


async def measure_append(store: Store, rounds: int, appends: int) -> dict[str, Any]:
    plain_key = store.keys.prefix + ":bench:plain"
    fields = {k: v for k, v in FIELDS.items() if k != "event"}

    async def chained() -> float:
        started = time.perf_counter()
        for _ in range(appends):
            await store.audit.append("decision", **fields)
        return (time.perf_counter() - started) / appends

    async def plain() -> float:
        started = time.perf_counter()
        for _ in range(appends):
            await store.redis.xadd(plain_key, FIELDS, minid=store.shared.audit_minid(), approximate=True)  # type: ignore[arg-type]
        return (time.perf_counter() - started) / appends

    await store.redis.config_resetstat()
    series = await interleaved({"chained": chained, "plain": plain}, rounds, warmup=1)
    stats = await commandstats(store)
    chained_us = statistics.median(series["chained"]) * 1e6
    plain_us = statistics.median(series["plain"]) * 1e6
    await store.redis.delete(store.keys.audit, plain_key)
    return {
        "rounds": rounds, "appends_per_round": appends,
        "chained_us": chained_us, "plain_xadd_us": plain_us, "ratio_chained_to_plain": chained_us / plain_us,
        "added_us": chained_us - plain_us,
        "redis_usec_per_call": {"evalsha (chained append)": stats.get("cmdstat_evalsha", {}).get("usec_per_call"),
                                "xadd (plain)": stats.get("cmdstat_xadd", {}).get("usec_per_call")},
        "runs_us": {name: [v * 1e6 for v in values] for name, values in series.items()},
    }


async def fill(store: Store, entries: int, writer: AuditCheckpoints) -> int:
    fields = {k: v for k, v in FIELDS.items() if k != "event"}
    written = 0
    while written < entries:
        batch = min(1000, entries - written)
        await asyncio.gather(*(store.audit.append("decision", **fields) for _ in range(batch)))
        written += batch
        await writer.write_due()
    return written


async def time_floor(store: Store) -> float:
    started = time.perf_counter()
    lower = "-"
    while batch := await store.audit.chained(lower=lower, count=BATCH):
        if len(batch) < BATCH:
            break
        lower = "(" + batch[-1][0]
    return time.perf_counter() - started


async def measure(entries: int, rounds: int, appends: int, repeat: int) -> dict[str, Any]:
    server = start_redis()
    redis = connect(server.url)
    store = Store(redis)
    try:
        append = await measure_append(store, rounds, appends)
        with tempfile.TemporaryDirectory(prefix="audit-bench-") as folder:
            keys = signing_keys(Path(folder) / "keys.json")
            writer = AuditCheckpoints(store, keys, every=1000, interval=10**9)
            started = time.perf_counter()
            written = await fill(store, entries, writer)
            fill_s = time.perf_counter() - started
            check = verifier(keys)
            floors, verifies, said, code = [], [], "", 0
            for i in range(repeat):
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
        "verify": {
            "entries": written, "checkpoints": checkpoints, "fill_s": fill_s, "repeat": repeat,
            "verify_s": verify_s, "floor_read_s": floor_s, "entries_per_s": written / verify_s,
            "ratio_verify_to_floor": verify_s / floor_s, "runs_s": {"verify": verifies, "floor": floors},
            "exit_code": code, "said": said,
        },
    }


def print_summary(result: dict[str, Any]) -> None:
    a, v = result["append"], result["verify"]
    print(f"\nappend, one entry at a time (median of {a['rounds']} rounds of {a['appends_per_round']}):")
    print(f"  chained (Lua step)  {a['chained_us']:7.1f} us   plain XADD {a['plain_xadd_us']:7.1f} us"
          f"   x{a['ratio_chained_to_plain']:.2f} (+{a['added_us']:.1f} us)")
    print(f"  Redis CPU per call: {json.dumps(a['redis_usec_per_call'])}")
    print(f"verify {v['entries']:,} entries, {v['checkpoints']} signed checkpoints (median of {v['repeat']}):")
    print(f"  verify {v['verify_s']:.2f} s ({v['entries_per_s']:,.0f} entries/s); floor (read only)"
          f" {v['floor_read_s']:.2f} s; x{v['ratio_verify_to_floor']:.2f} the floor")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000, help="audit entries verified")
    parser.add_argument("--rounds", type=int, default=5, help="rounds of the append series")
    parser.add_argument("--appends", type=int, default=2000, help="appends per series per round")
    parser.add_argument("--repeat", type=int, default=3, help="repeats of verify and its floor (medians)")
    parser.add_argument("--small", action="store_true", help="CI size: 5,000 entries, 3 x 300 appends, 3 repeats")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    if args.small:
        args.entries, args.rounds, args.appends, args.repeat = 5000, 3, 300, 3
    result = asyncio.run(measure(args.entries, args.rounds, args.appends, args.repeat))
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2, default=str)[:4000])
    print_summary(result)
    write_json(result, args.out)
    return 0 if result["verify"]["exit_code"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())

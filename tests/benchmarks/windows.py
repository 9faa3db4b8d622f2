"""A policy window's total as the policies read it (`Windows.totals`, lua/lib/windows.lua), with 100 to 100,000
calls in the window (one redis-server, this process as its client), side by side in the same run:

* count: a count window (`ZCOUNT`);
* sum: a sum window, read from its minute, hour and day buckets (the calls of `since`'s own minute, then at most
  59 + 23 + 91 bucket fields);
* sum_loop: the same sum window read as it was before the buckets (every call in the window read and added up in
  Lua: `LOOP`, the script of 24e5a2a), the floor this is measured against.

The calls are spread over the last 24 hours (a daily refund budget); each series reads `--reads` times, each
read's `since` at another place in its minute, hour and day (what a bucketed read costs depends on it), all
before the oldest call (every call counts in each). Reported
per series: Redis's own time per read (`INFO commandstats`, reset before each series: the time Redis is busy and
nothing else runs) and the client's round trip p50. A total read by both ways must agree, or it exits 1.

    python tests/benchmarks/windows.py [--calls 100,10000,100000] [--reads 200] [--out FILE]
    python tests/benchmarks/windows.py --small     # CI: 100 and 10,000 calls, 50 reads (~5 s)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.store import Store
from bot.store.connection import connect
from tests.benchmarks.common import machine_info, start_redis, stop_redis, write_json

DAY = 86400
LOOP = """local total = 0
for _, member in ipairs(redis.call('ZRANGEBYSCORE', KEYS[1], '(' .. ARGV[1], '+inf')) do
  total = total + (tonumber(string.match(member, ' (%-?%d+)$')) or 0)
end
return total"""


async def redis_usec_per_read(store: Store) -> float:
    """Redis's own time per script call since the last reset (EVALSHA and EVAL together)."""
    stats = await store.redis.info("commandstats")
    calls = usec = 0.0
    for name in ("cmdstat_evalsha", "cmdstat_eval"):
        if name in stats:
            calls += float(stats[name]["calls"])
            usec += float(stats[name]["usec"])
    return usec / calls if calls else 0.0


async def series(store: Store, read: Any, since: list[float]) -> dict[str, float]:
    """`read(since)` for each of `since` (a first read not counted: a sum window's buckets are made then)."""
    await read(since[0])
    await store.redis.config_resetstat()
    took = []
    for at in since:
        started = time.perf_counter()
        await read(at)
        took.append(time.perf_counter() - started)
    return {"redis_us_per_read": await redis_usec_per_read(store), "p50_ms": statistics.median(took) * 1000}


async def one_size(store: Store, loop: Any, calls: int, reads: int) -> dict[str, Any]:
    """The three series with `calls` in a window of the last 24 hours."""
    key, now = store.keys.window(f"bench:{calls}"), time.time()
    since = now - DAY
    members = {f"a-{i:07d} {100 + i % 900}": now - (i + 0.5) * DAY / calls for i in range(calls)}
    items = list(members.items())
    for start in range(0, calls, 10_000):
        await store.redis.zadd(key, dict(items[start:start + 10_000]))  # type: ignore[arg-type]
    expected = sum(100 + i % 900 for i in range(calls))
    sums = await store.windows.totals([key], [since], [False])
    looped = int(await loop(keys=[key], args=[repr(since)]))
    counted = await store.windows.totals([key], [since], [True])
    if sums != [expected] or looped != expected or counted != [calls]:
        raise SystemExit(f"{calls} calls: buckets {sums}, loop {looped}, count {counted}; expected {expected}")
    # each read's `since` a little earlier than the last, over a day: every call counts in each, and `since`
    # falls at every place in its minute, hour and day (a bucketed read costs more the further it is from the
    # next hour and day: at most 59 + 23 minute and hour buckets before the days)
    at = [since - k * DAY / reads for k in range(reads)]
    found = {
        "count": await series(store, lambda s: store.windows.totals([key], [s], [True]), at),
        "sum": await series(store, lambda s: store.windows.totals([key], [s], [False]), at),
        "sum_loop": await series(store, lambda s: loop(keys=[key], args=[repr(s)]), at),
    }
    found["sum / sum_loop redis time"] = found["sum"]["redis_us_per_read"] / found["sum_loop"]["redis_us_per_read"]
    await store.redis.delete(key, key + ":sums")
    return found


async def measure(sizes: list[int], reads: int) -> dict[str, Any]:
    server = start_redis()
    redis = connect(server.url)
    store = Store(redis)
    try:
        loop = redis.register_script(LOOP)
        results = {str(calls): await one_size(store, loop, calls, reads) for calls in sizes}
    finally:
        await redis.aclose()
        stop_redis(server)
    return {"benchmark": "windows", "machine": machine_info(), "reads": reads, "calls": results}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", default="100,10000,100000", help="calls in the window, comma-separated")
    parser.add_argument("--reads", type=int, default=200)
    parser.add_argument("--small", action="store_true", help="CI size: 100 and 10,000 calls, 50 reads")
    parser.add_argument("--out", type=Path, default=None)
    options = parser.parse_args()
    sizes = [100, 10_000] if options.small else [int(n) for n in options.calls.split(",")]
    result = asyncio.run(measure(sizes, 50 if options.small else options.reads))
    for calls, figures in result["calls"].items():
        for name in ("count", "sum", "sum_loop"):
            print(f"{calls:>7} calls  {name:9} redis {figures[name]['redis_us_per_read']:9.1f} us/read"
                  f"  round trip p50 {figures[name]['p50_ms']:7.3f} ms")
    print(json.dumps(result, indent=2))
    write_json(result, options.out)


if __name__ == "__main__":
    main()

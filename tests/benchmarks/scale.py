"""Scale: 10,000 pending approvals waiting in one worker; memory, clicks per second with 2 workers, timeouts.

Processes: redis-server, a Slack Web API stub (answers `ok` at once; the stand-in keeps and validates every message,
which is Slack's work, not ours, and would eat one of the two cores), worker A (owns every approval) and worker B.
Both workers are real (`tests.conftest.start_worker` in `procs.py`) and both run their deadline sweeper.

For each `--modes` entry, on fresh workers and an empty Redis:

1. memory: A creates `--approvals` pending approvals, each with a real `team.save_state()` checkpoint of the writer
   team after one draft (~3 KB, made with `bot.runs.teams.build_team` + `ReplayChatCompletionClient`) and a card
   posted to the stub.
   * mode `expect`: `store.approvals.create` + `cards.post` + `store.approvals.attach_card` + `waiter.expect`,
     one task per
     approval awaiting its future linked to a cancellation token (as `ApprovalService.ask` does).
   * mode `request_approval`: one task per approval running the real `RunManager.request_approval` (what
     `input_func` awaits), with its `ApprovalRequest` (which holds the checkpoint text while it waits).
   Reported: process RSS growth of A / approvals (after `gc.collect()`), Redis `used_memory` growth / approvals,
   and `MEMORY USAGE` of each key kind.
2. clicks: all of them approved by signed clicks, alternating between A and B (half cross-worker), at most
   `--concurrency` in flight; decisions/s = approvals / (last agent resumed - first click sent).
3. timeouts (mode `expect` only), for each of `--timeout-spreads` (default 10 s, i.e. 1,000 deadlines a second,
   and 0, all at the same instant): `--approvals` new approvals whose deadlines are spread over that many seconds;
   the sweepers of A and B time them out. Reported: `decided_at - deadline` (the sweeper stamps `decided_at` when
   its sweep starts) and `resumed - deadline` (when the code awaiting the approval in A ran again).

`--teams N` also starts N whole runs (`RunManager.start_run`, real writer teams with the replay model) on a fresh
worker and measures RSS per run waiting for its human, then approves them all.

    python tests/benchmarks/scale.py [--approvals 10000] [--modes expect,request_approval] [--teams 1000] [--out F]
    python tests/benchmarks/scale.py --small      # CI (that it runs): 100 approvals, 5 teams, spreads 1 s and 0,
                                                  # both modes on one set of processes (not fresh per mode)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.store import Store, connect
from tests.benchmarks.common import (
    DRAFT,
    Proc,
    RedisServer,
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
from tests.conftest import replay_config

KB = 1024.0


async def used_memory(redis: Redis) -> int:
    info = await redis.info("memory")
    return int(info["used_memory"])


async def key_sizes(redis: Redis, store: Store, approvals: Sequence[Sequence[str]]) -> dict[str, float]:
    """Mean `MEMORY USAGE` (bytes) of each per-approval key, over a sample of up to 200 approvals."""
    sample = list(approvals)[:: max(1, len(approvals) // 200)]
    sizes: dict[str, list[int]] = {"approval_hash": [], "approval_text": [], "checkpoint": []}
    for approval_id, _channel, _ts in sample:
        keys = {
            "approval_hash": store.keys.approval(approval_id),
            "approval_text": store.keys.texts(approval_id),  # its long texts, kept out of the hash
            "checkpoint": store.keys.checkpoint(approval_id),
        }
        for kind, key in keys.items():
            size = await redis.memory_usage(key, samples=0)
            if size is not None:
                sizes[kind].append(int(size))
    return {kind: statistics.fmean(values) for kind, values in sizes.items() if values}


async def shared_sizes(redis: Redis, store: Store) -> dict[str, int]:
    """`MEMORY USAGE` of the keys every approval adds an entry to (deadlines zset, audit stream)."""
    out: dict[str, int] = {}
    for name, key in (("deadlines_zset", store.keys.deadlines), ("audit_stream", store.keys.audit)):
        out[name] = int(await redis.memory_usage(key, samples=0) or 0)
    return out


class Cluster:
    """redis-server (shared), the Slack stub and workers A and B (fresh per phase)."""

    def __init__(self, redis_server: RedisServer, log_dir: Path, slack_kind: str) -> None:
        self.redis_server = redis_server
        self.log_dir = log_dir
        self.slack_kind = slack_kind
        self.procs: list[Proc] = []

    async def start(
        self, *, workers: int = 2, model_config: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        slack = await Proc.start("slack", {"kind": self.slack_kind}, log_dir=self.log_dir)
        self.procs.append(slack)
        options = {
            "redis_url": self.redis_server.url,
            "api_url": slack.info["api_url"],
            "model_config": model_config,
            "env": env or {},
        }
        for _ in range(workers):
            self.procs.append(await Proc.start("worker", options, log_dir=self.log_dir))

    @property
    def slack(self) -> Proc:
        return self.procs[0]

    @property
    def workers(self) -> list[Proc]:
        return self.procs[1:]

    async def stop(self) -> None:
        for proc in self.procs:
            await proc.stop()
        self.procs.clear()


async def clicks_phase(
    http: aiohttp.ClientSession, cluster: Cluster, approvals: Sequence[Sequence[str]], concurrency: int
) -> dict[str, Any]:
    owner = cluster.workers[0]
    urls = [str(w.info["events_url"]) for w in cluster.workers]
    clicks = [(urls[i % len(urls)], click_body(a, c, t)) for i, (a, c, t) in enumerate(approvals)]
    pids = {f"worker{i}": w.pid for i, w in enumerate(cluster.workers)} | {"slack": cluster.slack.pid}
    pids["redis"] = cluster.redis_server.process.pid
    cpu_before = {name: proc_cpu_seconds(pid) for name, pid in pids.items()}
    wall = time.time()
    results = await click_all(http, clicks, concurrency=concurrency)
    waited = await owner.call(http, "/wait", {"timeout": 120})
    cpu = {
        name: round((proc_cpu_seconds(pid) - cpu_before[name]) * 1000 / len(approvals), 3) for name, pid in pids.items()
    }
    resumed = sorted(waited["resolved"].values())
    elapsed = (resumed[-1] - wall) if resumed else float("nan")
    errors = [f"HTTP {r.status} {r.error}" for r in results if r.status != 200]
    errors += [f"never resumed: {x}" for x in waited["missing"]]
    return {
        "decisions": len(approvals),
        "workers": len(urls),
        "concurrency": concurrency,
        "seconds": elapsed,
        "decisions_per_s": len(resumed) / elapsed if resumed else 0.0,
        "ack": summary_ms([r.done - r.started for r in results]),
        "outcomes": waited["outcomes"],
        "errors": len(errors),
        "error_examples": errors[:5],
        "cpu_ms_per_decision": cpu,
    }


async def memory_phase(
    http: aiohttp.ClientSession,
    cluster: Cluster,
    redis: Redis,
    store: Store,
    *,
    n: int,
    mode: str,
    checkpoint: str,
    proposal: str,
) -> tuple[dict[str, Any], list[list[str]]]:
    owner = cluster.workers[0]
    await owner.call(http, "/gc", {})
    before = await owner.call(http, "/stats")
    redis_before = await used_memory(redis)
    shared_before = await shared_sizes(redis, store)
    prepared = await owner.call(
        http,
        "/prepare",
        {"n": n, "mode": mode, "checkpoint": checkpoint, "proposal": proposal, "concurrency": 32},
    )
    await owner.call(http, "/gc", {})
    after = await owner.call(http, "/stats")
    redis_after = await used_memory(redis)
    shared_after = await shared_sizes(redis, store)
    approvals: list[list[str]] = prepared["approvals"]
    per_key = await key_sizes(redis, store, approvals)
    return {
        "approvals": n,
        "mode": mode,
        "create_seconds": prepared["seconds"],
        "created_per_s": n / prepared["seconds"],
        "waiting_in_worker": after["waiting"],
        "checkpoint_bytes": len(checkpoint),
        "proposal_bytes": len(proposal),
        "rss_before_mb": before["rss"] / KB / KB,
        "rss_after_mb": after["rss"] / KB / KB,
        "rss_kb_per_approval": (after["rss"] - before["rss"]) / KB / n,
        "redis_kb_per_approval": (redis_after - redis_before) / KB / n,
        "redis_key_bytes": per_key,
        "redis_shared_bytes_per_approval": {k: (shared_after[k] - shared_before[k]) / n for k in shared_after},
    }, approvals


async def timeouts_phase(
    http: aiohttp.ClientSession,
    cluster: Cluster,
    redis: Redis,
    store: Store,
    *,
    n: int,
    spread: float,
    rate: float,
    margin: float,
) -> dict[str, Any]:
    owner = cluster.workers[0]
    await owner.call(http, "/reset", {})
    base = time.time() + n / rate * 1.5 + margin  # every deadline after all are created (at the measured rate)
    prepared = await owner.call(
        http,
        "/prepare",
        {"n": n, "mode": "expect", "deadline_base": base, "deadline_spread": spread, "proposal": DRAFT},
    )
    created_by = time.time()
    waited = await owner.call(http, "/wait", {"timeout": spread + 60 + max(0.0, base - time.time())})
    ids = [a[0] for a in prepared["approvals"]]
    async with redis.pipeline(transaction=False) as pipe:
        for approval_id in ids:
            pipe.hmget(store.keys.approval(approval_id), ["deadline", "decided_at", "status"])
        rows = await pipe.execute()
    decided_late = [float(d) - float(dl) for dl, d, s in rows if s == "timed_out"]
    deadlines = {approval_id: float(row[0]) for approval_id, row in zip(ids, rows, strict=True)}
    resumed_late = [t - deadlines[a] for a, t in waited["resolved"].items()]
    statuses: dict[str, int] = {}
    for _, _, status in rows:
        statuses[str(status)] = statuses.get(str(status), 0) + 1
    return {
        "approvals": n,
        "spread_s": spread,
        "all_created_before_first_deadline": created_by < base,
        "statuses": statuses,
        "decided_minus_deadline": summary_ms(decided_late),
        "resumed_minus_deadline": summary_ms(resumed_late),
        "resumed_over_1s": sum(1 for x in resumed_late if x > 1.0),
        "never_resumed": len(waited["missing"]),
    }


async def teams_phase(http: aiohttp.ClientSession, cluster: Cluster, *, n: int) -> dict[str, Any]:
    owner = cluster.workers[0]
    await owner.call(http, "/gc", {})
    before = await owner.call(http, "/stats")
    started = await owner.call(http, "/start_runs", {"n": n, "channels": [f"C0BENCH{i:03d}" for i in range(20)]})
    await owner.call(http, "/gc", {})
    after = await owner.call(http, "/stats")
    cards = (await owner.call(http, "/run_cards", {}))["approvals"]
    urls = [str(w.info["events_url"]) for w in cluster.workers]
    clicks = [(urls[i % len(urls)], click_body(a, c, t)) for i, (a, c, t) in enumerate(cards)]
    t0 = time.perf_counter()
    results = await click_all(http, clicks, concurrency=32)
    ended = await owner.call(http, "/wait_runs", {"timeout": 300})
    return {
        "runs": n,
        "start_seconds": started["seconds"],
        "refused": started.get("refused", {}),
        "waiting_for_a_human": after["waiting"],
        "rss_kb_per_waiting_run": (after["rss"] - before["rss"]) / KB / n,
        "approved_and_ended_seconds": time.perf_counter() - t0,
        "click_errors": sum(1 for r in results if r.status != 200),
        "run_statuses": ended["statuses"],
        "slack_calls": await settled_counts(cluster.slack, http),
    }


async def measure(
    n: int,
    modes: Sequence[str],
    *,
    concurrency: int,
    spreads: Sequence[float],
    teams: int,
    slack_kind: str,
    fresh: bool = True,
) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-scale-"))
    redis_server = start_redis()
    redis = connect(redis_server.url)
    store = Store(redis)
    cluster = Cluster(redis_server, log_dir, slack_kind)
    checkpoint, proposal = await realistic_checkpoint()
    result: dict[str, Any] = {
        "benchmark": "scale",
        "approvals": n,
        "slack": slack_kind,
        "machine": machine_info(),
        "modes": {},
        "log_dir": str(log_dir),
    }
    model = log_dir / "replay.json"
    model.write_text(json.dumps(replay_config(*([DRAFT] * 4))))
    teams_env = {"MAX_RUNS_PER_USER": "1000", "MAX_RUNS_PER_CHANNEL": "10000"}
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
            if not fresh:  # small: one set of processes for both modes (each figure is a difference anyway)
                await cluster.start()
            for mode in modes:
                if fresh:
                    await redis.flushall()
                    await cluster.start()
                else:
                    await cluster.slack.call(http, "/reset", {})  # its counts: this mode's
                memory, approvals = await memory_phase(
                    http, cluster, redis, store, n=n, mode=mode, checkpoint=checkpoint, proposal=proposal
                )
                clicks = await clicks_phase(http, cluster, approvals, concurrency)
                entry: dict[str, Any] = {"memory": memory, "clicks": clicks}
                if mode == "expect":
                    entry["timeouts"] = [
                        await timeouts_phase(
                            http, cluster, redis, store, n=n, spread=spread, rate=memory["created_per_s"],
                            margin=3.0 if fresh else 1.0,
                        )
                        for spread in spreads
                    ]
                entry["slack_calls"] = await settled_counts(cluster.slack, http)
                result["modes"][mode] = entry
                if fresh:
                    await cluster.stop()
            await cluster.stop()
            if teams:  # on fresh processes, even in small: their runs' end is waited for (small: worker A alone)
                await redis.flushall()
                await cluster.start(workers=2 if fresh else 1, model_config=str(model), env=teams_env)
                result["teams"] = await teams_phase(http, cluster, n=teams)
                await cluster.stop()
    finally:
        await cluster.stop()
        await redis.aclose()
        stop_redis(redis_server)
    result["goals"] = goals(result)
    return result


def goals(result: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for mode, entry in result["modes"].items():
        memory, clicks = entry["memory"], entry["clicks"]
        out[mode] = {
            "rss_under_20kb_per_approval": memory["rss_kb_per_approval"] < 20,
            "redis_under_4kb_per_approval": memory["redis_kb_per_approval"] < 4,
            "at_least_1000_decisions_per_s": clicks["decisions_per_s"] >= 1000 and clicks["errors"] == 0,
        }
        for t in entry.get("timeouts", []):
            ok = t["resumed_over_1s"] == 0 and t["never_resumed"] == 0
            out[mode][f"all_timeouts_within_1s (deadlines over {t['spread_s']:g} s)"] = ok
    return out


def print_table(result: dict[str, Any]) -> None:
    for mode, entry in result["modes"].items():
        m, c = entry["memory"], entry["clicks"]
        print(f"\nmode {mode}: {m['approvals']} pending approvals in one worker ({m['checkpoint_bytes']} B checkpoint)")
        print(f"  RSS     {m['rss_kb_per_approval']:7.2f} KB per approval   (goal < 20)")
        print(f"  Redis   {m['redis_kb_per_approval']:7.2f} KB per approval   (goal < 4)")
        print(f"          bytes per key: {m['redis_key_bytes']}")
        print(f"  clicks  {c['decisions_per_s']:7.0f} decisions/s with {c['workers']} workers (goal >= 1000),")
        print(f"          ack p50 {c['ack']['p50_ms']:.1f} ms p99 {c['ack']['p99_ms']:.1f} ms, errors {c['errors']}")
        for t in entry.get("timeouts", []):
            r, d = t["resumed_minus_deadline"], t["decided_minus_deadline"]
            print(f"  timeouts over {t['spread_s']} s: resumed - deadline p50 {r['p50_ms']:.0f} ms")
            print(
                f"          p99 {r['p99_ms']:.0f} ms, max {r['max_ms']:.0f} ms, later than 1 s: {t['resumed_over_1s']}"
            )
            print(f"          decided_at - deadline p99 {d['p99_ms']:.0f} ms")
    if "teams" in result:
        t = result["teams"]
        print(f"\n{t['runs']} whole runs waiting for a human: {t['rss_kb_per_waiting_run']:.1f} KB RSS per run")
        print(f"  after approval: {t['run_statuses']}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--approvals", type=int, default=10_000)
    parser.add_argument("--modes", default="expect,request_approval")
    parser.add_argument("--concurrency", type=int, default=64, help="clicks in flight at once")
    parser.add_argument("--timeout-spreads", default="10,0", help="comma-separated seconds ('' to skip)")
    parser.add_argument("--teams", type=int, default=1000, help="whole runs to start (0: skip)")
    parser.add_argument("--slack", choices=("stub", "standin"), default="stub")
    parser.add_argument("--small", action="store_true", help="CI size: 100 approvals, 5 teams, spreads 1 and 0")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    n, teams = (100, 5) if args.small else (args.approvals, args.teams)
    spreads = [1.0, 0.0] if args.small else [float(x) for x in args.timeout_spreads.split(",") if x]
    modes = [m for m in args.modes.split(",") if m]
    result = asyncio.run(
        measure(
            n, modes, concurrency=args.concurrency, spreads=spreads, teams=teams, slack_kind=args.slack,
            fresh=not args.small,
        )
    )
    print(json.dumps(result, indent=2))
    write_json(result, args.out)
    print_table(result)
    return 0


if __name__ == "__main__":
    sys.exit(main())

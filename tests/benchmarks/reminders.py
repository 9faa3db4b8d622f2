"""Reminders (#15): 10,000 pending approvals with 3 reminders each, told within 1 s of each due time.

Real parts, laid out as `scale.py` lays them out: a real redis-server; the Slack stub (`slack_proc.py`, kind
`stub`: a Web API answering `ok` with a fresh `ts` at once, so the stand-in's CPU does not count) in its own
process; two reminder senders in two more processes (`procs.py nudger`: each a worker's `Nudger`, wired by
`create_services` as a worker wires it, sweeping the same Redis, as two workers do in production). This process
creates the approvals straight in Redis (`store.approvals.create` then `attach_card`, as a worker does once its
card is posted in #approvals): one named approver (so each reminder looks up who is away and mentions them), never
timing out (`timeout_seconds=0`), reminders at R, R+G and R+2G seconds after `created_at` (`--rounds`).

Each approval's `created_at` is set so that its first reminder falls where the case wants it, after every approval
is created (at the rate measured first, as scale.py plans its deadlines):

* `--spreads 10`: round k's 10,000 due times spread evenly over 10 s (1,000 reminders/s), rounds G s apart;
* `--spreads 0`: all 10,000 of a round due at the same instant.

Every reminder told appends a `reminded` audit entry with `at` (when its message was posted) and `due`: once
rounds × N of them exist (and the `nudges` set is empty) they are read back, and lateness = `at` − `due`. Each
(approval, step) must appear exactly once, and the stub must have received exactly rounds × N `chat.postMessage`
calls: a duplicate, a missing one or an extra post is an error (exit 1). A missed goal is printed (exit 0).

The floor, measured in the same run just before each case: the same number of reminders as one round, posted by a
bare scheduler in this process (the worker's Slack client, one HTTP session) with each post started at its due
time, at most 16 in flight (the two nudgers' 2 × 8): its lateness = reply − due. Ours is quoted against it.

    python tests/benchmarks/reminders.py [--approvals 10000] [--rounds 3] [--spreads 10,0] [--out file.json]
    python tests/benchmarks/reminders.py --small        # CI: 100 approvals, spreads 1 and 0, 2 rounds 1 s apart
    python tests/benchmarks/reminders.py --profile artifacts/reminders   # cProfile both nudgers (slower)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import gc
import json
import math
import os
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.__main__ import use_event_loop
from bot.core.metrics import Metrics
from bot.core.records import ApprovalRecord
from bot.core.settings import Settings
from bot.slack.blocks.nudges import reminder_text
from bot.slack.client import create_slack_client
from bot.store import Store, connect
from tests.benchmarks.common import (
    CARD_CHANNEL,
    REVIEWER,
    Proc,
    machine_info,
    new_approval,
    proc_cpu_seconds,
    settled_counts,
    start_redis,
    stop_redis,
    summary_ms,
    worker_env,
    write_json,
)

NUDGERS = 2
SLOTS_PER_NUDGER = 8  # `Nudger(concurrency=8)`: approvals reminded at once by one nudger (a worker's default)
FIRST_OFFSET = 60  # seconds from `created_at` to the first reminder (whole seconds, as `remind` holds them)
CREATE_CONCURRENCY = 32


def card_ts(i: int) -> str:
    return f"{1_700_000_000 + i}.{uuid.uuid4().int % 1_000_000:06d}"


def pending(i: int, *, created_at: float, remind: Sequence[int]) -> ApprovalRecord:
    """A pending approval as `request_approval` makes it, asking one person, never timing out."""
    base = new_approval("wbenchmark", proposal=f"Draft #{i}", deadline=0.0, timeout_seconds=0)
    return replace(base, created_at=created_at, approvers=(REVIEWER,), remind=tuple(str(r) for r in remind))


async def create_all(store: Store, approvals: Sequence[ApprovalRecord]) -> float:
    """Store each approval and attach its card (as a worker does), `CREATE_CONCURRENCY` at once; seconds taken."""
    slots = asyncio.Semaphore(CREATE_CONCURRENCY)

    async def one(i: int, approval: ApprovalRecord) -> None:
        async with slots:
            assert await store.approvals.create(approval) == "ok"
            assert await store.approvals.attach_card(approval.id, channel=CARD_CHANNEL, ts=card_ts(i)) == "pending"

    started = time.perf_counter()
    await asyncio.gather(*(one(i, a) for i, a in enumerate(approvals)))
    return time.perf_counter() - started


async def creation_rate(store: Store, n: int) -> float:
    """Approvals created per second here (without reminders, then flushed): what the cases plan with."""
    approvals = [pending(i, created_at=time.time(), remind=()) for i in range(n)]
    seconds = await create_all(store, approvals)
    await store.redis.flushall()
    return n / seconds


async def floor_phase(slack_api_url: str, redis_url: str, *, n: int, spread: float, in_flight: int) -> dict[str, Any]:
    """n reminders posted by a bare scheduler: each post started at its due time (spread evenly over `spread` s),
    at most `in_flight` at once (the nudgers' slots), through the worker's Slack client. Lateness = reply − due."""
    settings = Settings.from_env(worker_env(api_url=slack_api_url, redis_url=redis_url))
    client = create_slack_client(settings, Metrics())
    client.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))
    sample = pending(0, created_at=time.time() - FIRST_OFFSET, remind=(FIRST_OFFSET, FIRST_OFFSET + 10))
    text = reminder_text(sample, number=1, mentions=[REVIEWER], delegated={}, now=time.time())
    slots = asyncio.Semaphore(in_flight)
    late: list[float] = []

    async def post(i: int, due: float) -> None:
        try:
            await client.chat_postMessage(
                channel=CARD_CHANNEL, thread_ts=card_ts(i), text=text, unfurl_links=False, unfurl_media=False
            )
            late.append(time.time() - due)
        finally:
            slots.release()

    async def warm(i: int) -> None:  # its connections open before timing: a worker's Slack session is long-lived
        await slots.acquire()
        await post(-1 - i, float("nan"))

    await asyncio.gather(*(warm(i) for i in range(in_flight)))
    late.clear()
    gc.collect()
    gc.freeze()  # this process's own heap (the modules `common` imports) is not the poster's: no 100 ms gen-2 pause
    start = time.time() + 0.5
    tasks: list[asyncio.Task[None]] = []
    try:
        for i in range(n):
            due = start + spread * i / n
            wait = due - time.time()
            if wait > 0:
                await asyncio.sleep(wait)  # the scheduler's own timing: a post starts at its due time
            await slots.acquire()
            tasks.append(asyncio.create_task(post(i, due)))
        await asyncio.gather(*tasks)
    finally:
        gc.unfreeze()
        await client.session.close()
    return {
        "posts": n,
        "in_flight": in_flight,
        "lateness": summary_ms(late),
        "over_1s": sum(1 for x in late if x > 1.0),
        "seconds_for_all": max(late) + spread if late else float("nan"),
    }


async def command_calls(store: Store) -> dict[str, int]:
    """Redis commands run so far, by command (`INFO commandstats`)."""
    stats = await store.redis.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in stats.items()}


async def read_reminded(store: Store) -> list[dict[str, str]]:
    """Every `reminded` entry of the audit stream (read in pages)."""
    found: list[dict[str, str]] = []
    start = "-"
    while True:
        page = await store.redis.xrange(store.keys.audit, min=start, max="+", count=5000)
        found += [dict(fields) for _, fields in page if fields.get("event") == "reminded"]
        if len(page) < 5000:
            return found
        last = str(page[-1][0])
        ms, _, seq = last.partition("-")
        start = f"{ms}-{int(seq) + 1}"


async def wait_until_told(store: Store, *, audit_target: int, deadline: float) -> bool:
    """Poll (every 0.1 s, until `deadline`, epoch seconds) until the audit stream holds `audit_target` entries and
    no approval is due anything more."""
    while True:
        length = await store.redis.xlen(store.keys.audit)
        left = await store.redis.zcard(store.keys.nudges)
        if length >= audit_target and left == 0:
            return True
        if time.time() > deadline:
            return False
        await asyncio.sleep(0.1)


async def case_phase(
    http: aiohttp.ClientSession,
    store: Store,
    *,
    slack: Proc,
    nudgers: Sequence[Proc],
    redis_pid: int,
    n: int,
    rounds: int,
    spread: float,
    gap: float,
    rate: float,
    profile_dir: Path | None,
    margin: float = 3.0,
) -> dict[str, Any]:
    step_gap = math.ceil(spread + gap)  # whole seconds between a approval's reminders
    offsets = [FIRST_OFFSET + k * step_gap for k in range(rounds)]
    first_due = time.time() + n / rate * 1.5 + margin  # every reminder after all are created (at the measured rate)
    approvals = [pending(i, created_at=first_due + spread * i / n - FIRST_OFFSET, remind=offsets) for i in range(n)]
    await slack.call(http, "/reset", {})
    audit_before = await store.redis.xlen(store.keys.audit)
    create_seconds = await create_all(store, approvals)
    created_by = time.time()
    audit_created = await store.redis.xlen(store.keys.audit)
    pids = {f"nudger{i}": p.pid for i, p in enumerate(nudgers)} | {"redis": redis_pid, "slack_stub": slack.pid}
    cpu_before = {name: proc_cpu_seconds(pid) for name, pid in pids.items()}
    problems_before = [await nudger.call(http, "/slack_problems") for nudger in nudgers]
    commands_before = await command_calls(store)
    if profile_dir is not None:
        for nudger in nudgers:
            await nudger.call(http, "/profile/start", {"kind": "cprofile"})
    last_due = first_due + spread + (rounds - 1) * step_gap
    told = await wait_until_told(
        store, audit_target=audit_created + rounds * n, deadline=last_due + 60 + rounds * n / 1000
    )
    done = time.time()
    cpu = {name: proc_cpu_seconds(pid) - cpu_before[name] for name, pid in pids.items()}
    commands_after = await command_calls(store)
    profiles: dict[str, str] = {}
    if profile_dir is not None:
        for i, nudger in enumerate(nudgers):
            path = profile_dir / f"nudger{i}-spread{spread:g}.txt"
            await nudger.call(http, "/profile/stop", {"path": str(path)})
            profiles[f"nudger{i}"] = str(path)
    counts = await settled_counts(slack, http)  # a post made twice may come after the last audit entry
    slack_problems: dict[str, float] = {}  # the nudgers' Slack client retries and errors during the case
    for nudger, before in zip(nudgers, problems_before, strict=True):
        for key, value in (await nudger.call(http, "/slack_problems")).items():
            if value > before.get(key, 0.0):
                slack_problems[key] = slack_problems.get(key, 0.0) + value - before.get(key, 0.0)
    entries = await read_reminded(store)

    seen: collections.Counter[tuple[str, int]] = collections.Counter()
    late: list[float] = []
    by_step: dict[int, list[tuple[float, float]]] = collections.defaultdict(list)  # step -> (due, at)
    for entry in entries:
        step = int(entry["step"])
        seen[(entry["approval"], step)] += 1
        at, due = float(entry["at"]), float(entry["due"])
        late.append(at - due)
        by_step[step].append((due, at))
    expected = {(a.id, k) for a in approvals for k in range(1, rounds + 1)}
    duplicates = sum(count - 1 for key, count in seen.items() if count > 1)
    missing = len(expected - set(seen))
    unexpected = len(set(seen) - expected)
    posts = int(counts.get("chat.postMessage", 0))
    per_step: dict[str, Any] = {}
    for step, pairs in sorted(by_step.items()):
        lateness = [at - due for due, at in pairs]
        per_step[str(step)] = {
            "lateness": summary_ms(lateness),
            "over_1s": sum(1 for x in lateness if x > 1.0),
            # from the round's first due time to its last reminder posted
            "round_seconds": max(at for _, at in pairs) - min(due for due, _ in pairs),
        }
    errors: list[str] = []
    if not told:
        errors.append(f"not every reminder was told in time ({len(entries)} of {rounds * n} audited)")
    if duplicates or missing or unexpected:
        errors.append(f"reminders audited twice: {duplicates}, missing: {missing}, unexpected: {unexpected}")
    if posts != rounds * n:
        errors.append(f"chat.postMessage calls: {posts}, expected {rounds * n}")
    return {
        "approvals": n,
        "rounds": rounds,
        "spread_s": spread,
        "offsets_s": offsets,
        "create_seconds": create_seconds,
        "created_per_s": n / create_seconds,
        "all_created_before_first_due": created_by < first_due,
        "audit_entries_created": audit_created - audit_before,
        "reminded": len(entries),
        "duplicates": duplicates,
        "missing": missing,
        "slack_calls": counts,
        "slack_retries_and_errors": dict(slack_problems),
        "lateness": summary_ms(late),
        "over_1s": sum(1 for x in late if x > 1.0),
        "per_step": per_step,
        "waited_after_last_due_s": done - last_due,
        "cpu_ms_per_reminder": {name: round(s * 1000 / max(1, len(entries)), 4) for name, s in cpu.items()},
        # every client's, this one's polling included (an XLEN and a ZCARD every 0.1 s)
        "redis_commands_per_reminder": {
            name: round((calls - commands_before.get(name, 0)) / max(1, len(entries)), 3)
            for name, calls in sorted(commands_after.items())
            if calls > commands_before.get(name, 0) and name != "info"
        },
        "profiles": profiles,
        "errors": errors,
    }


async def measure(
    n: int,
    rounds: int,
    spreads: Sequence[float],
    *,
    gap: float,
    profile_dir: Path | None,
    concurrency: int = 0,
    batch: int = 0,
    slack_latency_ms: float = 0.0,
    margin: float = 3.0,
) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-reminders-"))
    redis_server = start_redis()
    redis = connect(redis_server.url)
    store = Store(redis)
    procs: list[Proc] = []
    result: dict[str, Any] = {
        "benchmark": "reminders",
        "approvals": n,
        "rounds": rounds,
        "nudgers": NUDGERS,
        "nudger_concurrency": concurrency or SLOTS_PER_NUDGER,
        "nudger_batch": batch or "default",
        "slack": "stub",
        "slack_latency_ms": slack_latency_ms,
        "machine": machine_info(),
        "cases": [],
        "log_dir": str(log_dir),
    }
    try:
        slack = await Proc.start("slack", {"kind": "stub", "latency_ms": slack_latency_ms}, log_dir=log_dir)
        procs.append(slack)
        options = {"redis_url": redis_server.url, "api_url": slack.info["api_url"], "concurrency": concurrency}
        options["batch"] = batch
        nudgers = [await Proc.start("nudger", options, log_dir=log_dir) for _ in range(NUDGERS)]
        procs += nudgers
        async with aiohttp.ClientSession() as http:
            rate = await creation_rate(store, min(n, 1000))
            result["created_per_s_measured_first"] = rate
            for spread in spreads:
                await redis.flushall()
                floor = await floor_phase(
                    str(slack.info["api_url"]),
                    redis_server.url,
                    n=n,
                    spread=spread,
                    in_flight=NUDGERS * (concurrency or SLOTS_PER_NUDGER),
                )
                case = await case_phase(
                    http,
                    store,
                    slack=slack,
                    nudgers=nudgers,
                    redis_pid=redis_server.process.pid,
                    n=n,
                    rounds=rounds,
                    spread=spread,
                    gap=gap,
                    rate=rate,
                    profile_dir=profile_dir,
                    margin=margin,
                )
                case["floor"] = floor
                case["ratios_to_floor"] = {
                    q: case["lateness"][f"{q}_ms"] / floor["lateness"][f"{q}_ms"]
                    for q in ("p50", "p90", "p99", "max")
                    if case["lateness"].get(f"{q}_ms") and floor["lateness"].get(f"{q}_ms")
                }
                result["cases"].append(case)
    finally:
        for proc in procs:
            await proc.stop()
        await redis.aclose()
        stop_redis(redis_server)
    result["errors"] = [e for case in result["cases"] for e in case["errors"]]
    result["goals"] = {
        f"all reminders within 1 s of due (due over {c['spread_s']:g} s)": c["over_1s"] == 0 and not c["errors"]
        for c in result["cases"]
    }
    return result


def print_table(result: dict[str, Any]) -> None:
    n, rounds = result["approvals"], result["rounds"]
    print(
        f"\n{n} pending approvals, {rounds} reminders each, {result['nudgers']} nudger processes"
        f" (concurrency {result['nudger_concurrency']}, batch {result['nudger_batch']}),"
        f" Slack stub answering after {result['slack_latency_ms']:g} ms"
    )
    print(f"  created {result['created_per_s_measured_first']:.0f}/s (measured first)")
    for c in result["cases"]:
        lat, fl = c["lateness"], c["floor"]["lateness"]
        print(f"\n  due times of each round over {c['spread_s']:g} s (reminders at {c['offsets_s']} s):")
        if lat.get("n"):
            print(
                f"    told − due   p50 {lat['p50_ms']:7.1f}  p90 {lat['p90_ms']:7.1f}  p99 {lat['p99_ms']:7.1f}"
                f"  max {lat['max_ms']:7.1f} ms   later than 1 s: {c['over_1s']}"
            )
        if fl.get("n"):
            print(
                f"    floor        p50 {fl['p50_ms']:7.1f}  p90 {fl['p90_ms']:7.1f}  p99 {fl['p99_ms']:7.1f}"
                f"  max {fl['max_ms']:7.1f} ms   (bare posts at their due times)"
            )
        ratios = ", ".join(f"{q} {r:.2f}x" for q, r in c["ratios_to_floor"].items())
        print(f"    ratio to floor: {ratios}")
        for step, s in c["per_step"].items():
            print(
                f"    round {step}: p99 {s['lateness']['p99_ms']:.0f} ms, max {s['lateness']['max_ms']:.0f} ms,"
                f" all told {s['round_seconds']:.2f} s after its first due time"
            )
        cpu = ", ".join(f"{k} {v:.3f}" for k, v in c["cpu_ms_per_reminder"].items())
        print(f"    CPU ms per reminder: {cpu}")
        commands = ", ".join(f"{k} {v:.2f}" for k, v in c["redis_commands_per_reminder"].items() if v >= 0.01)
        print(f"    Redis commands per reminder: {commands}")
        print(
            f"    audited {c['reminded']} of {rounds * n}, duplicates {c['duplicates']}, missing {c['missing']},"
            f" chat.postMessage {c['slack_calls'].get('chat.postMessage', 0)}"
        )
        if c["slack_retries_and_errors"]:
            print(f"    the nudgers' Slack retries and errors: {c['slack_retries_and_errors']}")
    print()
    for goal, ok in result["goals"].items():
        print(f"  {goal}: {'yes' if ok else 'NO'}")
    for error in result["errors"]:
        print(f"  ERROR: {error}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--approvals", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=3, help="reminders per approval (a round of N each)")
    parser.add_argument("--spreads", default="10,0", help="comma-separated seconds each round's due times spread over")
    parser.add_argument("--gap", type=float, default=10.0, help="seconds between one round's end and the next")
    parser.add_argument("--small", action="store_true", help="CI: 100 approvals, spreads 1 and 0, 2 rounds 1 s apart")
    parser.add_argument("--profile", type=Path, default=None, help="cProfile both nudgers, texts in this directory")
    parser.add_argument("--nudger-concurrency", type=int, default=0, help="experiment: Nudger(concurrency=) (0: 8)")
    parser.add_argument("--slack-latency-ms", type=float, default=0.0, help="the stub answers after this long")
    parser.add_argument("--nudger-batch", type=int, default=0, help="experiment: Nudger(batch=) (0: its default)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    n, spreads, gap = args.approvals, [float(x) for x in args.spreads.split(",") if x], args.gap
    if args.small:
        n, spreads, gap = 100, [1.0, 0.0], 1.0
        args.rounds = 2
    use_event_loop(os.environ.get("EVENT_LOOP") or "auto")  # the nudgers' loop, for the floor's scheduler too
    result = asyncio.run(
        measure(
            n,
            args.rounds,
            spreads,
            gap=gap,
            profile_dir=args.profile,
            concurrency=args.nudger_concurrency,
            batch=args.nudger_batch,
            slack_latency_ms=args.slack_latency_ms,
            margin=1.0 if args.small else 3.0,
        )
    )
    print(json.dumps(result, indent=2))
    write_json(result, args.out)
    print_table(result)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

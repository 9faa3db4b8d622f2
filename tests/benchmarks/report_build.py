"""The offline report (#17): how long `python -m bot report` takes over a large audit stream.

Real parts: a throwaway redis-server; an audit stream of `--entries` entries written with the fields the product
writes (`requested` as `store.approvals.create` audits it, `decision` and `vote` as `lua/lib/decide.lua` does,
`auto_approved` / `auto_rejected` as `ApprovalService.audit_automatic`, `reminded` / `escalated`, and the runs'
`run_started` / `run_finished`), spread over 30 days with realistic latencies, channels, approvers and tools
(`synthetic_history`); and 200 approvals pending now, stored with `store.approvals.create`.

Timed, in one process, each repeat in a rotating order:
- `floor`: read the whole stream the way the report reads it (`store.audit.export` into a list) and nothing else;
- `report`: the report as `python -m bot report --since 30d` builds it: read the stream and the pending approvals,
  compute the figures, draw the plots and write the HTML file;
and, once per repeat, `python -m bot report --since 30d` as a subprocess (interpreter start, imports and all): what
a person waits for. Medians over `--repeat`; the ratio report / floor says what the report adds to reading the data.
Goal: the subprocess under 10 s at 100,000 entries.

    python tests/benchmarks/report_build.py [--entries 100000] [--repeat 5]
    python tests/benchmarks/report_build.py --small      # CI: 2,000 entries, each measure once
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from redis.asyncio import Redis

from bot.core.records import ApprovalRecord
from bot.report.cli import History, figures_of, read_history, write_atomically
from bot.report.figures import RubberStamp
from bot.store import Store, connect
from tests.benchmarks.common import REPO, machine_info, start_redis, stop_redis, write_json

DAY = 86400
CHANNELS = ("C0SALES", "C0SUPPORT", "C0ENG", "C0FINANCE")
CARD_CHANNEL = "C0APPROVALS"
REQUESTERS = ("U0ALICE", "U0GRACE", "U0HEIDI", "U0IVAN")
# approver -> (median seconds to decide, spread (sigma of the log), approve share)
APPROVERS: dict[str, tuple[float, float, float]] = {
    "U0BOB": (95, 1.0, 0.78),
    "U0CAROL": (240, 1.1, 0.70),
    "U0DAVE": (2.5, 0.25, 0.995),  # approves nearly everything within seconds
    "U0ERIN": (600, 1.2, 0.74),
    "U0FRANK": (45, 0.9, 0.82),
}
SENIORS = ("U0BOB", "U0CAROL", "U0ERIN", "U0FRANK")  # escalations and second votes go to them
# channel -> approvers who decide there
DECIDERS = {
    "C0SALES": ("U0BOB", "U0CAROL", "U0DAVE"),
    "C0SUPPORT": ("U0FRANK", "U0BOB", "U0DAVE"),
    "C0ENG": ("U0ERIN", "U0CAROL"),
    "C0FINANCE": ("U0CAROL", "U0ERIN"),
}
TOOLS = (("message", ""), ("tool_call", "send_email"), ("tool_call", "deploy"), ("tool_call", "refund"), ("code", ""))
TOOL_WEIGHTS = (0.55, 0.2, 0.1, 0.08, 0.07)
TIMEOUT_S = 1800
AUTO_RULES = (
    ("auto_approved", "mode policy: the message matched no risk word"),
    ("auto_approved", "mode policy: the tool call matched no risk word"),
    ("auto_approved", "mode terminate: automatic reply {n} of 10"),
    ("auto_rejected", "mode never: nobody is asked, so code does not run"),
)


def _add(out: list[dict[str, str]], at: float, event: str, **fields: str | int) -> None:
    out.append({"event": event, "at": repr(at), **{k: str(v) for k, v in fields.items()}})


def synthetic_history(entries: int, *, now: float, days: int = 30, seed: int = 17) -> list[dict[str, str]]:
    """About `entries` audit entries over the `days` before `now`, oldest first, shaped as the product writes
    them. Deterministic for a seed."""
    rng = random.Random(seed)
    out: list[dict[str, str]] = []
    start = now - days * DAY
    serial = 0
    while len(out) < entries:
        serial += 1
        channel = rng.choices(CHANNELS, weights=(0.4, 0.3, 0.2, 0.1))[0]
        run = f"r{serial:08d}"
        requester = rng.choice(REQUESTERS)
        # more on weekdays and working hours: a day, then an hour from 8 to 19 UTC
        day = rng.randrange(days)
        t = start + day * DAY + rng.uniform(8, 19) * 3600
        if t > now - 600:
            continue
        _add(out, t, "run_started", run=run, by=requester, origin_channel=channel, task="(task)")
        for step in range(rng.choice((1, 1, 2, 3))):
            approval = f"ap-{serial:08d}-{step}"
            kind, tool = rng.choices(TOOLS, weights=TOOL_WEIGHTS)[0]
            t += rng.uniform(5, 90)
            if rng.random() < 0.25:  # the input mode decided it without a person
                event, rule = rng.choice(AUTO_RULES)
                fields = {"approval": approval, "run": run, "by": "auto", "origin_channel": channel}
                outcome = "approved" if event == "auto_approved" else "rejected"
                _add(out, t, event, outcome=outcome, rule=rule.format(n=step + 1), kind=kind, tool=tool, **fields)
                continue
            common = {"approval": approval, "run": run, "card_channel": CARD_CHANNEL, "origin_channel": channel}
            _add(out, t, "requested", by=requester, kind=kind, tool=tool, **common)
            decider = rng.choice(DECIDERS[channel])
            median, sigma, approve = APPROVERS[decider]
            latency = median * math.exp(rng.gauss(0, sigma))
            if latency > 300 and channel != "C0SUPPORT":  # still pending after 5 min: a reminder
                _add(out, t + 300, "reminded", step=1, **common)
                if rng.random() < 0.4:  # and it helped
                    latency = 300 + rng.expovariate(1 / 120)
            if latency > 900 and channel in ("C0ENG", "C0FINANCE"):  # still pending after 15 min: escalated
                to = rng.choice([a for a in SENIORS if a != decider])
                _add(out, t + 900, "escalated", to=to, after=900, **common)
                if rng.random() < 0.6:
                    decider, latency = to, 900 + rng.expovariate(1 / 300)
            decided: dict[str, str | int]
            if latency >= TIMEOUT_S or rng.random() < 0.03:
                decided = {"outcome": "timed_out", "by": "timeout", "latency_ms": TIMEOUT_S * 1000}
                latency = TIMEOUT_S
            elif rng.random() < 0.01:
                decided = {"outcome": "cancelled", "by": requester, "latency_ms": int(latency * 1000)}
            else:
                outcome = "approved" if rng.random() < approve else rng.choice(("rejected", "revised"))
                decided = {"outcome": outcome, "by": decider, "latency_ms": int(latency * 1000)}
            if t + latency >= now:
                continue  # still pending: not audited yet
            if decided["outcome"] == "approved" and rng.random() < 0.05:  # a quorum of 2: a vote first
                other = rng.choice([a for a in SENIORS if a != decider])
                first = latency * rng.uniform(0.3, 0.9)
                vote = {"outcome": "approved", "required": 2, **common}
                _add(out, t + first, "vote", by=other, votes=1, latency_ms=int(first * 1000), **vote)
                _add(out, t + latency, "vote", by=decider, votes=2, latency_ms=decided["latency_ms"], **vote)
            _add(out, t + latency, "decision", feedback="", **decided, **common)
            t += latency
        _add(out, t + 5, "run_finished", run=run, outcome="completed", by="", origin_channel=channel, reason="")
    out.sort(key=lambda entry: float(entry["at"]))
    return out[:entries]


async def write_stream(redis: Redis, key: str, entries: Sequence[dict[str, str]]) -> None:
    """XADD each entry with a stream id at its `at` (as the product's entries are), in order."""
    last_ms, seq = -1, 0
    for start in range(0, len(entries), 2000):
        async with redis.pipeline(transaction=False) as pipe:
            for entry in entries[start : start + 2000]:
                ms = max(int(float(entry["at"]) * 1000), last_ms)
                seq = seq + 1 if ms == last_ms else 0
                last_ms = ms
                pipe.xadd(key, entry, id=f"{ms}-{seq}")  # type: ignore[arg-type]
            await pipe.execute()


def pending_approvals(count: int, *, now: float, seed: int = 17) -> list[ApprovalRecord]:
    """`count` approvals waiting now, requested from a minute to three days ago."""
    rng = random.Random(seed)
    found = []
    for i in range(count):
        created = now - math.exp(rng.uniform(math.log(60), math.log(3 * DAY)))
        channel = rng.choice(CHANNELS)
        found.append(
            ApprovalRecord(
                id=f"waiting-{i:06d}",
                run_id=f"rw{i:07d}",
                owner="w-bench",
                requester=rng.choice(REQUESTERS),
                origin_channel=channel,
                card_channel=CARD_CHANNEL,
                task="Draft an email to our top 10 customers about the price change",
                proposal="Subject: An update to our prices",
                author="assistant",
                created_at=created,
                deadline=now + 7 * DAY,
                timeout_seconds=7 * DAY,
            )
        )
    return found


async def fill(store: Store, entries: int, *, now: float) -> int:
    history = synthetic_history(entries, now=now)
    await write_stream(store.redis, store.keys.audit, history)
    for approval in pending_approvals(200, now=now):
        await store.approvals.create(approval)
    return len(history)


async def time_floor(store: Store, since: float) -> float:
    started = time.perf_counter()
    entries = [entry async for entry in store.audit.export(since=since)]
    elapsed = time.perf_counter() - started
    assert entries
    return elapsed


async def time_report(store: Store, since: float, out: Path) -> dict[str, float]:
    from bot.report.html import render

    started = time.perf_counter()
    now = time.time()
    history: History = await read_history(store, since=since, channels=(), now=now)
    read = time.perf_counter()
    figures = figures_of(history, channels=(), rubber_stamp=RubberStamp())
    computed = time.perf_counter()
    write_atomically(out, render(figures))
    done = time.perf_counter()
    return {
        "read_s": read - started,
        "compute_s": computed - read,
        "render_s": done - computed,
        "total_s": done - started,
    }


def time_subprocess(redis_url: str, out: Path) -> float:
    env = {**os.environ, "REDIS_URL": redis_url}
    started = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-m", "bot", "report", "--since", "30d", "--out", str(out)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.perf_counter() - started
    if run.returncode != 0:
        raise RuntimeError(f"python -m bot report failed ({run.returncode}): {run.stderr[-2000:]}")
    return elapsed


async def measure(entries: int, repeat: int) -> dict[str, Any]:
    server = start_redis()
    redis = connect(server.url)
    store = Store(redis)
    try:
        now = time.time()
        written = await fill(store, entries, now=now)
        since = now - 31 * DAY
        with tempfile.TemporaryDirectory(prefix="report-bench-") as folder:
            out = Path(folder) / "report.html"
            from bot.report.html import render  # noqa: F401 - the import (matplotlib) is not what is timed in-process

            await time_report(store, since, out)  # warm-up
            floors, reports, subprocesses = [], [], []
            for i in range(repeat):
                order = ("floor", "report", "cli") if i % 2 == 0 else ("cli", "report", "floor")
                for what in order:
                    if what == "floor":
                        floors.append(await time_floor(store, since))
                    elif what == "report":
                        reports.append(await time_report(store, since, out))
                    else:
                        subprocesses.append(await asyncio.to_thread(time_subprocess, server.url, out))
            size = out.stat().st_size
    finally:
        await redis.aclose()
        stop_redis(server)
    median = {key: statistics.median(r[key] for r in reports) for key in reports[0]}
    floor = statistics.median(floors)
    cli = statistics.median(subprocesses)
    return {
        "benchmark": "report_build",
        "machine": machine_info(),
        "entries": written,
        "pending": 200,
        "repeat": repeat,
        "html_bytes": size,
        "floor_read_s": {"median": floor, "runs": floors},
        "report_s": {"median": median, "runs": reports},
        "cli_s": {"median": cli, "runs": subprocesses},
        "ratios": {"report / floor": median["total_s"] / floor, "cli / floor": cli / floor},
        "goals": {"cli under 10 s at 100,000 entries": cli < 10.0 if written >= 100_000 else None},
    }


def print_summary(result: dict[str, Any]) -> None:
    m = result["report_s"]["median"]
    print(f"\n{result['entries']} audit entries, {result['pending']} pending; medians of {result['repeat']}:")
    print(f"  floor (read the stream only)      {result['floor_read_s']['median']:7.2f} s")
    print(
        f"  report in-process                 {m['total_s']:7.2f} s  (read {m['read_s']:.2f}, compute "
        f"{m['compute_s']:.2f}, render {m['render_s']:.2f})  x{result['ratios']['report / floor']:.2f} the floor"
    )
    print(f"  python -m bot report (subprocess) {result['cli_s']['median']:7.2f} s")
    print(f"  HTML {result['html_bytes'] / 1024:.0f} KB; goals: {json.dumps(result['goals'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=100_000, help="audit entries in the stream")
    parser.add_argument("--repeat", type=int, default=5, help="repeats of each measure (medians)")
    parser.add_argument("--small", action="store_true", help="CI size: 2,000 entries, once")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    if args.small:
        args.entries, args.repeat = 2000, 1
    result = asyncio.run(measure(args.entries, args.repeat))
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    print_summary(result)
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

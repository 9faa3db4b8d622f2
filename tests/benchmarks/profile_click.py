"""Profile the click hot path in the worker that receives the clicks.

Worker A owns the approvals (created as click_to_resume.py creates them, with a real checkpoint and a card posted to
the Slack stub); worker B (another process) receives `--clicks` signed Approve clicks, one at a time, so everything
B does is per-click work. Passes, each on fresh approvals:

1. plain: CPU ms per click of each process (B receiving, A owning/resolving, redis-server, the Slack stub);
   Redis commands per click (`INFO commandstats` after `CONFIG RESETSTAT`); Slack Web API calls per click.
2. py-spy (if installed; on-CPU samples only, 1 kHz; the process is paused for each sample, as `--nonblocking`
   gives torn stacks): B's CPU split by phase of the click (ack path: aiohttp, app.py, Bolt + listener; card
   update; event loop) and by component (the innermost library frame). Raw stacks written.
3. pyinstrument (if installed; wall clock): a call tree of B, text and HTML, for browsing.
4. cProfile with a CPU-time clock: exact calls per click of plain functions (HMAC, json, parse_qs, logging).

    python tests/benchmarks/profile_click.py [--clicks 2000] [--out-dir artifacts/profile] [--out FILE]
    python tests/benchmarks/profile_click.py --small      # CI: 60 clicks (10 to warm up)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import importlib.util
import json
import pstats
import re
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
from redis.asyncio import Redis

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.store import connect
from tests.benchmarks.common import (
    REPO,
    Proc,
    click_body,
    fire,
    machine_info,
    proc_cpu_seconds,
    realistic_checkpoint,
    settled_counts,
    sign,
    start_redis,
    stop_redis,
    summary_ms,
    write_json,
)

# plain (non-coroutine) functions whose calls per click say what a click costs; cProfile counts every resumption of
# a coroutine as a call, so coroutines are left out
WATCH = {
    "HMAC-SHA256 signature checks": r"slack_sdk/signature/__init__.py:\d+\(is_valid\)$",
    "json.loads": r"json/__init__.py:\d+\(loads\)$",
    "json.dumps": r"json/__init__.py:\d+\(dumps\)$",
    "urllib.parse.parse_qs": r"urllib/parse.py:\d+\(parse_qs\)$",
    "Logger.debug/info calls (mostly filtered out)": r"logging/__init__.py:\d+\((debug|info)\)$",
    "log records emitted": r"logging/__init__.py:\d+\(handle\)$",
    "logging.getLogger": r"logging/__init__.py:\d+\(getLogger\)$",
    "redis-py commands packed": r"redis/asyncio/connection.py:\d+\(pack_commands?\)$",
    "Block Kit builders (bot.slack.blocks functions)": r"bot/slack/blocks/\w+\.py:\d+\(",
    "copy.deepcopy": r"copy.py:\d+\(deepcopy\)$",
}

# what a sample of B's stack is spent on: the phase by the outermost matching frame (root to leaf), the component by
# the innermost matching frame (leaf to root)
PHASES = [
    "card update (background task: blocks, chat.update)",
    "ack path: Bolt dispatch and our listener (decide step)",
    "ack path: app.py around Bolt (read body, signature check, gate, response)",
    "ack path: aiohttp server outside the handler (parse request, write response)",
    "event loop, sockets, subscription, sweeper, other",
]


def phase_of(stack: str) -> str:
    if "CardService." in stack:
        return PHASES[0]
    if "slack_events (bot/slackapp/app.py" in stack:
        return PHASES[1] if "async_dispatch" in stack else PHASES[2]
    if "aiohttp/web_" in stack:
        return PHASES[3]
    return PHASES[4]


COMPONENTS = [
    ("logging", r"logging/"),
    ("HMAC signature", r"signature/|hmac\.py"),
    ("json", r"json/"),
    ("urllib.parse", r"urllib/parse\.py"),
    ("Block Kit builders (bot/slack/blocks/)", r"bot/slack/blocks/"),
    ("redis-py", r"redis/"),
    ("slack_sdk Web API client", r"slack_sdk/"),
    ("slack_bolt", r"slack_bolt/"),
    ("aiohttp (server or client)", r"aiohttp/|aiohappyeyeballs/|multidict|yarl/"),
    ("our code (bot/)", r"bot/"),
    ("asyncio, selectors, sockets", r"asyncio/|selectors\.py|socket\.py"),
]


async def command_stats(redis: Redis) -> dict[str, int]:
    info = await redis.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in info.items()}


async def clicks_one_by_one(http: aiohttp.ClientSession, url: str, approvals: list[list[str]]) -> list[float]:
    times: list[float] = []
    for approval_id, channel, ts in approvals:
        body = click_body(approval_id, channel, ts)
        result = await fire(http, url, body, sign(body))
        if result.status != 200:
            raise RuntimeError(f"click failed: HTTP {result.status} {result.error}")
        times.append(result.done - result.started)
    return times


def watched_counts(path: Path, clicks: int) -> dict[str, float]:
    stats = pstats.Stats(str(path))
    table: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    out: dict[str, float] = {}
    for label, pattern in WATCH.items():
        regex = re.compile(pattern)
        calls = sum(row[1] for (file, line, func), row in table.items() if regex.search(f"{file}:{line}({func})"))
        out[label] = calls / clicks
    return out


def py_spy_split(path: Path) -> dict[str, Any]:
    """Share of B's on-CPU samples by phase of the click and by component, and the busiest leaf functions."""
    phases: collections.Counter[str] = collections.Counter()
    components: collections.Counter[tuple[str, str]] = collections.Counter()
    leaves: collections.Counter[str] = collections.Counter()
    total = 0
    component_res = [(label, re.compile(pattern)) for label, pattern in COMPONENTS]
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        total += count
        frames = stack.split(";")
        phase = phase_of(stack)
        component = next(
            (label for frame in reversed(frames) for label, regex in component_res if regex.search(frame)), "other"
        )
        phases[phase] += count
        components[(phase, component)] += count
        leaves[frames[-1]] += count
    if not total:
        return {"samples": 0}
    return {
        "samples": total,
        "share": {label: phases[label] / total for label in PHASES if phases[label]},
        "by_component": {
            phase: {c: n / total for (p, c), n in components.most_common() if p == phase} for phase in phases
        },
        "top_self": [(frame, count / total) for frame, count in leaves.most_common(15)],
    }


async def measure(clicks: int, out_dir: Path, *, slack_kind: str, warmup: int = 50) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-profile-"))
    out_dir.mkdir(parents=True, exist_ok=True)  # noqa: ASYNC240 - setup
    redis_server = start_redis()
    redis = connect(redis_server.url)
    procs: list[Proc] = []
    checkpoint, proposal = await realistic_checkpoint()
    result: dict[str, Any] = {"benchmark": "profile_click", "clicks": clicks}
    result["machine"] = machine_info()
    try:
        slack = await Proc.start("slack", {"kind": slack_kind}, log_dir=log_dir)
        options = {"redis_url": redis_server.url, "api_url": slack.info["api_url"]}
        a = await Proc.start("worker", options, log_dir=log_dir)
        b = await Proc.start("worker", options, log_dir=log_dir)
        procs += [slack, a, b]
        url = str(b.info["events_url"])
        async with aiohttp.ClientSession() as http:

            async def prepare(n: int = clicks) -> list[list[str]]:
                await a.call(http, "/reset", {})
                body = {"n": n, "mode": "expect", "checkpoint": checkpoint, "proposal": proposal}
                approvals: list[list[str]] = (await a.call(http, "/prepare", body))["approvals"]
                await settled_counts(slack, http, quiet=0.2)
                return approvals

            async def settle() -> None:
                waited = await a.call(http, "/wait", {"timeout": 60})
                if waited["missing"]:
                    raise RuntimeError(f"{len(waited['missing'])} approvals never resumed")
                await settled_counts(slack, http, quiet=0.2)  # the card updates are done

            await clicks_one_by_one(http, url, await prepare(warmup))  # warm up: auth.test, scripts, connections
            await settle()

            # 1. plain
            approvals = await prepare()
            pids = {"worker_B_receives": b.pid, "worker_A_owns": a.pid, "redis": redis_server.process.pid}
            pids["slack_stub"] = slack.pid
            slack_before = await settled_counts(slack, http, quiet=0.2)
            await redis.config_resetstat()
            cpu_before = {name: proc_cpu_seconds(pid) for name, pid in pids.items()}
            times = await clicks_one_by_one(http, url, approvals)
            await settle()
            cpu = {name: (proc_cpu_seconds(pid) - cpu_before[name]) * 1000 / clicks for name, pid in pids.items()}
            commands = await command_stats(redis)
            slack_after = await settled_counts(slack, http, quiet=0.2)
            result["plain"] = {
                "ack": summary_ms(times),
                "cpu_ms_per_click": cpu,
                "redis_commands_per_click": {
                    k: v / clicks for k, v in sorted(commands.items()) if not k.startswith(("info", "config"))
                },
                "slack_calls_per_click": {k: (v - slack_before.get(k, 0)) / clicks for k, v in slack_after.items()},
            }

            # 2. py-spy: on-CPU samples of B
            py_spy = shutil.which("py-spy")
            if py_spy is not None:
                approvals = await prepare()
                raw = out_dir / "click_py_spy.txt"
                spy = await asyncio.create_subprocess_exec(
                    py_spy, "record", "--pid", str(b.pid), "--rate", "1000", "--format", "raw",
                    "--output", str(raw), stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
                )  # fmt: skip
                await asyncio.sleep(1.0)  # py-spy attaches
                await clicks_one_by_one(http, url, approvals)
                await settle()
                spy.send_signal(signal.SIGINT)
                await spy.wait()
                result["py_spy"] = py_spy_split(raw) if raw.exists() else {"error": f"py-spy exited {spy.returncode}"}
                result["py_spy_raw"] = str(raw)
            else:
                result["py_spy"] = {"skipped": "pip install py-spy"}

            # 3. pyinstrument (wall clock)
            if importlib.util.find_spec("pyinstrument") is not None:
                approvals = await prepare()
                await b.call(http, "/profile/start", {"kind": "pyinstrument", "interval": 0.001})
                await clicks_one_by_one(http, url, approvals)
                await settle()
                await b.call(http, "/profile/stop", {"path": str(out_dir / "click_pyinstrument.txt")})
                result["pyinstrument"] = str(out_dir / "click_pyinstrument.txt")
            else:
                result["pyinstrument"] = "skipped: pip install pyinstrument"

            # 4. cProfile (CPU clock): exact counts
            approvals = await prepare()
            await b.call(http, "/profile/start", {"kind": "cprofile"})
            await clicks_one_by_one(http, url, approvals)
            await settle()
            await b.call(http, "/profile/stop", {"path": str(out_dir / "click_cprofile.txt")})
            result["cprofile"] = str(out_dir / "click_cprofile.txt")
            result["calls_per_click"] = watched_counts(out_dir / "click_cprofile.pstats", clicks)
    finally:
        for proc in procs:
            await proc.stop()
        await redis.aclose()
        stop_redis(redis_server)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clicks", type=int, default=2000)
    parser.add_argument("--slack", choices=("stub", "standin"), default="stub")
    parser.add_argument("--out-dir", type=Path, default=REPO / "artifacts" / "profile")
    parser.add_argument("--small", action="store_true", help="CI size: 60 clicks")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    started = time.perf_counter()
    clicks = 60 if args.small else args.clicks
    result = asyncio.run(measure(clicks, args.out_dir, slack_kind=args.slack, warmup=10 if args.small else 50))
    result["seconds"] = time.perf_counter() - started
    print(json.dumps(result, indent=2))
    write_json(result, args.out)
    plain = result["plain"]
    print(f"\nper click ({result['clicks']} clicks, one at a time, to worker B; A owns the approvals)")
    print("  CPU ms: " + ", ".join(f"{k} {v:.3f}" for k, v in plain["cpu_ms_per_click"].items()))
    print("  Redis commands: " + ", ".join(f"{k} {v:.2f}" for k, v in plain["redis_commands_per_click"].items()))
    print("  Slack calls: " + ", ".join(f"{k} {v:.2f}" for k, v in plain["slack_calls_per_click"].items()))
    print("  calls in B: " + ", ".join(f"{k} {v:.1f}" for k, v in result["calls_per_click"].items()))
    for label, share in (result["py_spy"].get("share") or {}).items():
        parts = result["py_spy"]["by_component"].get(label, {})
        print(f"  {share * 100:5.1f}%  {label}")
        print("           " + ", ".join(f"{c} {v * 100:.1f}%" for c, v in list(parts.items())[:5]))
    return 0


if __name__ == "__main__":
    sys.exit(main())

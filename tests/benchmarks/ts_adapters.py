"""The TypeScript adapters' cost per approval, against the bare client's `toolDecision` in the same run (as
frameworks.py measures the Python integrations).

One worker runs as its own process (Redis, the Approvals API), with an "always allow" rule (channel scope, exactly
these arguments) that approves `send_email` at once: no card, no person. Each series is one Node process
(tests/benchmarks/ts_adapters.mjs) running N approvals after 3 warm-up ones and printing its timings (JSON); the
series run in rounds, each round every series once in a rotated order, N/rounds approvals each:

* client: `client.toolDecision({ tool: "send_email", arguments: EMAIL })` (asked, answered by the rule, used once):
  the floor.
* <adapter>:gated: the adapter's run (`agent-approvals/ai-sdk`, `/mastra`, `/openai-agents`, `/langgraph`) of an
  agent whose framework mock model calls `send_email` once; timed from the model handing over the call to the tool
  running. <adapter>:ungated: the same agent, its tool needing no approval (what the framework itself costs).
  overhead = gated - ungated, reported with its ratio to the floor's p50.
* <adapter>:native: the same agent, its tool needing the framework's own approval, approved by the program at once
  with no bot (the AI SDK's `needsApproval` request answered by an approved `tool-approval-response`, OpenAI Agents'
  interruption `state.approve`d and the run resumed, LangGraph's `interrupt` resumed by `Command({ resume })`, Mastra's
  suspended call `approveToolCallGenerate`d). native cost = native - ungated: the framework's own approval round trip.
  The goal's ratio, `ratio_to_native_p50`: overhead / (native cost + floor), the adapter against the framework's own
  approval plus one bare `toolDecision`, all of the same run; and, less moved by a shared machine's load, the same
  ratio in each round (its series a few seconds apart) and their median, `ratio_to_native_median_of_rounds`.

The AI SDK and Mastra run on Node 22.

The frameworks are the suite's project's (tests/agents/typescript/project, installed by the README's test command),
the package built there with every adapter (`tests.support.typescript.build`); node runs the series with
`--preserve-symlinks`, so that the linked package finds them.

No timing is asserted: the figures are printed (JSON) and written with --out.

    python tests/benchmarks/ts_adapters.py [--approvals 200] [--rounds 8] [--out FILE]
    python tests/benchmarks/ts_adapters.py --small      # CI: 8 approvals per series, in 1 round (one Node process each)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.core.allow_rules import Rule, exact_match
from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from tests.benchmarks.common import Proc, machine_info, start_redis, stop_redis, summary_ms, write_json
from tests.conftest import BOB, BOT_TOKEN, SALES, SIGNING_SECRET
from tests.support.typescript import PACKAGE, PRESERVE, PROJECT, build, link_modules, node, node22

HERE = Path(__file__).resolve().parent
EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}  # the rule approves exactly this call
ADAPTERS = ("ai-sdk", "mastra", "openai-agents", "langgraph")
NODE22 = ("ai-sdk", "mastra")
WARMUP = 3
MODES = ("gated", "ungated", "native")


def built() -> None:
    """The package's dist/ compiled from its sources now, every adapter in it (built only when a source is newer)."""
    adapters = [PACKAGE / "dist" / "src" / "adapters" / f"{adapter}.js" for adapter in ADAPTERS]
    newest = max(p.stat().st_mtime for p in (PACKAGE / "src").rglob("*.ts"))
    if not all(a.is_file() and a.stat().st_mtime >= newest for a in adapters) or not (PROJECT / "dist").is_dir():
        build()


async def one_series(where: Path, series: str, count: int, env: dict[str, str]) -> list[float]:
    binary = node22() if series.split(":")[0] in NODE22 else node()
    process = await asyncio.create_subprocess_exec(
        binary, str(where / "ts_adapters.mjs"), series, str(count), str(WARMUP), cwd=where, env=env,
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(process.communicate(), 600)
    if process.returncode != 0:
        raise RuntimeError(f"{series}: {err.decode()[-3000:]}")
    return list(json.loads(out.decode().strip().splitlines()[-1])["seconds"])


async def measure(approvals: int, rounds: int) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-ts-adapters-"))
    where = Path(tempfile.mkdtemp(prefix="bench-ts-node-"))
    built()
    link_modules(where)
    (where / "ts_adapters.mjs").write_text((HERE / "ts_adapters.mjs").read_text())
    redis_server = start_redis()
    slack = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    worker: Proc | None = None
    redis = connect(redis_server.url)
    names = ["client", *(f"{a}:{m}" for a in ADAPTERS for m in MODES)]
    series: dict[str, list[float]] = {name: [] for name in names}
    rounds_of: list[dict[str, list[float]]] = []
    try:
        worker = await Proc.start("worker", {"redis_url": redis_server.url, "api_url": slack.api_url}, log_dir=log_dir)
        slack.events_url = str(worker.info["events_url"])
        store = Store(redis)
        made = await store.api_keys.create("bench", [SALES], by=BOB, max_pending=100_000, per_minute=100_000)
        assert made is not None
        rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match("send_email", EMAIL),
                    created_by=BOB, created_at=0, expires_at=2e10)
        assert await store.rules.create(rule)
        env = {**os.environ, "AGENT_APPROVALS_URL": str(worker.info["url"]), "AGENT_APPROVALS_KEY": made.key,
               "APPROVALS_CHANNEL": SALES, "NODE_OPTIONS": PRESERVE}
        per_round = max(1, approvals // rounds)
        for i in range(rounds):
            shift = i % len(names)
            this_round: dict[str, list[float]] = {}
            for name in names[shift:] + names[:shift]:
                this_round[name] = await one_series(where, name, per_round, env)
                series[name] += this_round[name]
            rounds_of.append(this_round)
    finally:
        await redis.aclose()
        if worker is not None:
            await worker.stop()
        await slack.stop()
        stop_redis(redis_server)
    return {"benchmark": "ts_adapters", "machine": machine_info(), "approvals": len(series["client"]),
            "rounds": rounds, **report(series, rounds_of)}


def to_native(series: dict[str, list[float]], adapter: str) -> float:
    """overhead / (native cost + floor), of the p50s of `series`."""
    gated, ungated, native = (summary_ms(series[f"{adapter}:{mode}"])["p50_ms"] for mode in MODES)
    return (gated - ungated) / (max(0.0, native - ungated) + summary_ms(series["client"])["p50_ms"])


def report(series: dict[str, list[float]], rounds_of: list[dict[str, list[float]]]) -> dict[str, Any]:
    floor = summary_ms(series["client"])
    out: dict[str, Any] = {"floor_tool_decision_ms": floor}
    for adapter in ADAPTERS:
        gated, ungated, native = (summary_ms(series[f"{adapter}:{mode}"]) for mode in MODES)
        overhead = gated["p50_ms"] - ungated["p50_ms"]
        native_cost = max(0.0, native["p50_ms"] - ungated["p50_ms"])
        out[adapter] = {"gated_ms": gated, "ungated_ms": ungated, "native_ms": native, "overhead_p50_ms": overhead,
                        "native_cost_p50_ms": native_cost,
                        "ratio_gated_to_floor_p50": gated["p50_ms"] / floor["p50_ms"],
                        "ratio_overhead_to_floor_p50": overhead / floor["p50_ms"],
                        "ratio_to_native_p50": overhead / (native_cost + floor["p50_ms"]),
                        "ratio_to_native_rounds": [to_native(one, adapter) for one in rounds_of],
                        "ratio_to_native_median_of_rounds": statistics.median(
                            to_native(one, adapter) for one in rounds_of)}
    return out


def summary_lines(result: dict[str, Any]) -> list[str]:
    floor = result["floor_tool_decision_ms"]
    lines = [f"a rule approves, {result['approvals']} per series: floor toolDecision p50 {floor['p50_ms']:.2f} ms,"
             f" p90 {floor['p90_ms']:.2f} ms",
             f"{'adapter':14} {'gated p50':>10} {'ungated':>8} {'native':>7} {'overhead':>9} {'native cost':>12}"
             f" {'overhead x floor':>17} {'x (native + floor)':>19} {'median of rounds':>17}"]
    for adapter in ADAPTERS:
        a = result[adapter]
        lines.append(f"{adapter:14} {a['gated_ms']['p50_ms']:10.2f} {a['ungated_ms']['p50_ms']:8.2f}"
                     f" {a['native_ms']['p50_ms']:7.2f} {a['overhead_p50_ms']:9.2f} {a['native_cost_p50_ms']:12.2f}"
                     f" {a['ratio_overhead_to_floor_p50']:17.2f} {a['ratio_to_native_p50']:19.2f}"
                     f" {a['ratio_to_native_median_of_rounds']:17.2f}")
    return lines


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--approvals", type=int, default=200, help="rule-approved runs per series (after warm-up)")
    parser.add_argument("--rounds", type=int, default=8, help="rounds of one Node process per series each")
    parser.add_argument("--small", action="store_true", help="CI size: 8 approvals per series, in 1 round")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    approvals, rounds = (8, 1) if args.small else (args.approvals, args.rounds)
    result = asyncio.run(measure(approvals, rounds))
    print(json.dumps(result, indent=2))
    print("\n".join(summary_lines(result)))
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

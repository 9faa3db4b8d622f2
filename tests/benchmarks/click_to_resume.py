"""Click -> agent resumed, measured next to the floor in the same run, same worker and cross worker.

Ours: a signed `block_actions` POST reaches the real Bolt app at `/slack/events`; the listener runs the atomic
decide step (Lua), which publishes to the owner worker; the owner's one subscription resolves the future the input
function awaits. We time from just before the POST until a task awaiting that future (linked to a cancellation
token, as `RunManager.request_approval` awaits it) runs again. The HTTP answer (ack) is timed too.

* same worker: the click goes to worker A, which owns the approval (all in this process, one event loop).
* cross worker: the click goes to worker B (another process); A owns the approval; A's subscription resolves it.
* input_func (same worker): the whole waiting end, `RunManager.request_approval`, which also writes the run's
  status and posts the decision in the run's thread *before* it returns to the agent.

Floor: a bare aiohttp handler doing one Redis `SET NX` + `PUBLISH`, resolving a waiting future through one
subscription: the least any design built on HTTP + Redis pub/sub can cost here. `floor_same` runs its handler in
this process, `floor_cross` in worker B's process (the same hop as cross worker).

Approvals are created as `request_approval` creates them (with a real ~3 KB `team.save_state()` checkpoint) and their
cards are posted to the Slack stand-in (another process), so the card update after each decision succeeds. All
series run interleaved, in a rotating order, on the same redis-server.

    python tests/benchmarks/click_to_resume.py [--mode same|cross|both] [--decisions 2000] [--out FILE]
    python tests/benchmarks/click_to_resume.py --small      # CI: 30 decisions (10 warm-up), both modes
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent_approvals.approver import ApprovalRequest, Decision

from bot.core.records import RunRecord
from bot.runs.run_state import RunState
from tests.benchmarks.common import (
    FloorWaiter,
    Proc,
    bench_run,
    click_body,
    machine_info,
    new_approval,
    realistic_checkpoint,
    settled_counts,
    sign,
    start_floor_server,
    start_redis,
    stop_redis,
    summary_ms,
    worker_env,
    write_json,
)
from tests.conftest import Worker, start_worker

WARMUP = 50
Sample = tuple[float, float]  # (resumed, acked) seconds after the POST started


async def _resumed_at(future: asyncio.Future[Any]) -> float:
    await future
    return time.perf_counter()


class Bench:
    def __init__(self, http: aiohttp.ClientSession, a: Worker, checkpoint: str, proposal: str) -> None:
        self.http = http
        self.a = a
        self.checkpoint = checkpoint
        self.proposal = proposal
        self.floor = FloorWaiter(a.services.settings.redis_url.get_secret_value())
        self.floor_same_url = ""
        self.b_events_url = ""
        self.b_floor_url = ""
        self.run: RunRecord | None = None
        self.n = 0

    async def _post(self, url: str, body: bytes, headers: dict[str, str] | None = None) -> float:
        async with self.http.post(url, data=body, headers=headers) as response:
            if response.status != 200:
                raise RuntimeError(f"{url}: HTTP {response.status}: {await response.text()}")
            await response.read()
        return time.perf_counter()

    async def ours(self, events_url: str) -> Sample:
        """A pending approval owned by A, with its card; a reviewer clicks Approve at `events_url`."""
        services = self.a.services
        self.n += 1
        approval = new_approval(services.worker_id, proposal=f"{self.proposal}\n#{self.n}")
        future = services.waiter.expect(approval.id)
        token_task = asyncio.create_task(_linked(future))
        await services.store.approvals.create(approval, checkpoint=self.checkpoint)
        channel, ts = await services.cards.post(approval)
        await services.store.approvals.attach_card(approval.id, channel=channel, ts=ts)
        body = click_body(approval.id, channel, ts)
        headers = sign(body)
        started = time.perf_counter()
        acked = await self._post(events_url, body, headers)
        resumed = await token_task
        services.waiter.forget(approval.id)
        return resumed - started, acked - started

    async def floor_click(self, url: str) -> Sample:
        self.n += 1
        key = f"f{self.n}-{time.time_ns()}"
        waiting = asyncio.create_task(_resumed_at(self.floor.expect(key)))
        started = time.perf_counter()
        acked = await self._post(url, f"id={key}".encode(), {"Content-Type": "application/x-www-form-urlencoded"})
        resumed = await waiting
        return resumed - started, acked - started

    async def input_func(self) -> Sample:
        """The real waiting end: `RunManager.request_approval` returns (what `input_func` returns after)."""
        services = self.a.services
        if self.run is None:
            self.run = await bench_run(services)
        self.n += 1
        request = ApprovalRequest(
            approval_id=f"bench-{self.n}-{time.time_ns()}",
            proposal=f"{self.proposal}\n#{self.n}",
            author="assistant",
            checkpoint=self.checkpoint,
        )
        returned: list[float] = []
        state = RunState(run=self.run)

        async def agent() -> Decision:
            decision = await services.runs.request_approval(state, request, None)
            returned.append(time.perf_counter())
            return decision

        task = asyncio.create_task(agent())
        # until it awaits the decision: `ApprovalService.ask` links the future to the run's cancellation token
        while not state.token._callbacks:  # noqa: ASYNC110 - setup, not timed
            await asyncio.sleep(0.0005)
        approval = await services.store.approvals.get(request.approval_id)
        assert approval is not None
        body = click_body(request.approval_id, approval.card_channel, approval.card_ts)
        headers = sign(body)
        started = time.perf_counter()
        acked = await self._post(self.a.url + "/slack/events", body, headers)
        decision = await task
        assert decision.outcome == "approved", decision
        return returned[0] - started, acked - started


async def _linked(future: asyncio.Future[None]) -> float:
    """Await the wake-up as `ApprovalService.ask` does (future linked to a cancellation token)."""
    from autogen_core import CancellationToken

    token = CancellationToken()
    token.link_future(future)
    await future
    return time.perf_counter()


async def measure(
    decisions: int, mode: str, *, with_input_func: bool, slack_latency_ms: float, warmup: int = WARMUP
) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-click-"))
    redis_server = start_redis()
    procs: list[Proc] = []
    a: Worker | None = None
    series: dict[str, list[Sample]] = {}
    try:
        # the stand-in has no latency knob: with --slack-latency-ms the stub answers after that long
        kind = "stub" if slack_latency_ms else "standin"
        slack = await Proc.start("slack", {"kind": kind, "latency_ms": slack_latency_ms}, log_dir=log_dir)
        procs.append(slack)
        env = worker_env(api_url=str(slack.info["api_url"]), redis_url=redis_server.url)
        a = await start_worker(env)
        checkpoint, proposal = await realistic_checkpoint()
        async with aiohttp.ClientSession() as http:
            bench = Bench(http, a, checkpoint, proposal)
            await bench.floor.start()
            floor_same = await start_floor_server(redis_server.url)
            steps: dict[str, Callable[[], Awaitable[Sample]]] = {}
            if mode in ("same", "both"):
                steps["ours_same"] = lambda: bench.ours(a.url + "/slack/events")
                steps["floor_same"] = lambda: bench.floor_click(floor_same.url)
                if with_input_func:
                    steps["ours_input_func"] = bench.input_func
            if mode in ("cross", "both"):
                b = await Proc.start(
                    "worker",
                    {"redis_url": redis_server.url, "api_url": slack.info["api_url"]},
                    log_dir=log_dir,
                )
                procs.append(b)
                steps["ours_cross"] = lambda: bench.ours(str(b.info["events_url"]))
                steps["floor_cross"] = lambda: bench.floor_click(str(b.info["floor_url"]))
            names = list(steps)
            series = {name: [] for name in names}
            for i in range(decisions + warmup):
                shift = i % len(names)
                for name in names[shift:] + names[:shift]:  # rotate the order: no series always goes first
                    sample = await steps[name]()
                    if i >= warmup:
                        series[name].append(sample)
            await a.services.background.drain()
            await a.services.cards.drain()  # queued card redraws
            await floor_same.stop()
            await bench.floor.stop()
            slack_calls = await settled_counts(slack, http)
    finally:
        if a is not None:
            await a.stop()
        for proc in procs:
            await proc.stop()
        stop_redis(redis_server)
    return report(series, decisions=decisions, mode=mode, slack_calls=slack_calls, slack_latency_ms=slack_latency_ms)


def report(
    series: dict[str, list[Sample]], *, decisions: int, mode: str, slack_calls: dict[str, int], slack_latency_ms: float
) -> dict[str, Any]:
    resumed = {name: summary_ms([s[0] for s in samples]) for name, samples in series.items()}
    acked = {name: summary_ms([s[1] for s in samples]) for name, samples in series.items()}
    ratios: dict[str, dict[str, float]] = {}
    for ours, floor in (("ours_same", "floor_same"), ("ours_cross", "floor_cross"), ("ours_cross", "floor_same")):
        if ours in resumed and floor in resumed:
            ratios[f"{ours}/{floor}"] = {
                "p50": resumed[ours]["p50_ms"] / resumed[floor]["p50_ms"],
                "p99": resumed[ours]["p99_ms"] / resumed[floor]["p99_ms"],
            }
    if "ours_input_func" in resumed and "floor_same" in resumed:
        ratios["ours_input_func/floor_same"] = {
            "p50": resumed["ours_input_func"]["p50_ms"] / resumed["floor_same"]["p50_ms"],
            "p99": resumed["ours_input_func"]["p99_ms"] / resumed["floor_same"]["p99_ms"],
        }
    goals = {
        name: {"p50_within_2x_floor": r["p50"] <= 2.0, "p99_under_10ms": resumed[name.split("/")[0]]["p99_ms"] < 10.0}
        for name, r in ratios.items()
    }
    return {
        "benchmark": "click_to_resume",
        "mode": mode,
        "decisions": decisions,
        "slack_latency_ms": slack_latency_ms,
        "machine": machine_info(),
        "resumed": resumed,
        "acked": acked,
        "ratios": ratios,
        "goals": goals,
        "slack_calls": slack_calls,
        "samples_ms": {name: [round(s[0] * 1000, 4) for s in samples] for name, samples in series.items()},
    }


def print_table(result: dict[str, Any]) -> None:
    print(f"\nclick -> agent resumed ({result['decisions']} decisions per series, mode {result['mode']})")
    print(f"{'':18} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'mean ms':>8} {'ack p50':>8} {'ack p99':>8}")
    for name, row in result["resumed"].items():
        ack = result["acked"][name]
        print(
            f"{name:18} {row['p50_ms']:8.2f} {row['p90_ms']:8.2f} {row['p99_ms']:8.2f} {row['mean_ms']:8.2f}"
            f" {ack['p50_ms']:8.2f} {ack['p99_ms']:8.2f}"
        )
    for name, ratio in result["ratios"].items():
        print(f"{name:30} p50 {ratio['p50']:.2f}x  p99 {ratio['p99']:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mode", choices=("same", "cross", "both"), default="both")
    parser.add_argument("--decisions", type=int, default=2000, help="decisions per series (after 50 warm-up)")
    parser.add_argument("--small", action="store_true", help="CI size: 30 decisions (after 10 warm-up)")
    parser.add_argument("--no-input-func", action="store_true", help="skip the request_approval series")
    parser.add_argument(
        "--slack-latency-ms", type=float, default=0.0, help="use the Slack stub answering after this many ms"
    )
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON (with raw samples) here")
    args = parser.parse_args()
    decisions = 30 if args.small else args.decisions
    result = asyncio.run(
        measure(
            decisions,
            args.mode,
            with_input_func=not args.no_input_func,
            slack_latency_ms=args.slack_latency_ms,
            warmup=10 if args.small else WARMUP,
        )
    )
    print(json.dumps({k: v for k, v in result.items() if k != "samples_ms"}, indent=2))
    print_table(result)
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

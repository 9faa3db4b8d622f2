"""Remembered decisions (#16): what deciding whether an "always allow" rule matches adds to a tool call.

Goal (issue #16): deciding whether a rule matches adds no Slack call and at most one Redis round trip to a tool call.

Real parts: a throwaway redis-server; the Slack stub (`slack_proc.py`, kind `stub`: a Web API answering `ok` at
once and counting calls by method) in its own process; one worker's services built by
`bot.root.create_services` as a worker builds them, with one HTTP session to Slack as `Services.start` opens
it. The worker's periodic loops (subscription, sweeper, nudger, heartbeat) are not started: they are not on a tool
call's path, and without them every Redis command the server counts comes from the calls measured. Tool calls are
`send_email` calls made by the real tool (`require_approval(SendEmailTool(...)).request_for(arguments)`), asked
through the real `ApprovalService.ask` in runs with a posted header (`common.bench_run`), in channels holding:

* `none`: no rule;  `ten`: 10 live rules;  `hundred`: 100 live rules (the most a channel may hold), none matching
  (a third exact rules of other arguments, a third `to` ends with another domain, a third on `subject` and `to`);
* `match`: 99 of those and, created last (so checked last), `send_email where to ends with "@example.com"`;
* `one`: only that matching rule.

1. Counts, per tool call (`--calls` asks per case). Client side: every Redis command and Slack Web API call made
   while the call was asked, recorded through a context variable (so they are the call's own), split into those
   on the call's path (made before `ask` returned the rule's decision, or before it began waiting for a person)
   and those in background tasks; Redis round trips on the path are counted as *sequential* round trips
   (overlapping commands, e.g. two sent together by `asyncio.gather`, are one). Server side, as a check:
   `INFO commandstats` deltas and the stub's counts, divided by the number of calls.
   The baseline is a tool call the rule check skips (one that may have run already: `maybe_ran`), which is
   asked exactly as every tool call was before #16.
2. Latency, every series interleaved in a rotating order, `--rounds` rounds of `--samples` each (after warm-up);
   each round's p50 is divided by the floor's p50 in that round, and medians over rounds are reported. The floor
   is a bare Redis `PING` round trip through the same client. Series: the settings read alone; the settings and
   rules read together (what `ask` read until #52: it now decides on the worker's copy of the settings, which the
   open step checks, and reads the rules alone); lookup + match (the chain's `rules_of`, `by_rule`) with 0, 10,
   100 rules, none matching; lookup + match + use with a match (1 rule, and 100 rules with the match last); the
   whole `ask` of a matched call (returns the decision); and `ask` until it waits for a person (the card path: the
   rules read, approval stored, card posted and noted, run marked waiting, "Waiting for approval" posted) for the
   baseline call and for calls no rule matches (0 and 100 rules).
3. Matching CPU, in-process (`rules_cpu.py`, with the rules and the call all three use): `Match.matches` per call
   (exact and 5-condition rules, matching or not), and `Rule.approves` over 100 rules, as `by_rule` loops; plus
   decoding 100 stored rules (`candidates`).

Nothing here asserts on time; it exits 1 only if a call is decided wrongly (a rule approves what it should not,
or misses what it should approve).

    python tests/benchmarks/rules_check.py [--calls 200] [--rounds 5] [--samples 400] [--out FILE]
    python tests/benchmarks/rules_check.py --small     # CI: 10 calls per case, 2 rounds of 20 samples
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from agent_approvals.approver import ApprovalRequest, Decision
from agent_approvals.integrations.autogen.tools import ApprovalRequiredTool, require_approval
from autogen_core import CancellationToken
from redis.asyncio.client import Redis

from bot.__main__ import use_event_loop
from bot.approvals.chain import Ask, Decided, Step
from bot.approvals.deciders.policies import Policies
from bot.approvals.deciders.rules import Rules
from bot.approvals.opening import new_approval
from bot.approvals.service import ApprovalService
from bot.core.records import RunRecord
from bot.core.settings import Settings
from bot.root import create_services
from bot.runs.email_tool import SendEmailTool
from bot.services import Services
from tests.benchmarks.common import (
    Proc,
    bench_run,
    machine_info,
    percentile,
    settled_counts,
    start_redis,
    stop_redis,
    worker_env,
    write_json,
)
from tests.benchmarks.recording import RECORDER, Recorder, instrumented, sequential_round_trips
from tests.benchmarks.rules_cpu import ARGUMENTS, MATCHING, channel_rule, measure_cpu, other_match
from tests.benchmarks.rules_figures import figures, goals, print_table

CHANNELS = {
    "none": "C0RULES000",
    "ten": "C0RULES010",
    "hundred": "C0RULES100",
    "match": "C0MATCH100",
    "one": "C0MATCH1",
}
WARMUP = 10


# ------------------------------------------------------------------------------------------------ rules


async def fill_rules(services: Services) -> dict[str, int]:
    """The channels' rules, created through the store as the rule book creates them; rules per channel."""
    now = time.time()
    plan = {"none": [], "ten": [other_match(i) for i in range(10)], "hundred": [other_match(i) for i in range(100)],
            "match": [*(other_match(i) for i in range(99)), MATCHING], "one": [MATCHING]}
    for name, matches in plan.items():
        for match in matches:
            created = await services.store.rules.create(channel_rule(CHANNELS[name], match, now=now))
            assert created.startswith("R"), created
    return {name: len(await services.store.rules.of_channel(CHANNELS[name], now=time.time())) for name in plan}


# ------------------------------------------------------------------------------------------------ asking


class Waiting(CancellationToken):
    """A run's token that notes when `ask` links the wait for a person to it (the card path is done)."""

    def __init__(self) -> None:
        super().__init__()
        self.started = self.at = 0.0
        self.linked = asyncio.Event()

    def link_future(self, future: asyncio.Future[Any]) -> asyncio.Future[Any]:  # type: ignore[override]
        if not self.at:
            self.at = time.perf_counter()
            self.linked.set()
        return super().link_future(future)


@dataclass(frozen=True, slots=True)
class Asked:
    decision: Decision | None  # None: a card was posted and `ask` waited for a person
    seconds: float  # until the decision came back, or until it waited
    end: float  # perf_counter then


class Bench:
    def __init__(self, services: Services, runs: dict[str, RunRecord], tool: ApprovalRequiredTool) -> None:
        self.services = services
        self.approvals = services.approvals
        self.runs = runs
        self.tool = tool

    def request(self, *, maybe_ran: bool = False) -> ApprovalRequest:
        request = self.tool.request_for(ARGUMENTS)
        return replace(request, maybe_ran=True) if maybe_ran else request

    async def ask(self, case: str, request: ApprovalRequest, *, recorder: Recorder | None = None) -> Asked:
        """`ApprovalService.ask` as `RunManager.request_approval` calls it; a call it posts a card for is
        left (cancelled) as soon as it waits for a person."""
        run = self.runs[case]
        token = Waiting()

        async def asking() -> tuple[Decision, float]:
            if recorder is not None:
                RECORDER.set(recorder)
            token.started = time.perf_counter()
            decision = await self.approvals.ask(
                request, run=run, fence=(self.services.worker_id, run.epoch), tokens=(token,)
            )
            return decision, time.perf_counter()

        task = asyncio.create_task(asking())
        linked = asyncio.create_task(token.linked.wait())
        await asyncio.wait({task, linked}, return_when=asyncio.FIRST_COMPLETED)
        if task.done() and not task.cancelled():
            linked.cancel()
            decision, end = task.result()
            return Asked(decision, end - token.started, end)
        token.cancel()  # leave the wait (as a cancelled run does)
        await asyncio.wait({task})
        if not task.cancelled():
            task.result()  # raises what went wrong
            raise RuntimeError(f"{case}: ask returned a decision after it waited")
        return Asked(None, token.at - token.started, token.at)

    async def settle(self) -> None:
        """Let what the call left in the background (its thread post, Home refreshes) finish."""
        await self.services.background.drain(grace=10.0)


# ------------------------------------------------------------------------------------------------ 1. counts

COUNT_CASES = {
    # name: (channel case, the call may be decided by a rule, expected to be approved by a rule)
    "baseline: no rule check (maybe_ran)": ("hundred", False, False),
    "no rules in the channel": ("none", True, False),
    "100 live rules, none matching": ("hundred", True, False),
    "a matching rule (alone)": ("one", True, True),
    "a matching rule (100 rules, it last)": ("match", True, True),
}


async def command_calls(redis: Redis) -> dict[str, int]:
    stats = await redis.info("commandstats")
    return {name.removeprefix("cmdstat_"): int(row["calls"]) for name, row in stats.items()}


async def count_case(
    bench: Bench, http: aiohttp.ClientSession, slack: Proc, name: str, calls: int, errors: list[str]
) -> dict[str, Any]:
    case, remembered, approved = COUNT_CASES[name]
    services = bench.services
    for _ in range(3):  # warm: scripts loaded, connections open
        await bench.ask(case, bench.request(maybe_ran=not remembered))
    await bench.settle()
    await slack.call(http, "/reset", {})
    before = await command_calls(services.redis)
    path_commands: Counter[str] = Counter()
    spawned_commands: Counter[str] = Counter()
    slack_before: Counter[str] = Counter()
    slack_after: Counter[str] = Counter()
    trips: list[int] = []
    commands_on_path: list[int] = []
    seconds: list[float] = []
    with instrumented(services):
        for _ in range(calls):
            recorder = Recorder()
            asked = await bench.ask(case, bench.request(maybe_ran=not remembered), recorder=recorder)
            await bench.settle()
            if (asked.decision is not None) != approved or (asked.decision and asked.decision.outcome != "approved"):
                errors.append(f"{name}: decided {asked.decision} (expected {'a rule' if approved else 'a card'})")
            redis_path = [c for c in recorder.calls if c.what == "redis" and not c.spawned and c.start < asked.end]
            trips.append(sequential_round_trips(redis_path))
            commands_on_path.append(sum(len(c.names) for c in redis_path))
            for c in recorder.calls:
                if c.what == "redis":
                    (path_commands if c in redis_path else spawned_commands).update(c.names)
                elif c.start < asked.end:
                    slack_before.update(c.names)
                else:
                    slack_after.update(c.names)
            seconds.append(asked.seconds)
    after = await command_calls(services.redis)
    stub = await settled_counts(slack, http, quiet=0.15)
    server = {
        cmd: round((n - before.get(cmd, 0)) / calls, 3)
        for cmd, n in sorted(after.items())
        if n > before.get(cmd, 0) and cmd != "info"
    }
    if not path_commands["EVALSHA"]:  # every ask's open step is one: a recorder that misses it counts nothing true
        errors.append(f"{name}: the recorder saw no Lua step on the path (Redis ran {server.get('evalsha', 0)} a call)")
    return {
        "channel_rules": case,
        "calls": calls,
        "decided_by": "rule" if approved else "a person (card posted)",
        "redis_on_path": {
            "round_trips": statistics.median(trips),
            "round_trips_max": max(trips),
            "commands": statistics.median(commands_on_path),
            "by_command": {k: v / calls for k, v in sorted(path_commands.items())},
        },
        "redis_in_background": {k: v / calls for k, v in sorted(spawned_commands.items())},
        "redis_server_commandstats": server,
        "slack_before_return": {k: v / calls for k, v in sorted(slack_before.items())},
        "slack_after_return": {k: v / calls for k, v in sorted(slack_after.items())},
        "slack_stub_counts": {k: v / calls for k, v in sorted(stub.items())},
        "p50_ms": statistics.median(seconds) * 1000,
    }


# ------------------------------------------------------------------------------------------------ 2. latency


def latency_series(bench: Bench) -> dict[str, Callable[[], Awaitable[float]]]:
    approvals = bench.approvals
    redis = bench.services.redis
    ch = CHANNELS

    async def ping() -> float:
        start = time.perf_counter()
        await redis.ping()
        return time.perf_counter() - start

    async def settings() -> float:
        start = time.perf_counter()
        await approvals.channel_settings(ch["hundred"])
        return time.perf_counter() - start

    def reads(case: str) -> Callable[[], Awaitable[float]]:
        async def step() -> float:
            start = time.perf_counter()
            await asyncio.gather(approvals.channel_settings(ch[case]), link(approvals, Rules).rules_of(ch[case]))
            return time.perf_counter() - start

        return step

    def lookup(case: str, *, matches: bool) -> Callable[[], Awaitable[float]]:
        async def step() -> float:
            request = bench.request()
            run = bench.runs[case]
            settings = await approvals.channel_settings(run.channel)  # the chain's walk up to its rules link
            asked = Ask(request, run, bench.services.worker_id, settings)
            approval = new_approval(request, run=run, owner=asked.owner, settings=settings, default_channel="C0")
            judged = await link(approvals, Policies).judge(Step(asked, approval))
            start = time.perf_counter()
            went = await link(approvals, Rules).decide(Step(asked, approval, judged))  # the rules read, matched
            opened = await approvals.chain.end.settle(went) if isinstance(went, Decided) else None  # stored
            decision = opened.decided if opened is not None else None  # and used
            took = time.perf_counter() - start
            if (decision is not None) != matches:
                raise RuntimeError(f"lookup in {case}: decision {decision}")
            if decision is not None:
                await bench.settle()  # its thread line, out of the next sample's way
            return took

        return step

    def ask(case: str, *, maybe_ran: bool = False, matches: bool = False) -> Callable[[], Awaitable[float]]:
        async def step() -> float:
            asked = await bench.ask(case, bench.request(maybe_ran=maybe_ran))
            await bench.settle()
            if (asked.decision is not None) != matches:
                raise RuntimeError(f"ask in {case}: decision {asked.decision}")
            return asked.seconds

        return step

    def policies_first(case: str) -> Callable[[], Awaitable[float]]:
        """The matched ask as a run's step went before the decision chain (#52): its gate asked the policies first
        (`policy_first`, one evaluation), then `ask` judged it again (the same parts, the first evaluation added)."""
        async def step() -> float:
            request = bench.request()
            run = bench.runs[case]
            start = time.perf_counter()
            settings = await approvals.channel_settings(run.channel)
            asked = Ask(request, run, bench.services.worker_id, settings)
            await link(approvals, Policies).judge(Step(asked, new_approval(
                request, run=run, owner=asked.owner, settings=settings, default_channel="C0")))
            took = time.perf_counter() - start
            decided = await bench.ask(case, request)
            await bench.settle()
            if decided.decision is None:
                raise RuntimeError(f"policies first in {case}: no decision")
            return took + decided.seconds

        return step

    async def raw_rules() -> float:
        start = time.perf_counter()
        await redis.hgetall(bench.services.store.keys.rules(ch["hundred"]))
        return time.perf_counter() - start

    return {
        "floor: Redis PING": ping,
        "settings read alone": settings,
        "HGETALL of 100 rules, not decoded": raw_rules,
        "settings + rules read, 0 rules": reads("none"),
        "settings + rules read, 100 rules": reads("hundred"),
        "lookup + match, 0 rules": lookup("none", matches=False),
        "lookup + match, 10 rules, none matching": lookup("ten", matches=False),
        "lookup + match, 100 rules, none matching": lookup("hundred", matches=False),
        "lookup + match + use, 1 rule matching": lookup("one", matches=True),
        "lookup + match + use, 100 rules, the last matching": lookup("match", matches=True),
        "ask, matched (1 rule)": ask("one", matches=True),
        "ask, matched (1 rule), the policies asked first (before the chain)": policies_first("one"),
        "ask, matched (100 rules, the last matching)": ask("match", matches=True),
        "ask until it waits, no rule check (maybe_ran)": ask("hundred", maybe_ran=True),
        "ask until it waits, 0 rules": ask("none"),
        "ask until it waits, 100 rules, none matching": ask("hundred"),
    }


async def measure_latency(bench: Bench, *, rounds: int, samples: int) -> dict[str, Any]:
    steps = latency_series(bench)
    names = list(steps)
    floor = names[0]
    per_round: list[dict[str, list[float]]] = []
    for _ in range(rounds):
        series: dict[str, list[float]] = {name: [] for name in names}
        for i in range(samples + WARMUP):
            shift = i % len(names)
            for name in names[shift:] + names[:shift]:  # rotate the order: no series always goes first
                took = await steps[name]()
                if i >= WARMUP:
                    series[name].append(took)
        per_round.append(series)

    def p(values: list[float], q: float) -> float:
        return percentile(values, q) * 1000

    out: dict[str, Any] = {}
    for name in names:
        p50s = [p(r[name], 0.5) for r in per_round]
        p90s = [p(r[name], 0.9) for r in per_round]
        ratios = [p(r[name], 0.5) / p(r[floor], 0.5) for r in per_round]
        out[name] = {
            "p50_ms": statistics.median(p50s),
            "p90_ms": statistics.median(p90s),
            "p50_ms_runs": [round(v, 4) for v in p50s],
            "p50_over_floor": statistics.median(ratios),
            "p50_over_floor_runs": [round(v, 3) for v in ratios],
        }

    def diff(a: str, b: str) -> dict[str, float]:
        deltas = [p(r[a], 0.5) - p(r[b], 0.5) for r in per_round]
        over_floor = [(p(r[a], 0.5) - p(r[b], 0.5)) / p(r[floor], 0.5) for r in per_round]
        return {"ms": statistics.median(deltas), "over_floor": statistics.median(over_floor)}

    def ratio(a: str, b: str) -> float:
        return statistics.median(p(r[a], 0.5) / p(r[b], 0.5) for r in per_round)

    compared = {
        "reads: 100 rules added to the settings read (p50 difference)": diff(
            "settings + rules read, 100 rules", "settings read alone"
        ),
        "ask until it waits: 100 rules none matching minus no rule check": diff(
            "ask until it waits, 100 rules, none matching", "ask until it waits, no rule check (maybe_ran)"
        ),
        "ask until it waits: 0 rules minus no rule check": diff(
            "ask until it waits, 0 rules", "ask until it waits, no rule check (maybe_ran)"
        ),
    }
    return {
        "rounds": rounds,
        "samples_per_round": samples,
        "series": out,
        "differences": compared,
        "matched ask / card path (100 rules)": ratio(
            "ask, matched (100 rules, the last matching)", "ask until it waits, 100 rules, none matching"
        ),
        "matched ask (1 rule) / card path (0 rules)": ratio("ask, matched (1 rule)", "ask until it waits, 0 rules"),
        "matched ask (1 rule): the chain / the policies asked first": ratio(
            "ask, matched (1 rule)", "ask, matched (1 rule), the policies asked first (before the chain)"
        ),
        "policy evaluations per matched ask": {"the chain": await evaluations(bench, first=False),
                                               "the policies asked first": await evaluations(bench, first=True)},
    }


def link(approvals: ApprovalService, kind: type[Any]) -> Any:
    """The decision chain's link of this kind (bot/root.py lists them)."""
    return next(found for found in approvals.chain.links if isinstance(found, kind))


async def evaluations(bench: Bench, *, first: bool) -> int:
    """How many times the policies judged one matched ask of a run's step (the engine's own count): through the
    decision chain, or with the evaluation the run's gate made first before it (`first`)."""
    engine = bench.approvals.policies
    request, run = bench.request(), bench.runs["one"]
    before = engine.evaluations
    if first:
        settings = await bench.approvals.channel_settings(run.channel)
        asked = Ask(request, run, bench.services.worker_id, settings)
        await link(bench.approvals, Policies).judge(Step(asked, new_approval(
            request, run=run, owner=asked.owner, settings=settings, default_channel="C0")))
    if (await bench.ask("one", request)).decision is None:
        raise RuntimeError("a matched ask waited for a person")
    await bench.settle()
    return engine.evaluations - before


# ------------------------------------------------------------------------------------------------ the run


async def measure(*, calls: int, rounds: int, samples: int, cpu_loops: int) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-rules-"))
    redis_server = start_redis()
    procs: list[Proc] = []
    services: Services | None = None
    errors: list[str] = []
    result: dict[str, Any] = {"benchmark": "rules_check", "machine": machine_info(), "errors": errors}
    try:
        slack = await Proc.start("slack", {"kind": "stub"}, log_dir=log_dir)
        procs.append(slack)
        settings = Settings.from_env(worker_env(api_url=str(slack.info["api_url"]), redis_url=redis_server.url))
        services = create_services(settings)
        services.slack.session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30))  # as `start` does
        result["rules_per_channel"] = await fill_rules(services)
        stored = await services.redis.hgetall(services.store.keys.rules(CHANNELS["hundred"]))
        result["bytes_of_100_stored_rules"] = sum(len(k) + len(v) for k, v in stored.items())
        runs = {case: await bench_run(services, channel=channel) for case, channel in CHANNELS.items()}
        tool = require_approval(SendEmailTool(log_dir / "outbox"), approver=lambda: None, agent="drafter")  # type: ignore[arg-type, return-value]
        bench = Bench(services, runs, tool)
        async with aiohttp.ClientSession() as http:
            result["counts"] = {name: await count_case(bench, http, slack, name, calls, errors) for name in COUNT_CASES}
        result["latency"] = await measure_latency(bench, rounds=rounds, samples=samples)
        await bench.settle()
    finally:
        if services is not None:
            await services.background.drain()
            await services.redis.aclose()
            if services.slack.session is not None:
                await services.slack.session.close()
        for proc in procs:
            await proc.stop()
        stop_redis(redis_server)
    result["cpu"] = measure_cpu(loops=cpu_loops, repeat=max(7, rounds))
    result["figures"] = figures(result)
    result["goals"] = goals(result)
    return result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=200, help="tool calls asked per counted case")
    parser.add_argument("--rounds", type=int, default=5, help="latency rounds (medians over them)")
    parser.add_argument("--samples", type=int, default=400, help="samples per series per round (after warm-up)")
    parser.add_argument("--cpu-loops", type=int, default=100_000, help="calls per timing of Match.matches")
    parser.add_argument("--small", action="store_true", help="CI size: 10 calls, 2 x 20 samples, 2,000 loops")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = parser.parse_args()
    if args.small:
        args.calls, args.rounds, args.samples, args.cpu_loops = 10, 2, 20, 2_000
    use_event_loop(os.environ.get("EVENT_LOOP") or "auto")  # the worker's loop
    result = asyncio.run(measure(calls=args.calls, rounds=args.rounds, samples=args.samples, cpu_loops=args.cpu_loops))
    print(json.dumps({k: v for k, v in result.items() if k not in ("machine", "figures")}, indent=2))
    write_json(result, args.out)
    print_table(result)
    return 1 if result["errors"] else 0


if __name__ == "__main__":
    sys.exit(main())

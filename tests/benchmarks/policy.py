"""Policy as code (#42): what evaluating a bundle costs, and what a policy-allowed ask costs next to a rule-allowed one.

The bundle (`bundle()`): 200 policies over 50 tools (a routine permit, an ask over an amount, a forbid for blocked
customers and, for most, a service account's permit) and 5 for any action, reading 3 windows (policy.yaml: a refund
budget, every call per agent per hour, deploys per hour), with the shipped default policy beside them.

1. Evaluation, in this process: `Evaluator.evaluate` of a realistic request (a `refund`: 8 arguments, a nested
   customer and items, 2 of the 3 windows applying), series interleaved in a rotating order (`common.interleaved`),
   `--rounds` rounds of `--samples` each; p50 and p90 per round, medians over rounds, each round's p50 divided by
   the floor's p50 in that round. Series:
   * bundle: the request against the 200 policies (allowed by one: one Cedar call);
   * no_opinion: a tool no policy names (the any-action ones, then the shipped defaults: two Cedar calls);
   * shadow: the bundle with one shadow policy more (what it would change is evaluated too: two Cedar calls);
   * floor_empty: the same request against an empty POLICY_DIR (the shipped default policy alone: one call);
   * floor_json: `json.dumps` of the Cedar request (what any evaluation serializes once at least).
   Target: bundle p50 <= 0.3 ms.
2. End to end (one worker in this process on that bundle, the Slack stand-in in another, one redis-server): an
   ask through the Approvals API (`POST /api/v1/approvals`, a kept-alive connection) answered `approved` at once,
   by a policy (`update_order`, allowed by its routine permit) and by an "always allow" rule (`adjust_order`, which
   no policy names, with the same arguments; the rule matches `currency` = usd). Interleaved, `--rounds` rounds of
   `--asks` each; ratio policy p50 / rule p50 per round, median over rounds. Target: <= 1.2x. Both read the
   per-agent window (every call counts in it), so its size at the end is reported.
A window's total alone, with up to 100,000 calls in it: `windows.py`.

Nothing here asserts on time; it exits 1 only if a request is decided otherwise than the bundle says.

    python tests/benchmarks/policy.py [--samples 2000] [--asks 200] [--rounds 5] [--out FILE]
    python tests/benchmarks/policy.py --small     # CI: 3 rounds of 300 samples and of 30 asks (~20 s)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.core.allow_rules import Condition, Match, Rule
from bot.policy.bundle import load_bundle
from bot.policy.decide import Evaluator, PolicyRequest
from tests.benchmarks.common import (
    ORIGIN_CHANNEL,
    REQUESTER,
    Proc,
    interleaved,
    machine_info,
    start_redis,
    stop_redis,
    summary_ms,
    worker_env,
    write_json,
)
from tests.conftest import start_worker
from tests.support.policies import write_bundle

VERBS = ("create", "update", "delete", "send", "close", "merge", "deploy", "list", "read", "archive")
NOUNS = ("order", "invoice", "issue", "email", "ticket")
TOOLS = ("refund", *(f"{verb}_{noun}" for verb in VERBS for noun in NOUNS))[:50]
WINDOWS = """windows:
  refunds_24h: {sum: args.amount_cents, per: [principal, action], over: 24h, actions: [refund]}
  calls_1h: {count: true, per: [principal], over: 1h}
  deploys_1h: {count: true, per: [principal], over: 1h, actions: [deploy_order, deploy_issue]}
"""
ANY_ACTION = '''
@id("code-off-hours")
@outcome("ask")
forbid (principal, action, resource)
when { context.kind == "code" && (context.time.hour_utc < 7 || context.time.hour_utc > 19) };

@id("busy-agent")
@outcome("ask")
@reason("{window.calls_1h} calls in the last hour")
forbid (principal, action, resource) when { context.window.calls_1h > 100000 };

@id("retired-bot")
@reason("this agent is retired")
forbid (principal == Agent::"retired-bot", action, resource);

@id("production-channel")
@outcome("ask")
forbid (principal, action, resource == Channel::"C0PROD");

@id("deploys-per-hour")
@outcome("ask")
forbid (principal, action in [Action::"deploy_order", Action::"deploy_issue"], resource)
when { context.window.deploys_1h >= 5 };
'''
SHADOW = '''
@id("large-refunds-watch")
@mode("shadow")
@outcome("ask")
forbid (principal, action == Action::"refund", resource)
when { context.args has amount_cents && context.args.amount_cents > 40000 };
'''
ARGUMENTS = {"order": "A-10293", "amount_cents": 4200, "currency": "usd",
             "reason": "damaged in transit; the customer sent photos of the box",
             "customer": {"id": "cus_9f8e7d", "email": "jordan@example.com", "tier": "gold"},
             "items": [{"sku": "SKU-1", "qty": 1}, {"sku": "SKU-7", "qty": 2}], "notify": True}


def bundle() -> str:
    """The 200 policies (module docstring)."""
    parts = []
    for i, tool in enumerate(TOOLS):
        limit = 10000 + 500 * i
        budget = " && context.args.amount_cents + context.window.refunds_24h <= 50000" if tool == "refund" else ""
        parts.append(f'@id("{tool}-routine")\npermit (principal, action == Action::"{tool}", resource)\n'
                     f'when {{ context.args has amount_cents && context.args.amount_cents <= {limit}{budget}'
                     f' && context.window.calls_1h < 100000 }};')
        parts.append(f'@id("{tool}-large")\n@outcome("ask")\n@reason("{{args.amount_cents|usd}} is over {limit} cents")'
                     f'\nforbid (principal, action == Action::"{tool}", resource)\n'
                     f'when {{ context.args has amount_cents && context.args.amount_cents > {limit} }};')
        parts.append(f'@id("{tool}-blocked-customers")\n@reason("not for blocked customers")\n'
                     f'forbid (principal, action == Action::"{tool}", resource)\nwhen {{ context.args has customer'
                     f' && context.args.customer has tier && context.args.customer.tier == "blocked" }};')
        if i < 45:
            parts.append(f'@id("{tool}-service")\n'
                         f'permit (principal == Agent::"svc-{tool}", action == Action::"{tool}", resource)\n'
                         f'when {{ context.kind == "tool_call" && context.time.hour_utc >= 0 }};')
    return "\n\n".join(parts) + "\n" + ANY_ACTION


def request(action: str) -> PolicyRequest:
    return PolicyRequest("Agent", "support-bot", action, ORIGIN_CHANNEL, "tool_call", ARGUMENTS, requester=REQUESTER,
                         mode="always")


# 1. evaluation ------------------------------------------------------------------------------------------------------
def timed(work: Callable[[], Any]) -> Callable[[], Any]:
    async def step() -> float:
        started = time.perf_counter()
        work()
        return time.perf_counter() - started

    return step


async def evaluation(folder: Path, samples: int, rounds: int) -> dict[str, Any]:
    full = Evaluator(load_bundle(write_bundle(folder / "bundle", {"ops.cedar": bundle(), "policy.yaml": WINDOWS})))
    shadow = Evaluator(load_bundle(write_bundle(folder / "shadow", {"ops.cedar": bundle() + SHADOW,
                                                                    "policy.yaml": WINDOWS})))
    empty = Evaluator(load_bundle(write_bundle(folder / "empty", {})))
    refund, unnamed = request("refund"), request("adjust_order")
    windows, per_agent = {"refunds_24h": 12000, "calls_1h": 37}, {"calls_1h": 37}
    expected = {"bundle": (full, refund, windows, "allow"), "no_opinion": (full, unnamed, per_agent, "none"),
                "shadow": (shadow, refund, windows, "allow"), "floor_empty": (empty, refund, windows, "none")}
    for name, (evaluator, asked, read, outcome) in expected.items():
        verdict = evaluator.evaluate(asked, read)
        if verdict.outcome != outcome or (name == "shadow" and verdict.shadow is not None):
            raise SystemExit(f"{name}: decided {verdict}, expected {outcome}")
    steps = {name: timed(lambda e=evaluator, a=asked, r=read: e.evaluate(a, r))
             for name, (evaluator, asked, read, _) in expected.items()}
    steps["floor_json"] = timed(lambda: json.dumps(refund.cedar(windows)[0]))
    per_round = [{name: summary_ms(values) for name, values in
                  (await interleaved(steps, samples, warmup=50)).items()} for _ in range(rounds)]
    return {"policies": len(full.bundle.policies), "windows": len(full.bundle.windows), "samples": samples,
            **reduced(per_round, floors=("floor_empty", "floor_json"))}


def reduced(per_round: list[dict[str, dict[str, float]]], *, floors: tuple[str, ...]) -> dict[str, Any]:
    """Medians over rounds of each series' p50 and p90, and of each round's p50 ratios to `floors`."""
    names = list(per_round[0])
    ms = {name: {q: statistics.median(r[name][f"{q}_ms"] for r in per_round) for q in ("p50", "p90")}
          for name in names}
    ratios = {f"{name}/{floor} p50": statistics.median(r[name]["p50_ms"] / r[floor]["p50_ms"] for r in per_round)
              for floor in floors for name in names if name not in floors}
    rounds = {name: [round(r[name]["p50_ms"], 4) for r in per_round] for name in names}
    return {"median_ms": ms, "ratios": ratios, "p50_ms_per_round": rounds}


# 2. end to end ------------------------------------------------------------------------------------------------------
async def end_to_end(folder: Path, asks: int, rounds: int) -> dict[str, Any]:
    policies = write_bundle(folder / "worker", {"ops.cedar": bundle(), "policy.yaml": WINDOWS})
    redis_server = start_redis()
    slack = await Proc.start("slack", {"kind": "standin"}, log_dir=folder / "logs")
    env = worker_env(api_url=str(slack.info["api_url"]), redis_url=redis_server.url) | {"POLICY_DIR": str(policies)}
    worker = await start_worker(env)
    try:
        store = worker.services.store
        made = await store.api_keys.create("support-bot", [ORIGIN_CHANNEL], by="bench", max_pending=100_000,
                                           per_minute=1_000_000)
        assert made is not None
        rule = Rule(id="", scope="channel", channel=ORIGIN_CHANNEL, run="", created_by="bench", created_at=time.time(),
                    match=Match(tool="adjust_order", where=(("currency", Condition("equals", "usd")),)),
                    expires_at=time.time() + 86400)
        assert await store.rules.create(rule)
        headers = {"Authorization": f"Bearer {made.key}"}
        async with aiohttp.ClientSession() as http:

            def ask(tool: str, decided_by: Callable[[str], bool]) -> Callable[[], Any]:
                body = {"kind": "tool", "title": "Adjust an order", "requester": REQUESTER,
                        "tool": {"name": tool, "arguments": ARGUMENTS}}

                async def step() -> float:
                    started = time.perf_counter()
                    async with http.post(f"{worker.url}/api/v1/approvals", json=body, headers=headers) as response:
                        answer = await response.json()
                    took = time.perf_counter() - started
                    if answer.get("status") != "approved" or not decided_by(str(answer.get("decided_by"))):
                        raise SystemExit(f"{tool}: {answer}")
                    return took

                return step

            steps = {"policy": ask("update_order", lambda by: by == "policy"),
                     "rule": ask("adjust_order", lambda by: by.startswith("rule "))}
            per_round = [{name: summary_ms(values) for name, values in
                          (await interleaved(steps, asks, warmup=5)).items()} for _ in range(rounds)]
        await worker.services.background.drain()
        windows = await store.redis.keys(f"{store.keys.prefix}:window:*")
        members = {key: await store.redis.zcard(key) for key in windows if not key.endswith(":sums")}
    finally:
        await worker.stop()
        await slack.stop()
        stop_redis(redis_server)
    return {"asks": asks, **reduced(per_round, floors=("rule",)), "window_members_at_end": sorted(members.values())}


async def measure(samples: int, asks: int, rounds: int) -> dict[str, Any]:
    folder = Path(tempfile.mkdtemp(prefix="bench-policy-"))
    return {"benchmark": "policy", "machine": machine_info(), "rounds": rounds,
            "evaluation": await evaluation(folder, samples, rounds),
            "end_to_end": await end_to_end(folder, asks, rounds)}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--samples", type=int, default=2000, help="evaluations per series and round")
    parser.add_argument("--asks", type=int, default=200, help="API asks per series and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--small", action="store_true", help="CI size: 3 rounds of 300 samples and of 30 asks")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    if args.small:
        args.samples, args.asks, args.rounds = 300, 30, 3
    result = asyncio.run(measure(args.samples, args.asks, args.rounds))
    print(json.dumps(result, indent=2))
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""Slack Web API calls per approval, counted on the Slack stand-in during real runs.

Real `/agent` runs (the real Bolt app over HTTP, a real AutoGen writer team with AutoGen's replay model) go through
each kind of decision; the stand-in records every Web API call the bot makes. For each scenario the calls are
classified (approval card posted / updated, run header, thread messages, modals, ephemerals, reads) and divided by
the approvals it had. Goal: one card post and one card update per decision, and no polling: no read calls at all,
and no call while an approval waits (an idle window is watched). Redis commands in the idle window are counted
too: the deadline sweeper reads the nearest deadline at least once a second per worker, however many approvals wait.

Scenarios: approve; revise then approve (two approvals); reject; timeout (channel timeout 2 s); approve clicked on
a second worker (cross-worker).

Then the path of a Revise with Slack answering each Web API call `--latency-ms` (100) late (the stand-in behind a
delaying middleware): from the feedback's submission to the next card's `chat.postMessage` reaching Slack, with
the Slack calls each revision set off, and how many of them Slack had answered before the next card came (the
round trips the next card may have waited for; the goal is none). The same again with Slack answering at once:
the difference of the p50s is what the path waits on Slack. The floor, in the same run, round after round: a bare
bot's one Slack round trip (`chat.postMessage` with the same client, to the same slow stand-in). Goal:
feedback -> next card p50 <= 0.25x that floor (nothing the reviewer did waits on a Slack answer the agent does
not need).

    python tests/benchmarks/slack_calls.py [--idle 3] [--revisions 30] [--latency-ms 100] [--out FILE]
    python tests/benchmarks/slack_calls.py --small      # CI: 1 s idle window, 3 revisions
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

from aiohttp import web
from slack_sdk.web.async_client import AsyncWebClient

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.devslack.server import RecordedCall, SlackStandIn
from bot.store import connect
from tests.benchmarks.common import CallsSince, machine_info, start_redis, stop_redis, summary_ms, write_json
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    BOT_TOKEN,
    CAROL,
    DRAFTS,
    SALES,
    SIGNING_SECRET,
    Worker,
    bot_env,
    card_of,
    replay_config,
    reply_text,
    start_worker,
)

GENERAL, RANDOM = "C0GENERAL", "C0RANDOM"
TASK = "Draft an email to our vendor asking for 10% off the Q2 order"
READ_PREFIXES = ("conversations.", "users.", "reactions.get", "usergroups.", "team.", "search.", "pins.list")


def classify(call: RecordedCall) -> str:
    method, args = call.method, call.args
    channel = str(args.get("channel", ""))
    threaded = bool(args.get("thread_ts"))
    if method == "chat.postMessage":
        if channel == APPROVALS:
            return "card thread post (full proposal text)" if threaded else "approval card posted"
        return "run thread message" if threaded else "run header posted"
    if method == "chat.update":
        return "approval card updated" if channel == APPROVALS else "run header updated"
    if method.startswith(READ_PREFIXES):
        return f"read: {method}"
    return method


class Scenario:
    def __init__(self, slack: SlackStandIn, workers: list[Worker]) -> None:
        self.slack = slack
        self.workers = workers

    def deliver_to(self, worker: Worker) -> None:
        self.slack.events_url = worker.url + "/slack/events"

    async def start(self, channel: str) -> str:
        self.deliver_to(self.workers[0])
        result = await self.slack.send_command(user=ALICE, channel=channel, text=TASK)
        text = reply_text(result)
        assert "Started run `" in text, text
        return text.split("`")[1]

    async def next_card(self, seen: int) -> dict[str, Any]:
        def pending() -> dict[str, Any] | None:
            cards = card_of(self.slack)
            if len(cards) > seen and cards[-1] in card_of(self.slack, pending=True):
                return cards[-1]
            return None

        return await self.slack.wait_for(pending, timeout=20)

    async def ended(self, run_id: str) -> str:
        store = self.workers[0].services.store
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            run = await store.runs.get(run_id)
            if run is not None and run.final:
                await asyncio.sleep(0.3)  # the last header update and thread message
                for worker in self.workers:  # background tasks and queued card redraws
                    await worker.services.background.drain()
                    await worker.services.cards.drain()
                return run.status
            await asyncio.sleep(0.02)
        raise TimeoutError(f"run {run_id} did not end")


async def measure(idle: float) -> dict[str, Any]:
    redis_server = start_redis()
    tmp = Path(tempfile.mkdtemp(prefix="bench-calls-"))
    model = tmp / "model.json"
    model.write_text(json.dumps(replay_config(*DRAFTS, "Draft v3", "Draft v4")))
    slack = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    env = bot_env(slack=slack, redis_url=redis_server.url, model_config=model)
    workers = [await start_worker(env), await start_worker(env)]
    redis = connect(redis_server.url)
    scenario = Scenario(slack, workers)
    results: dict[str, Any] = {}
    idle_window: dict[str, Any] = {}

    async def run(name: str, channel: str, steps: Callable[[int], Awaitable[tuple[int, int]]], *, expect: str) -> None:
        since, seen = CallsSince(slack), len(card_of(slack))
        run_id = await scenario.start(channel)
        approvals, decisions = await steps(seen)
        status = await scenario.ended(run_id)
        kinds = since.count(classify)
        results[name] = {
            "run_status": status,
            "expected_status": expect,
            "approvals": approvals,
            "decisions": decisions,
            "calls": dict(kinds),
            "total_calls": len(since.calls),
            "card_posts_per_approval": kinds["approval card posted"] / approvals,
            "card_updates_per_decision": kinds["approval card updated"] / decisions,
            "reads": sum(v for k, v in kinds.items() if k.startswith("read:")),
        }

    async def approve(seen: int) -> tuple[int, int]:
        card = await scenario.next_card(seen)
        # an idle window while the approval waits: no Slack call, and only the sweeper's Redis reads
        await asyncio.sleep(0.5)  # the "waiting" thread message and header update settle
        idle_since = CallsSince(slack)
        await redis.config_resetstat()
        await asyncio.sleep(idle)
        stats = await redis.info("commandstats")
        idle_window.update(
            {
                "seconds": idle,
                "slack_calls": len(idle_since.calls),
                "redis_commands": {
                    k.removeprefix("cmdstat_"): int(v["calls"])
                    for k, v in stats.items()
                    if k not in ("cmdstat_config", "cmdstat_info")
                },
                "workers": len(workers),
            }
        )
        result = await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        assert result.status == 200
        return 1, 1

    def modal() -> dict[str, Any] | None:
        views = slack.open_views(BOB)
        return views[-1] if views else None

    async def revise_then_approve(seen: int) -> tuple[int, int]:
        card = await scenario.next_card(seen)
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
        view: dict[str, Any] = await slack.wait_for(modal)
        answer = await slack.submit_view(
            user=BOB, view_id=view["id"], values={"feedback": {"feedback_input": "More formal, please."}}
        )
        assert answer.status == 200
        second = await scenario.next_card(seen + 1)
        await slack.click(user=CAROL, channel=APPROVALS, ts=second["ts"], action_id="approval_approve")
        return 2, 2

    async def reject(seen: int) -> tuple[int, int]:
        card = await scenario.next_card(seen)
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_reject")
        view: dict[str, Any] = await slack.wait_for(modal)  # Reject asks for an optional reason first
        answer = await slack.submit_view(user=BOB, view_id=view["id"], values={"reason": {"reason_input": "No."}})
        assert answer.status == 200
        return 1, 1

    async def time_out(seen: int) -> tuple[int, int]:
        await scenario.next_card(seen)
        return 1, 1  # the sweeper decides after 2 s

    async def approve_on_other_worker(seen: int) -> tuple[int, int]:
        card = await scenario.next_card(seen)
        scenario.deliver_to(workers[1])  # the run is owned by worker 0
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        return 1, 1

    try:
        scenario.deliver_to(workers[0])
        reply = await slack.send_command(user=ALICE, channel=RANDOM, text="config timeout 2s")
        assert "2s" in reply_text(reply), reply
        everything = CallsSince(slack)
        await run("approve", SALES, approve, expect="completed")
        await run("revise_then_approve", SALES, revise_then_approve, expect="completed")
        await run("reject", GENERAL, reject, expect="rejected")
        await run("timeout", RANDOM, time_out, expect="timed_out")
        await run("approve_cross_worker", SALES, approve_on_other_worker, expect="completed")
        kinds = everything.count(classify)
    finally:
        for worker in workers:
            await worker.stop()
        await redis.aclose()
        await slack.stop()
        stop_redis(redis_server)
    approvals = sum(r["approvals"] for r in results.values())
    decisions = sum(r["decisions"] for r in results.values())
    idle_commands = sum(idle_window.get("redis_commands", {}).values())
    return {
        "benchmark": "slack_calls",
        "machine": machine_info(),
        "scenarios": results,
        "totals": {
            "approvals": approvals,
            "decisions": decisions,
            "calls": dict(kinds),
            "card_posts_per_approval": kinds["approval card posted"] / approvals,
            "card_updates_per_decision": kinds["approval card updated"] / decisions,
            "reads": sum(v for k, v in kinds.items() if k.startswith("read:")),
        },
        "idle_window": idle_window,
        "idle_redis_commands_per_s_per_worker": idle_commands / idle / len(workers) if idle_window else None,
        "goals": {
            "one_post_and_one_update_per_decision": all(
                r["card_posts_per_approval"] == 1 and r["card_updates_per_decision"] == 1 for r in results.values()
            ),
            "no_polling_calls": kinds
            and not any(k.startswith("read:") for k in kinds)
            and idle_window.get("slack_calls") == 0,
            "runs_ended_as_expected": all(r["run_status"] == r["expected_status"] for r in results.values()),
        },
    }


# ------------------------------------------------------------------------------------ feedback -> next card


class SlowSlack(SlackStandIn):
    """The stand-in answering every Web API call `latency` seconds late, noting when each came in (before anything
    else reads it) and was answered (method, channel, whether in a thread, came, answered: perf_counter seconds)."""

    def __init__(self, latency: float, **options: Any) -> None:
        super().__init__(**options)
        self.latency = latency
        self.timeline: list[dict[str, Any]] = []

    def web_app(self) -> web.Application:
        app = super().web_app()

        @web.middleware
        async def slow(request: web.Request, handler: Any) -> web.StreamResponse:
            method = request.path.removeprefix("/api/")
            if not request.path.startswith("/api/") or "/" in method:
                return await handler(request)
            came = time.perf_counter()
            raw = await request.read()  # kept by aiohttp: the handler reads it again
            try:
                args = json.loads(raw) if request.content_type == "application/json" else dict(parse_qsl(raw.decode()))
            except ValueError:
                args = {}
            call = {"method": method, "channel": str(args.get("channel", "")), "threaded": bool(args.get("thread_ts")),
                    "came": came, "answered": None}
            self.timeline.append(call)
            self.came_in(call)
            if self.latency:
                await asyncio.sleep(self.latency)
            response = await handler(request)
            call["answered"] = time.perf_counter()
            return response

        app.middlewares.insert(0, slow)
        return app

    def came_in(self, call: dict[str, Any]) -> None:
        """A call came in (noted in `timeline`; for who waits for one)."""


def kind_of(call: dict[str, Any]) -> str:
    return classify(RecordedCall(method=call["method"], args={"channel": call["channel"],
                                                               "thread_ts": "1" if call["threaded"] else ""},
                                 at=0.0, ok=True))


async def measure_feedback(revisions: int, latency: float) -> dict[str, Any]:
    """Feedback -> next card with Slack answering `latency` s late, against one bare Slack round trip."""
    redis_server = start_redis()
    tmp = Path(tempfile.mkdtemp(prefix="bench-feedback-"))
    model = tmp / "model.json"
    model.write_text(json.dumps(replay_config(*(f"Draft v{n}: Dear vendor, 10% off?" for n in range(revisions + 2)))))
    slack = SlowSlack(latency, signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_server.url, model_config=model))
    bare = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    scenario = Scenario(slack, [worker])
    ours: list[float] = []
    floor: list[float] = []
    set_off: collections.Counter[str] = collections.Counter()
    waited_for: collections.Counter[str] = collections.Counter()
    try:
        run_id = await scenario.start(SALES)
        for n in range(revisions):
            card = await scenario.next_card(n)
            await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
            view: dict[str, Any] = await slack.wait_for(lambda: (v := slack.open_views(BOB)) and v[-1])
            await asyncio.sleep(2 * latency)  # what the last card set off settles (not timed)
            started = time.perf_counter()
            answer = await slack.submit_view(user=BOB, view_id=view["id"],
                                             values={"feedback": {"feedback_input": f"More formal, please ({n})."}})
            assert answer.status == 200

            def posted(since: float = started) -> dict[str, Any] | None:
                cards = (c for c in slack.timeline if c["came"] >= since and kind_of(c) == "approval card posted")
                return next(cards, None)

            card_call: dict[str, Any] = await slack.wait_for(posted, timeout=30)
            ours.append(card_call["came"] - started)
            before = [c for c in slack.timeline if started <= c["came"] < card_call["came"]]
            set_off.update(kind_of(c) for c in before)
            waited_for.update(kind_of(c) for c in before if c["answered"] and c["answered"] <= card_call["came"])
            await scenario.next_card(n + 1)
            floor_started = time.perf_counter()  # the floor: one bare round trip, this round
            await bare.chat_postMessage(channel=GENERAL, text=f"floor {n}")
            floor.append(time.perf_counter() - floor_started)
        last = await scenario.next_card(revisions)
        await slack.click(user=CAROL, channel=APPROVALS, ts=last["ts"], action_id="approval_approve")
        status = await scenario.ended(run_id)
    finally:
        await worker.stop()
        await slack.stop()
        stop_redis(redis_server)
    ratio = statistics.median(ours) / statistics.median(floor)
    return {
        "latency_ms": latency * 1000,
        "revisions": revisions,
        "run_status": status,
        "feedback_to_next_card_ms": summary_ms(ours),
        "floor_one_slack_round_trip_ms": summary_ms(floor),
        "p50_x_floor": ratio,
        "calls_set_off_before_the_next_card_per_revision": {k: v / revisions for k, v in set_off.items()},
        "slack_answers_before_the_next_card_per_revision": {k: v / revisions for k, v in waited_for.items()},
        "goal_p50_within_0_25x_floor": ratio <= 0.25,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--idle", type=float, default=3.0, help="seconds to watch while an approval waits")
    parser.add_argument("--small", action="store_true", help="CI size: 1 s idle window, 3 revisions")
    parser.add_argument("--revisions", type=int, default=30, help="Revise rounds timed with a slow Slack")
    parser.add_argument("--latency-ms", type=float, default=100.0, help="how late the slow Slack answers")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    result = asyncio.run(measure(1.0 if args.small else args.idle))
    revisions = 3 if args.small else args.revisions
    result["feedback"] = asyncio.run(measure_feedback(revisions, args.latency_ms / 1000))
    # the same with Slack answering at once: what the latency adds is what the path waits on Slack
    result["feedback_prompt_slack"] = asyncio.run(measure_feedback(revisions, 0.0))
    result["feedback"]["p50_added_by_slack_latency_ms"] = (
        result["feedback"]["feedback_to_next_card_ms"]["p50_ms"]
        - result["feedback_prompt_slack"]["feedback_to_next_card_ms"]["p50_ms"]
    )
    print(json.dumps(result, indent=2))
    write_json(result, args.out)
    print(f"\n{'scenario':22} {'approvals':>9} {'card posts':>10} {'card updates':>12} {'all calls':>9} {'reads':>5}")
    for name, row in result["scenarios"].items():
        calls = row["calls"]
        print(
            f"{name:22} {row['approvals']:9} {calls.get('approval card posted', 0):10}"
            f" {calls.get('approval card updated', 0):12} {row['total_calls']:9} {row['reads']:5}"
        )
    idle = result["idle_window"]
    print(
        f"while an approval waited {idle['seconds']:.0f} s: {idle['slack_calls']} Slack calls, "
        f"{result['idle_redis_commands_per_s_per_worker']:.1f} Redis commands/s per worker (deadline sweeper)"
    )
    feedback = result["feedback"]
    print(
        f"feedback -> next card with Slack answering in {feedback['latency_ms']:.0f} ms: p50"
        f" {feedback['feedback_to_next_card_ms']['p50_ms']:.1f} ms, {feedback['p50_x_floor']:.2f}x the floor"
        f" (one Slack round trip, p50 {feedback['floor_one_slack_round_trip_ms']['p50_ms']:.1f} ms); Slack answers"
        f" before the next card per revision: {feedback['slack_answers_before_the_next_card_per_revision']};"
        f" the latency adds {feedback['p50_added_by_slack_latency_ms']:.1f} ms to the p50"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())

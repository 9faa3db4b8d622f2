"""Slack Web API calls per run step, with and without agent sessions: streaming must not multiply them.

Real `/agent` runs (the real Bolt app over HTTP, a real AutoGen writer team on AutoGen's replay model) on the Slack
stand-in, once in a workspace without agent sessions (the methods refused: today's header and thread) and once
with them (status, the plan streamed, the stream stopped while people decide). A run step is one agent turn that
asks a person (an approval). Scenarios: approve (one step); revise then approve (two steps). Counted: every Web API
call from the command to the run's end, by method, divided by the steps. Goal: with sessions, at most 1.2x the calls
per step of the run without them (`ratio`), and no call per token (appends batched: `chat.appendStream` per step).

    python tests/benchmarks/session_calls.py [--rounds 3] [--out FILE]
    python tests/benchmarks/session_calls.py --small      # CI (run_all.py --small): one round
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.devslack.server import SlackStandIn
from tests.benchmarks.common import CallsSince, machine_info, start_redis, stop_redis, write_json
from tests.benchmarks.slack_calls import Scenario
from tests.conftest import (
    APPROVALS,
    BOB,
    BOT_TOKEN,
    CAROL,
    DRAFTS,
    SALES,
    SIGNING_SECRET,
    bot_env,
    replay_config,
    start_worker,
)

GOAL_RATIO = 1.2


async def one_mode(redis_url: str, model: Path, *, sessions: bool, rounds: int) -> dict[str, Any]:
    slack = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    if not sessions:
        slack.sessions.refused = "not_allowed"
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=model))
    scenario = Scenario(slack, [worker])
    calls: collections.Counter[str] = collections.Counter()
    steps = 0
    try:
        for _ in range(rounds):
            for revise in (False, True):
                since, seen = CallsSince(slack), len(slack.messages(APPROVALS))
                run_id = await scenario.start(SALES)
                card = await scenario.next_card(_cards(slack, seen))
                if revise:
                    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
                    view = await slack.wait_for(lambda: slack.open_views(BOB) and slack.open_views(BOB)[-1])
                    await slack.submit_view(user=BOB, view_id=view["id"],
                                            values={"feedback": {"feedback_input": "More formal, please."}})
                    card = await scenario.next_card(_cards(slack, seen) + 1)
                await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
                assert await scenario.ended(run_id) == "completed"
                await worker.services.background.drain()
                calls.update(since.count())
                steps += 2 if revise else 1
    finally:
        await worker.stop()
        await slack.stop()
    total = sum(calls.values())
    return {"steps": steps, "calls": dict(calls), "total": total, "per_step": round(total / steps, 2),
            "appends_per_step": round(calls["chat.appendStream"] / steps, 2)}


def _cards(slack: SlackStandIn, seen_messages: int) -> int:
    return len([m for m in slack.messages(APPROVALS)[:seen_messages] if not m.get("thread_ts")])


async def measure(rounds: int) -> dict[str, Any]:
    redis_server = start_redis()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sessions-"))
    model = tmp / "model.json"
    model.write_text(json.dumps(replay_config(*DRAFTS, "Draft v3", "Draft v4") | {}))
    try:
        without = await one_mode(redis_server.url, model, sessions=False, rounds=rounds)
        with_sessions = await one_mode(redis_server.url, model, sessions=True, rounds=rounds)
    finally:
        stop_redis(redis_server)
    ratio = with_sessions["per_step"] / without["per_step"]
    return {"machine": machine_info(), "without_sessions": without, "with_sessions": with_sessions,
            "ratio": round(ratio, 2), "goal_ratio": GOAL_RATIO, "met": ratio <= GOAL_RATIO}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="one round (run_all.py --small, CI: only not to rot)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    result = asyncio.run(measure(1 if args.small else args.rounds))
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=2))
    write_json(result, args.out)


if __name__ == "__main__":
    main()

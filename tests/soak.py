"""Soak: many runs across three worker processes with random clicks, timeouts and `kill -9`s.

Not a unit test. It prints how many runs ended in exactly one terminal state, how many cards match
their decisions in Redis, and how many runs were lost (the goal: 0).

    python tests/soak.py [--runs 1000] [--workers 3] [--kill-every 40] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.devslack.server import SlackStandIn
from bot.store import ApprovalStore, connect
from tests.conftest import ALICE, APPROVALS, BOB, BOT_TOKEN, CAROL, SIGNING_SECRET, start_redis
from tests.test_durability import DEMO, Cluster, WorkerProcess

CHANNELS = ("C0GENERAL", "C0RANDOM", "C0SALES")
REVIEWERS = (BOB, CAROL)


def approval_of(card: dict[str, Any]) -> str | None:
    for block in card.get("blocks") or []:
        if block.get("type") == "actions":
            return str(block["elements"][0]["value"])
    return None


async def soak(runs: int, workers: int, kill_every: int, seed: int) -> dict[str, Any]:
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    redis_server = start_redis()
    slack = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    model = tmp / "model.json"
    model.write_text(json.dumps(DEMO))
    cluster = Cluster(slack, redis_server.url, tmp, model)
    extra = {"MAX_RUNS_PER_USER": "1000", "MAX_RUNS_PER_CHANNEL": "10000", "LOG_LEVEL": "WARNING"}
    live: list[WorkerProcess] = [await cluster.start(**extra) for _ in range(workers)]
    redis = connect(redis_server.url)
    store = ApprovalStore(redis)
    started_at = time.monotonic()
    kills = 0
    clicks = Counter[str]()
    handled: set[str] = set()  # approval ids we decided to click (or to leave to time out)
    try:
        slack.events_url = live[0].events
        for channel in CHANNELS:  # cards left alone time out soon
            await slack.send_command(user=ALICE, channel=channel, text="config timeout 10s")
        started = 0
        deadline = time.monotonic() + 60 + runs * 1.5
        while time.monotonic() < deadline:
            # keep up to 30 runs in flight
            in_flight = len(await store.live_runs())
            while started < runs and in_flight < 30:
                slack.events_url = rng.choice(live).events
                channel = rng.choice(CHANNELS)
                answer = await slack.send_command(user=ALICE, channel=channel, text=f"Draft note number {started}")
                if "Started run" in (answer.body or ""):
                    started += 1
                    in_flight += 1
                    if kill_every and started % kill_every == 0:  # a crash, then a replacement worker
                        victim = rng.choice(live)
                        victim.kill()
                        live.remove(victim)
                        kills += 1
                        live.append(await cluster.start(**extra))
            for card in [m for m in slack.messages(APPROVALS) if not m.get("thread_ts")]:
                approval_id = approval_of(card)
                if approval_id is None or approval_id in handled:
                    continue
                handled.add(approval_id)
                choice = rng.choices(["approve", "reject", "revise", "wait"], weights=[60, 15, 10, 15])[0]
                clicks[choice] += 1
                if choice == "wait":
                    continue  # the channel's timeout (or the default) decides
                slack.events_url = rng.choice(live).events
                reviewer = rng.choice(REVIEWERS)
                if choice == "revise":
                    before = {v["id"] for v in slack.open_views(reviewer)}
                    await slack.click(
                        user=reviewer, channel=APPROVALS, ts=card["ts"], action_id="approval_revise", as_seen=card
                    )
                    try:
                        views = await slack.wait_for(
                            lambda r=reviewer, b=before: [v for v in slack.open_views(r) if v["id"] not in b], timeout=5
                        )
                    except TimeoutError:
                        continue  # decided meanwhile (e.g. timed out): no modal, as in Slack
                    await slack.submit_view(
                        user=reviewer, view_id=views[-1]["id"], values={"feedback": {"feedback_input": "shorter"}}
                    )
                else:
                    action = "approval_approve" if choice == "approve" else "approval_reject"
                    await slack.click(user=reviewer, channel=APPROVALS, ts=card["ts"], action_id=action, as_seen=card)
            if started >= runs and not await store.live_runs():
                break
            await asyncio.sleep(0.05)
        # the last card updates: made at once, or by the outbox after a kill (within ~10 s)
        settle = time.monotonic() + 25
        while time.monotonic() < settle and (await card_states(store, slack))[1]:  # noqa: ASYNC110 - poll
            await asyncio.sleep(0.5)
        # a card whose worker died between posting it and storing its ts cannot be redrawn until someone
        # clicks it (the click tells us its ts): click each card still showing buttons, as a reviewer would
        stale = 0
        for card in [m for m in slack.messages(APPROVALS) if not m.get("thread_ts") and approval_of(m)]:
            approval = await store.get_approval(approval_of(card) or "")
            if approval is not None and not approval.pending:
                stale += 1
                slack.events_url = live[0].events
                await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        settle = time.monotonic() + 25
        while stale and time.monotonic() < settle and (await card_states(store, slack))[1]:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        result = await report(
            store, slack, runs=started, kills=kills, clicks=clicks, seconds=time.monotonic() - started_at
        )
        return {**result, "cards_stale_until_clicked": stale}
    finally:
        cluster.stop_all()
        await redis.aclose()
        await slack.stop()
        redis_server.process.terminate()
        redis_server.process.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


async def card_states(store: ApprovalStore, slack: SlackStandIn, *, verbose: bool = False) -> tuple[int, int]:
    """How many cards in #approvals show what Redis says of their approval, and how many do not."""
    matching = mismatched = 0
    for card in [m for m in slack.messages(APPROVALS) if not m.get("thread_ts")]:
        approval_id = approval_of(card)
        text = json.dumps(card.get("blocks"))
        if approval_id is None:  # decided cards have no buttons: find the approval by its card
            approval_id = await store.approval_for_card(APPROVALS, card["ts"])
        approval = await store.get_approval(approval_id) if approval_id else None
        if approval is None:
            mismatched += 1
            continue
        shown = (
            "pending"
            if '"actions"' in text
            else next(
                (
                    s
                    for s in ("approved", "rejected", "revised", "timed_out", "cancelled")
                    if f"Approval {s.replace('_', ' ')}" in text
                ),
                "?",
            )
        )
        if shown == approval.status:
            matching += 1
        else:
            mismatched += 1
            if verbose:
                print("card not matching:", approval.id, "shows", shown, "is", approval.status, file=sys.stderr)
    return matching, mismatched


async def report(
    store: ApprovalStore, slack: SlackStandIn, *, runs: int, kills: int, clicks: Counter[str], seconds: float
) -> dict[str, Any]:
    audit = await store.audit_entries(count=1_000_000)
    endings = Counter(e["run"] for e in audit if e["event"] == "run_finished")
    statuses: Counter[str] = Counter()
    lost = 0
    for channel in ("C0GENERAL", "C0RANDOM", "C0SALES"):
        for run in await store.recent_runs(channel, limit=100_000):
            statuses[run.status] += 1
            if not run.final:
                lost += 1
                approvals = await store.run_approvals(run.id)
                print(
                    "not final:",
                    run.id,
                    run.status,
                    [(a.status, a.consumed, round(a.deadline - time.time(), 1)) for a in approvals],
                    file=sys.stderr,
                )
    matching, mismatched = await card_states(store, slack, verbose=True)
    return {
        "runs": runs,
        "seconds": round(seconds, 1),
        "worker_kills": kills,
        "clicks": dict(clicks),
        "final_statuses": dict(statuses),
        "exactly_one_terminal_state": sum(1 for n in endings.values() if n == 1),
        "more_than_one_terminal_state": sum(1 for n in endings.values() if n > 1),
        "cards_matching_decision": matching,
        "cards_not_matching": mismatched,
        "lost": lost,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--kill-every", type=int, default=40, help="kill -9 a worker every N runs started (0: never)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    result = asyncio.run(soak(args.runs, args.workers, args.kill_every, args.seed))
    print(json.dumps(result, indent=2))
    ok = result["lost"] == 0 and result["more_than_one_terminal_state"] == 0 and result["cards_not_matching"] == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

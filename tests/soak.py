"""Soak: many runs across three worker processes with random clicks, timeouts, `kill -9`s, stalled
workers (SIGSTOP past their heartbeat, then SIGCONT) and Redis restarts.

Not a unit test. It prints how many runs ended in exactly one terminal state, how many cards match
their decisions in Redis, how many runs were lost, how many decisions shown as taken were discarded
and how many emails were sent beyond those people approved (the goal: 0 for the last three). One run in five is
an `email` run, whose approved `send_email` writes one file per email.

    python tests/soak.py [--runs 1000] [--workers 3] [--kill-every 40] [--stall-every 50]
                         [--redis-restart-every 100] [--seed 7]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import random
import re
import shutil
import signal
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bot.core.card_words import decided_title
from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from tests.conftest import ALICE, APPROVALS, BOB, BOT_TOKEN, CAROL, SIGNING_SECRET, RedisServer, start_redis
from tests.support.cluster import DEMO, Cluster, WorkerProcess

CHANNELS = ("C0GENERAL", "C0RANDOM", "C0SALES")
REVIEWERS = (BOB, CAROL)


def approval_of(card: dict[str, Any]) -> str | None:
    for block in card.get("blocks") or []:
        if block.get("type") == "actions":
            return str(block["elements"][0]["value"])
    return None


def note_buttons(slack: SlackStandIn, seen: dict[str, str]) -> None:
    """Note in `seen` each card of #approvals showing buttons, by its ts, with the approval they show. A card that is
    not the one Redis notes for its approval (its worker died between posting it and noting it, and another worker
    posted it again) and is clicked after the approval's decision is drawn with the decision, without buttons: its
    buttons were then the only sign of whose it is (`card_states`' `clicked`)."""
    for card in slack.messages(APPROVALS):
        approval_id = None if card.get("thread_ts") else approval_of(card)
        if approval_id is not None:
            seen[card["ts"]] = approval_id


STALL_SECONDS = 3.0  # a stalled worker: three heartbeats (1 s each), so another worker takes its runs
REDIS_DOWN_SECONDS = 1.0


async def stall(worker: WorkerProcess) -> None:
    """Freeze a worker (a long GC or VM pause) past its heartbeat, then let it go on."""
    worker.process.send_signal(signal.SIGSTOP)
    try:
        await asyncio.sleep(STALL_SECONDS)
    finally:
        worker.process.send_signal(signal.SIGCONT)


async def restart_redis(server: RedisServer, restarts: list[tuple[float, float]] | None = None) -> RedisServer:
    """Stop Redis (SIGTERM: it writes its AOF), keep it down a moment, start it again on the same port; `restarts`
    gets (when it was stopped, when it answered again), wall-clock seconds."""
    stopped = time.time()
    server.process.terminate()
    server.process.wait(timeout=10)
    await asyncio.sleep(REDIS_DOWN_SECONDS)
    started = start_redis(port=server.port, workdir=server.workdir, appendonly=True)
    if restarts is not None:
        restarts.append((stopped, time.time()))
    return started


async def soak(
    runs: int, workers: int, kill_every: int, seed: int, *, stall_every: int = 0, redis_restart_every: int = 0
) -> dict[str, Any]:
    rng = random.Random(seed)
    tmp = Path(tempfile.mkdtemp(prefix="soak-"))
    outbox = tmp / "outbox"
    redis_server = start_redis(appendonly=True)
    slack = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    model = tmp / "model.json"
    model.write_text(json.dumps(DEMO))
    cluster = Cluster(slack, redis_server.url, tmp, model)
    extra = {
        "MAX_RUNS_PER_USER": "1000",
        "MAX_RUNS_PER_CHANNEL": "10000",
        "LOG_LEVEL": "WARNING",
        "OUTBOX_DIR": str(outbox),
        "REDIS_TIMEOUT": "1",
    }
    live: list[WorkerProcess] = []  # (started within the `try`: a worker that does not start stops the others)
    redis = connect(redis_server.url)
    store = Store(redis)
    kills = stalls = redis_restarts = 0
    restarts: list[tuple[float, float]] = []  # each Redis restart: (stopped, answering again), wall clock
    stalling: set[asyncio.Task[None]] = set()
    clicks = Counter[str]()
    handled: set[str] = set()  # approval ids we decided to click (or to leave to time out)
    seen: dict[str, str] = {}  # every card seen showing buttons: its ts -> their approval (`note_buttons`)
    try:
        live += [await cluster.start(**extra) for _ in range(workers)]
        started_at = time.monotonic()
        slack.events_url = live[0].events
        for channel in CHANNELS:  # cards left alone time out soon
            await slack.send_command(user=ALICE, channel=channel, text="config timeout 10s")
        started = 0
        deadline = time.monotonic() + 60 + runs * 1.5
        while time.monotonic() < deadline:
            # keep up to 30 runs in flight
            try:
                in_flight = len(await store.runs.live())
            except (OSError, ConnectionError, TimeoutError):
                await asyncio.sleep(0.2)
                continue
            while started < runs and in_flight < 30:
                slack.events_url = rng.choice(live).events
                channel = rng.choice(CHANNELS)
                task = f"Draft note number {started}"
                if started % 5 == 4:  # an email run: its approved send_email writes one file per email
                    task = f"--team email Email note{started}@example.com about the new prices"
                try:
                    answer = await slack.send_command(user=ALICE, channel=channel, text=task)
                except TimeoutError:
                    break  # Redis just restarted, or the worker is stalled: try again on the next round
                if "Started run" in (answer.body or ""):
                    started += 1
                    in_flight += 1
                    if stall_every and started % stall_every == 0:
                        victim = rng.choice(live)
                        stalls += 1
                        stalling.add(task_ := asyncio.create_task(stall(victim)))
                        task_.add_done_callback(stalling.discard)
                    if redis_restart_every and started % redis_restart_every == 0:
                        redis_server = await restart_redis(redis_server, restarts)
                        redis_restarts += 1
                    if kill_every and started % kill_every == 0:  # a crash, then a replacement worker
                        victim = rng.choice(live)
                        victim.kill()
                        live.remove(victim)
                        kills += 1
                        live.append(await cluster.start(**extra))
            note_buttons(slack, seen)
            for card in [m for m in slack.messages(APPROVALS) if not m.get("thread_ts")]:
                approval_id = approval_of(card)
                if approval_id is None or approval_id in handled:
                    continue
                handled.add(approval_id)
                tool_card = "send_email" in json.dumps(card.get("blocks"))
                weights = [60, 15, 0 if tool_card else 10, 15]  # a tool card's Revise edits its arguments
                choice = rng.choices(["approve", "reject", "revise", "wait"], weights=weights)[0]
                if "it may have run" in json.dumps(card.get("blocks")):
                    # a call that started on a worker that died mid-call: the card says to approve only if
                    # running it again is safe, and sending an email twice is not
                    choice = "reject"
                    clicks["rejected_may_have_run"] += 1
                clicks[choice] += 1
                if choice == "wait":
                    continue  # the channel's timeout (or the default) decides
                slack.events_url = rng.choice(live).events
                reviewer = rng.choice(REVIEWERS)
                if choice in ("revise", "reject"):  # both open a modal first (feedback; an optional reason)
                    before = {v["id"] for v in slack.open_views(reviewer)}
                    action = f"approval_{choice}"
                    try:
                        await slack.click(
                            user=reviewer, channel=APPROVALS, ts=card["ts"], action_id=action, as_seen=card
                        )
                        views = await slack.wait_for(
                            lambda r=reviewer, b=before: [v for v in slack.open_views(r) if v["id"] not in b], timeout=5
                        )
                    except TimeoutError:
                        continue  # decided meanwhile (e.g. timed out): no modal, as in Slack
                    except ValueError:
                        continue  # an extra copy of a card, removed meanwhile
                    values = {"feedback": {"feedback_input": "shorter"}} if choice == "revise" else {}
                    await slack.submit_view(user=reviewer, view_id=views[-1]["id"], values=values)
                else:
                    try:
                        await slack.click(
                            user=reviewer, channel=APPROVALS, ts=card["ts"], action_id="approval_approve", as_seen=card
                        )
                    except ValueError:
                        continue  # an extra copy of a card, removed meanwhile
            if started >= runs and not await store.runs.live():
                break
            await asyncio.sleep(0.05)
        # the last card updates: made at once, or by the outbox after a kill (within ~10 s)
        settle = time.monotonic() + 25
        while time.monotonic() < settle and (await card_states(store, slack, seen))[1]:  # noqa: ASYNC110 - poll
            await asyncio.sleep(0.5)
        # a card whose worker died between posting it and storing its ts cannot be redrawn until someone
        # clicks it (the click tells us its ts): click each card still showing buttons, as a reviewer would
        stale = 0
        clicked = dict(seen)  # card ts -> the approval its buttons showed (a healed extra copy keeps none)
        for card in [m for m in slack.messages(APPROVALS) if not m.get("thread_ts") and approval_of(m)]:
            approval = await store.approvals.get(approval_of(card) or "")
            if approval is not None and not approval.pending:
                stale += 1
                clicked[card["ts"]] = approval.id
                slack.events_url = live[0].events
                await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        settle = time.monotonic() + 25
        while stale and time.monotonic() < settle and (await card_states(store, slack, clicked))[1]:  # noqa: ASYNC110
            await asyncio.sleep(0.5)
        result = await report(
            store,
            slack,
            runs=started,
            kills=kills,
            clicks=clicks,
            seconds=time.monotonic() - started_at,
            clicked=clicked,
            clues=Clues(logs=tmp, restarts=restarts),
        )
        sent = Counter(recipient_of(path) for path in outbox.glob("*.eml")) if outbox.exists() else Counter[str]()
        approved = await approved_sends(store)
        return {
            **result,
            "cards_stale_until_clicked": stale,
            "worker_stalls": stalls,
            "redis_restarts": redis_restarts,
            "emails_sent": sum(sent.values()),
            # emails beyond what people approved: a run (one recipient each) that wrote more emails than it
            # had `send_email` calls approved. (The same email approved twice, as two calls, is sent twice.)
            "emails_sent_twice": sum(max(0, n - approved[to]) for to, n in sent.items()),
        }
    finally:
        for task_ in list(stalling):
            task_.cancel()
        cluster.stop_all()
        await redis.aclose()
        await slack.stop()
        redis_server.process.terminate()
        redis_server.process.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)


def recipient_of(path: Path) -> str:
    """Whom an email went to (each email run writes to its own address, noteN@example.com)."""
    found = re.search(r"(?m)^To: (.*)$", path.read_text())
    return found.group(1).strip() if found else ""


async def approved_sends(store: Store) -> Counter[str]:
    """How many `send_email` calls people approved, by recipient (from the audit stream: each approval's
    `requested` entry holds its arguments, its `decision` entry the outcome)."""
    calls: dict[str, str] = {}
    approved = Counter[str]()
    for entry in await store.audit.entries(count=1_000_000):
        if entry.get("event") == "requested" and entry.get("tool") == "send_email" and entry.get("arguments"):
            calls[entry["approval"]] = str(json.loads(entry["arguments"]).get("to", ""))
        elif entry.get("event") == "decision" and entry.get("outcome") == "approved" and entry.get("approval") in calls:
            approved[calls[entry["approval"]]] += 1
    return approved


async def card_states(
    store: Store, slack: SlackStandIn, clicked: dict[str, str] | None = None, *, verbose: bool = False,
    found: list[tuple[dict[str, Any], str]] | None = None, copies: list[str] | None = None,
) -> tuple[int, int]:
    """How many cards in #approvals show what Redis says of their approval, and how many do not.
    `clicked`: the cards seen showing buttons, by ts, with the approval their buttons showed (an extra copy of a
    card, clicked after its decision, is then drawn decided, and Redis does not know its ts). `found` gets each card
    that does not match, with its approval's id ("" when no approval knows the card); `copies` the ts of each card
    known by its buttons alone (not the one Redis notes) that shows its approval's decision: such an extra copy."""
    matching = mismatched = 0
    by_card: dict[str, str] = dict(clicked or {})  # decided cards have no buttons: find their approval by the card's ts
    noted: set[str] = set()
    async for key in store.redis.scan_iter(match=store.keys.approval("*"), count=1000):
        approval_id, card_ts = await store.redis.hmget(key, ["id", "card_ts"])  # type: ignore[misc]
        if approval_id and card_ts:
            by_card[card_ts] = approval_id
            noted.add(card_ts)
    for card in [m for m in slack.messages(APPROVALS) if not m.get("thread_ts")]:
        approval_id = approval_of(card) or by_card.get(card["ts"])
        text = json.dumps(card.get("blocks"))
        approval = await store.approvals.get(approval_id) if approval_id else None
        if "Approval posted again" in text and '"actions"' not in text:
            continue  # an extra copy of a card (posted again after its worker died), inert: not counted
        if approval is None:
            mismatched += 1
            if found is not None:
                found.append((card, approval_id or ""))
            if verbose:
                print("card of no known approval:", card["ts"], text[:200], file=sys.stderr)
            continue
        shown = "pending" if '"actions"' in text else approval.status if decided_title(approval) in text else "?"
        if shown == approval.status:
            matching += 1
            if copies is not None and shown != "pending" and card["ts"] not in noted:
                copies.append(card["ts"])
        else:
            mismatched += 1
            if found is not None:
                found.append((card, approval.id))
            if verbose:
                print("card not matching:", approval.id, "shows", shown, "is", approval.status, file=sys.stderr)
    return matching, mismatched


@dataclass
class Clues:
    """What the soak keeps to explain a card that does not match: the folder of the workers' logs, and when Redis
    restarted (each (stopped, answering again), wall clock)."""

    logs: Path
    restarts: list[tuple[float, float]] = field(default_factory=list)


async def explain(store: Store, slack: SlackStandIn, card: dict[str, Any], approval_id: str, clues: Clues) -> None:
    """Everything known of a card that does not match (to stderr): its approval (found by the run the card names
    when no approval knows the card's ts) and every approval of that run (when each was made, posted, decided),
    the history of every card of the run (each post, redraw and removal, whole), the workers' log lines naming the
    run or its approvals, and each Redis restart between the card's post and its decision."""
    text = json.dumps(card.get("blocks"))
    runs = {run.id: run for channel in CHANNELS for run in await store.runs.recent(channel, limit=100_000)}
    approval = await store.approvals.get(approval_id) if approval_id else None
    run_id = approval.run_id if approval is not None else next((r for r in runs if r in text), "")
    approvals = await store.approvals.of_run(run_id) if run_id else []
    ids = {a.id for a in approvals} | ({approval_id} - {""})
    say = functools.partial(print, file=sys.stderr)
    say(f"== a card not matching: ts {card['ts']}, approval {approval_id or '(none knows its ts)'}, run {run_id}")
    say("   its blocks, whole:", text)
    if run_id in runs:
        run = runs[run_id]
        say(f"   run {run.id}: {run.status}, final {run.final}, owner {run.owner}")
    for each in sorted(approvals, key=lambda a: a.created_at):
        say(f"   approval {each.id}: {each.status} by {each.decided_by or '-'}, made {each.created_at:.6f},"
            f" card {each.card_channel}/{each.card_ts or '-'}, decided {each.decided_at or 0:.6f},"
            f" consumed {each.consumed}, copies {each.copies or '-'}")
    cards = {card["ts"]} | {a.card_ts for a in approvals if a.card_ts}
    for call in slack.calls():
        if call.method not in ("chat.postMessage", "chat.update", "chat.delete") or call.args.get("thread_ts"):
            continue
        blob = json.dumps(call.args, default=str)
        if call.args.get("ts") in cards or any(named in blob for named in ids | {run_id} - {""}):
            say(f"   slack {call.at:.6f} {call.method} ok={call.ok} {call.args.get('channel')}/"
                f"{call.args.get('ts', '(new)')}:",
                json.dumps(call.args.get("blocks"), default=str))
    for log in sorted(clues.logs.glob("worker-*.log")):
        for line in log.read_text(errors="replace").splitlines():
            if any(named in line for named in ids | {run_id} - {""}):
                say(f"   {log.name}: {line}")
    for each in approvals:  # the documented loss: a second of writes before a Redis crash (AOF everysec)
        end = each.decided_at or time.time()
        between = [f"{down:.3f}-{up:.3f}" for down, up in clues.restarts if up >= each.created_at and down <= end]
        say(f"   Redis restarts between approval {each.id}'s making and its decision:", between or "none")
    say(f"   Redis restarts in all: {[f'{down:.3f}-{up:.3f}' for down, up in clues.restarts]}")


async def report(
    store: Store,
    slack: SlackStandIn,
    *,
    runs: int,
    kills: int,
    clicks: Counter[str],
    seconds: float,
    clicked: dict[str, str] | None = None,
    clues: Clues | None = None,
) -> dict[str, Any]:
    audit = await store.audit.entries(count=1_000_000)
    endings = Counter(e["run"] for e in audit if e["event"] == "run_finished")
    statuses: Counter[str] = Counter()
    lost = discarded = 0
    for channel in ("C0GENERAL", "C0RANDOM", "C0SALES"):
        for run in await store.runs.recent(channel, limit=100_000):
            statuses[run.status] += 1
            if run.status == "failed":
                print("failed:", run.id, run.reason, file=sys.stderr)
            if run.final and run.status != "cancelled":
                # a decision shown as taken that the run did not go on with
                for approval in await store.approvals.of_run(run.id):
                    if approval.status in ("approved", "rejected", "revised", "timed_out") and not approval.consumed:
                        discarded += 1
                        print("discarded:", run.id, approval.id, approval.status, file=sys.stderr)
            if not run.final:
                lost += 1
                approvals = await store.approvals.of_run(run.id)
                print(
                    "not final:",
                    run.id,
                    run.status,
                    [(a.status, a.consumed, round(a.deadline - time.time(), 1)) for a in approvals],
                    file=sys.stderr,
                )
    found: list[tuple[dict[str, Any], str]] = []
    copies: list[str] = []
    matching, mismatched = await card_states(store, slack, clicked, verbose=True, found=found, copies=copies)
    for ts in copies:  # matching, and said: a card posted again, whose first copy was clicked after the decision
        print("an extra copy of a card, shown decided:", ts, "approval", (clicked or {}).get(ts), file=sys.stderr)
    for card, approval_id in found:
        await explain(store, slack, card, approval_id, clues or Clues(logs=Path("/nonexistent")))
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
        "extra_copies_shown_decided": len(copies),  # (among those matching: known by the buttons they showed)
        "lost": lost,
        "decisions_discarded": discarded,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--kill-every", type=int, default=40, help="kill -9 a worker every N runs started (0: never)")
    parser.add_argument("--stall-every", type=int, default=50, help="SIGSTOP a worker for 3 s every N runs (0: never)")
    parser.add_argument("--redis-restart-every", type=int, default=100, help="restart Redis every N runs (0: never)")
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    result = asyncio.run(
        soak(
            args.runs,
            args.workers,
            args.kill_every,
            args.seed,
            stall_every=args.stall_every,
            redis_restart_every=args.redis_restart_every,
        )
    )
    print(json.dumps(result, indent=2))
    ok = (
        result["lost"] == 0
        and result["more_than_one_terminal_state"] == 0
        and result["cards_not_matching"] == 0
        and result["decisions_discarded"] == 0
        and result["emails_sent_twice"] == 0
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())

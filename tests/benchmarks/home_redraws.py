"""App Home redraws after decisions (#14): the click's ack with Homes to publish, and how publishes merge.

Real parts, laid out as `ack_under_load.py` lays them out: a real redis-server; one real bot worker in another
process (the Bolt app over aiohttp, uvloop, logging at INFO like `python -m bot`); the Slack stand-in in a third
process at `SLACK_API_URL` (every Web API call recorded: `slack.calls()`, counted by method at its `/counts`); this
process plays the reviewers with signed HTTP. People open their Home with a signed `app_home_opened` Events API
callback (the payload `SlackStandIn.open_home` delivers), so the worker notes them in `homes:viewers` and publishes
their Home. Approvals are made as the other benchmarks make them (the worker's `/prepare`: `store.approvals.create`
with a real ~3 KB checkpoint, the card posted to the stand-in, a task awaiting the decision); approvers `anyone`, so
every decision concerns the Home of each of the 3 people (alice, bob, carol) who opened theirs.

(a) Ack with Homes vs. without (`ack`). Blocks of `--block` pending approvals are clicked Approve one after another
    (a signed `block_actions` POST; the ack is its HTTP round trip, as click_to_resume / ack_under_load time it).
    `no_homes` blocks: nobody has opened a Home (the viewers' set is emptied), so a redraw publishes nothing: the
    floor. `homes_3` blocks: the 3 people opened their Home just before (each Home lists the block's approvals), so
    every decision's card redraw then publishes their Homes in the background (merged) while the next clicks come.
    Clicks come back to back (the next as soon as the previous was answered, as click_to_resume clicks), so one
    decision's background Home work overlaps the next clicks; the `_paced` series click every `--gap-ms` instead
    (a click rate a worker meets in practice). The four series alternate block by block in a rotating order, in one
    run, on the same processes; between blocks everything settles (the outbox is empty: every card and Home redraw
    done). One warm-up block of each first. Also counted per decision: the worker's (and the others') CPU, Redis
    commands (`INFO commandstats`), `views.publish` calls.
(b) A burst of `--burst` decisions at once (`burst`): that many pending approvals, the 3 Homes drawn listing them,
    then every Approve click fired at the same instant. Counted on the stand-in: `views.publish` calls caused by the
    burst (per decision; without merging it would be 3 per decision). Timed from the burst's first POST: until
    every Home is current (each person's Home was published from a state at least as new as the burst's last
    decision: its `seen` counter in Redis reached the change counter read once every click was answered) and until
    the outbox is empty (every card and Home redraw done), and until every card was redrawn (`chat.update` calls on
    the stand-in). Then the Homes as the stand-in shows them are checked: none may list a decided approval. Each
    burst is paired with one where nobody has opened a Home (`no_homes`: cards only, the floor for those times).
    Repeated `--bursts` times on fresh approvals, the pair in a rotating order; medians. Runs before (a), so the
    stand-in's call log is still small when it is read.

    python tests/benchmarks/home_redraws.py [--decisions 1000] [--block 50] [--gap-ms 20] [--burst 200] [--bursts 5]
    python tests/benchmarks/home_redraws.py --small      # CI: 20 decisions per series in blocks of 10, 2 bursts of 10
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
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.devslack.model import APP_ID, BOT_USER_ID, TEAM_ID, VERIFICATION_TOKEN
from bot.store import Store, connect
from tests.benchmarks.common import (
    Proc,
    Timeout,
    click_all,
    click_body,
    machine_info,
    percentile,
    proc_cpu_seconds,
    realistic_checkpoint,
    sign,
    start_redis,
    stop_redis,
    summary_ms,
    write_json,
)
from tests.conftest import ALICE, BOB, CAROL

VIEWERS = (ALICE, BOB, CAROL)
SERIES = ("no_homes", "homes_3", "no_homes_paced", "homes_3_paced")
BURST_SERIES = ("homes_3", "no_homes")
PAIRS = (("homes_3", "no_homes"), ("homes_3_paced", "no_homes_paced"))  # (ours, its floor)
WARMUP_BLOCK = 50
POLL = 0.005  # seconds between two looks at Redis while waiting for something (with a deadline)
SETTLE_TIMEOUT = 120.0


@dataclass
class Block:
    series: str
    decisions: int
    acks: list[float] = field(default_factory=list)  # seconds, POST to HTTP 200
    resumed: list[float] = field(default_factory=list)  # seconds, POST to the awaiting task running again
    publishes: int = 0  # views.publish calls from the first click until settled
    card_updates: int = 0
    settle_s: float = 0.0  # from the last ack until the outbox was empty
    redis_commands: dict[str, int] = field(default_factory=dict)  # first click until settled (INFO commandstats)
    cpu_s: dict[str, float] = field(default_factory=dict)  # CPU seconds per process, first click until settled
    errors: list[str] = field(default_factory=list)


class Bench:
    def __init__(
        self, http: aiohttp.ClientSession, slack: Proc, worker: Proc, store: Store, checkpoint: str, proposal: str
    ) -> None:
        self.http = http
        self.slack = slack
        self.worker = worker
        self.store = store
        self.checkpoint = checkpoint
        self.proposal = proposal
        self.events_url = str(worker.info["events_url"])
        self.slack_base = str(slack.info["api_url"]).removesuffix("/").removesuffix("/api")
        self.pids = {"worker": worker.pid, "slack_standin": slack.pid, "load_generator": os.getpid()}

    # helpers ----------------------------------------------------------------------------------
    async def counts(self) -> dict[str, int]:
        """The stand-in's recorded Web API calls (`slack.calls()`), by method."""
        counts: dict[str, int] = await self.slack.call(self.http, "/counts")
        return counts

    async def standin_get(self, path: str) -> Any:
        async with self.http.get(self.slack_base + path, timeout=aiohttp.ClientTimeout(total=120)) as response:
            response.raise_for_status()
            return await response.json()

    def cpu(self) -> dict[str, float]:
        return {name: proc_cpu_seconds(pid) for name, pid in self.pids.items()}

    async def prepare(self, n: int) -> list[tuple[str, str, str]]:
        """`n` pending approvals owned by the worker, their cards posted, a task awaiting each."""
        answer = await self.worker.call(
            self.http,
            "/prepare",
            {"n": n, "mode": "expect", "checkpoint": self.checkpoint, "proposal": self.proposal, "concurrency": 16},
        )
        return [(str(a), str(c), str(t)) for a, c, t in answer["approvals"]]

    async def open_homes(self) -> None:
        """The 3 people open their Home (signed `app_home_opened`, as `SlackStandIn.open_home` sends it); returns
        once each Home was published from the current state."""
        changes = await self.store.homes.changes()
        published = (await self.counts()).get("views.publish", 0)
        for user in VIEWERS:
            body = home_opened_body(user)
            headers = {**sign(body), "Content-Type": "application/json"}
            async with self.http.post(self.events_url, data=body, headers=headers) as response:
                if response.status != 200:
                    raise RuntimeError(f"app_home_opened for {user}: HTTP {response.status}: {await response.text()}")
        deadline = time.monotonic() + 30
        while True:
            seen = [await self.store.homes.seen(u) for u in VIEWERS]
            if min(seen) >= changes and (await self.counts()).get("views.publish", 0) >= published + len(VIEWERS):
                return
            if time.monotonic() > deadline:
                raise Timeout(f"the Homes were not drawn within 30 s (seen {seen}, counter {changes})")
            await asyncio.sleep(POLL)

    async def close_homes(self) -> None:
        """Nobody has opened their Home (so a redraw publishes none)."""
        await self.store.redis.zrem(self.store.keys.home_viewers, *VIEWERS)

    async def outbox_size(self) -> int:
        return int(await self.store.redis.zcard(self.store.keys.outbox))

    async def settled(self, timeout: float = SETTLE_TIMEOUT) -> float:  # noqa: ASYNC109 - a deadline
        """Wait until the outbox is empty (every card and Home redraw done); returns the seconds waited."""
        started = time.perf_counter()
        while True:
            if await self.outbox_size() == 0:
                return time.perf_counter() - started
            if time.perf_counter() - started > timeout:
                raise Timeout(f"the outbox still had {await self.outbox_size()} entries after {timeout:g} s")
            await asyncio.sleep(POLL)

    async def resumed(self, started_wall: dict[str, float], expected: int) -> tuple[dict[str, float], list[str]]:
        """Wait for the worker's awaiting tasks; (approval id -> seconds from the click to resumed, problems)."""
        waited = await self.worker.call(self.http, "/wait", {"timeout": 60})
        await self.worker.call(self.http, "/reset", {})
        problems = []
        if waited["missing"] or waited["failed"]:
            problems.append(f"not resumed: {len(waited['missing'])}, failed: {waited['failed']}")
        if waited["outcomes"].get("approved", 0) != expected:
            problems.append(f"outcomes {waited['outcomes']}, expected {expected} approved")
        resolved = {a: float(t) - started_wall[a] for a, t in waited["resolved"].items() if a in started_wall}
        return resolved, problems

    # (a) one block of sequential clicks ----------------------------------------------------------
    async def block(self, series: str, n: int, *, gap: float) -> Block:
        """`n` pending approvals clicked one after another (`gap` > 0: a click every `gap` seconds, on a
        schedule; 0: each as soon as the previous one was answered)."""
        result = Block(series=series, decisions=n)
        homes = series.startswith("homes")
        if not homes:
            await self.close_homes()
        approvals = await self.prepare(n)
        if homes:
            await self.open_homes()  # each Home lists this block's approvals
        await self.settled()
        await self.store.redis.config_resetstat()
        before, cpu_before = await self.counts(), self.cpu()
        walls: dict[str, float] = {}
        order: list[str] = []
        start = time.perf_counter()
        for i, (approval_id, channel, ts) in enumerate(approvals):
            if gap:  # pacing, not synchronisation: the i-th click leaves at start + i * gap
                await asyncio.sleep(max(0.0, start + i * gap - time.perf_counter()))
            body = click_body(approval_id, channel, ts)
            headers = sign(body)
            walls[approval_id] = time.time()
            started = time.perf_counter()
            async with self.http.post(self.events_url, data=body, headers=headers) as response:
                await response.read()
                status = response.status
            result.acks.append(time.perf_counter() - started)
            order.append(approval_id)
            if status != 200:
                result.errors.append(f"HTTP {status}")
        result.settle_s = await self.settled()
        after, cpu_after = await self.counts(), self.cpu()
        stats = await self.store.redis.info("commandstats")
        result.redis_commands = {
            name.removeprefix("cmdstat_"): int(row["calls"])
            for name, row in stats.items()
            if name not in ("cmdstat_config", "cmdstat_info")
        }
        result.cpu_s = {name: cpu_after[name] - cpu_before[name] for name in cpu_after}
        result.publishes = after.get("views.publish", 0) - before.get("views.publish", 0)
        result.card_updates = after.get("chat.update", 0) - before.get("chat.update", 0)
        resolved, problems = await self.resumed(walls, n)
        result.errors += problems
        result.resumed = [resolved[a] for a in order if a in resolved]
        return result

    # (b) one burst --------------------------------------------------------------------------------
    async def burst(self, series: str, n: int) -> dict[str, Any]:
        """`n` Approve clicks at once; `homes_3`: the 3 Homes drawn just before (listing the burst's approvals),
        `no_homes`: nobody has opened a Home (the floor: cards only)."""
        homes = series == "homes_3"
        if not homes:
            await self.close_homes()
        approvals = await self.prepare(n)
        if homes:
            await self.open_homes()  # each Home lists (the first page of) the burst's approvals
        await self.settled()
        await self.store.redis.config_resetstat()
        before, cpu_before = await self.counts(), self.cpu()
        calls_before = before.get("views.publish", 0)
        updates_before = before.get("chat.update", 0)
        clicks = [(self.events_url, click_body(a, c, t)) for a, c, t in approvals]
        walls = {a: time.time() for a, _, _ in approvals}
        t0 = time.perf_counter()
        answers = await click_all(self.http, clicks)  # all at once
        acked_all = max(r.done for r in answers) - t0
        counter = await self.store.homes.changes()  # the burst's last decision has this change number or less
        homes_current: float | None = None if homes else 0.0
        outbox_empty: float | None = None
        cards_redrawn: float | None = None
        deadline = t0 + SETTLE_TIMEOUT
        while homes_current is None or outbox_empty is None or cards_redrawn is None:
            async with self.store.redis.pipeline(transaction=False) as pipe:
                for user in VIEWERS:
                    pipe.hget(self.store.keys.home(user), "seen")
                pipe.zcard(self.store.keys.outbox)
                *seen, outbox = await pipe.execute()
            updates = (await self.counts()).get("chat.update", 0) - updates_before if cards_redrawn is None else n
            now = time.perf_counter()
            if homes_current is None and min(int(x or 0) for x in seen) >= counter:
                homes_current = now - t0
            if outbox_empty is None and int(outbox) == 0:
                outbox_empty = now - t0
            if cards_redrawn is None and updates >= n:
                cards_redrawn = now - t0
            if now > deadline:
                raise Timeout(
                    f"burst not settled after {SETTLE_TIMEOUT:g} s: Homes seen {seen} < {counter}, outbox {outbox},"
                    f" {updates} of {n} cards redrawn"
                )
            await asyncio.sleep(POLL)
        after, cpu_after = await self.counts(), self.cpu()
        stats = await self.store.redis.info("commandstats")
        publishes = after.get("views.publish", 0) - calls_before
        calls = (await self.standin_get("/_control/calls?method=views.publish"))["calls"][calls_before:]
        per_person: dict[str, int] = {}
        for call in calls:
            user = str(call["args"].get("user_id"))
            per_person[user] = per_person.get(user, 0) + 1
        listed: dict[str, int] = {}
        if homes:  # the Homes as the stand-in shows them now: none may offer a decided approval
            shown = (await self.standin_get("/_control/state"))["homes"]
            decided = {a for a, _, _ in approvals}
            listed = {user: len(listed_approvals(shown.get(user)) & decided) for user in VIEWERS}
        resolved, problems = await self.resumed(walls, n)
        errors = [r.error or f"HTTP {r.status}" for r in answers if r.status != 200]
        return {
            "series": series,
            "decisions": n,
            "views_publish_calls": publishes,
            "publishes_per_decision": publishes / n,
            "unmerged_publishes": len(VIEWERS) * n if homes else 0,
            "publishes_per_person": per_person,
            "publishes_refused": sum(1 for c in calls if not c["ok"]),
            "card_updates": after.get("chat.update", 0) - updates_before,
            "all_acked_ms": acked_all * 1000,
            "homes_current_ms": homes_current * 1000 if homes else None,
            "cards_redrawn_ms": cards_redrawn * 1000,
            "outbox_empty_ms": outbox_empty * 1000,
            "ack_from_burst": summary_ms([r.done - t0 for r in answers]),
            "resumed_from_burst": summary_ms(sorted(resolved.values())),
            "cpu_ms_per_decision": {k: (cpu_after[k] - cpu_before[k]) * 1000 / n for k in cpu_after},
            # hget, zcard: this script's polling; set: the Homes' locks (an attempt that finds one taken waits 20 ms)
            "redis_commands_per_decision": {
                name.removeprefix("cmdstat_"): round(int(row["calls"]) / n, 2)
                for name, row in sorted(stats.items())
                if name not in ("cmdstat_config", "cmdstat_info")
            },
            "decided_still_listed": listed,
            "errors": errors[:5] + problems,
        }


def home_opened_body(user: str) -> bytes:
    """The Events API callback Slack sends when `user` opens the app's Home tab (as the stand-in builds it)."""
    event_id = f"Ev{uuid.uuid4().hex[:10].upper()}"
    callback = {
        "token": VERIFICATION_TOKEN,
        "team_id": TEAM_ID,
        "context_team_id": TEAM_ID,
        "context_enterprise_id": None,
        "api_app_id": APP_ID,
        "event": {
            "type": "app_home_opened",
            "user": user,
            "channel": "D" + user[1:],
            "tab": "home",
            "event_ts": f"{time.time():.6f}",
        },
        "type": "event_callback",
        "event_id": event_id,
        "event_time": int(time.time()),
        "authorizations": [
            {"enterprise_id": None, "team_id": TEAM_ID, "user_id": BOT_USER_ID, "is_bot": True},
        ],
        "is_ext_shared_channel": False,
        "event_context": f"4-{event_id}",
    }
    return json.dumps(callback).encode()


def listed_approvals(view: dict[str, Any] | None) -> set[str]:
    """Ids of the approvals a published Home offers to decide (its Approve / Reject buttons)."""
    return {
        str(element.get("value"))
        for block in (view or {}).get("blocks") or []
        if block.get("type") == "actions"
        for element in block.get("elements") or []
        if element.get("action_id") in ("approval_approve", "approval_reject")
    }


# ------------------------------------------------------------------------------------------------ the run


async def measure(decisions: int, block: int, burst: int, bursts: int, gap: float) -> dict[str, Any]:
    log_dir = Path(tempfile.mkdtemp(prefix="bench-homes-"))
    redis_server = start_redis()
    procs: list[Proc] = []
    checkpoint, proposal = await realistic_checkpoint()
    redis = connect(redis_server.url)
    blocks: list[Block] = []
    bursts_out: list[dict[str, Any]] = []
    try:
        slack = await Proc.start("slack", {"kind": "standin"}, log_dir=log_dir)
        procs.append(slack)
        worker = await Proc.start(
            "worker", {"redis_url": redis_server.url, "api_url": slack.info["api_url"]}, log_dir=log_dir
        )
        procs.append(worker)
        connector = aiohttp.TCPConnector(limit=0)  # no client-side queue: a burst's requests leave at once
        async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=60)) as http:
            bench = Bench(http, slack, worker, Store(redis), checkpoint, proposal)
            bench.pids["redis"] = redis_server.process.pid
            # (b) bursts first, while the stand-in's call log is small
            for i in range(bursts):
                for series in BURST_SERIES if i % 2 == 0 else BURST_SERIES[::-1]:
                    result = await bench.burst(series, burst)
                    bursts_out.append(result)
                    current = result["homes_current_ms"]
                    print(
                        f"burst {i + 1}/{bursts} {series:8}: {burst} decisions, {result['views_publish_calls']}"
                        f" views.publish ({result['publishes_per_decision']:.3f} per decision), all acked"
                        f" {result['all_acked_ms']:.0f} ms, cards redrawn {result['cards_redrawn_ms']:.0f} ms,"
                        f" Homes current {'-' if current is None else f'{current:.0f}'} ms,"
                        f" outbox empty {result['outbox_empty_ms']:.0f} ms",
                        flush=True,
                    )
            # (a) blocks of sequential clicks, the two series alternating in a rotating order
            for series in SERIES:  # warm-up, not recorded
                await bench.block(series, WARMUP_BLOCK, gap=gap if series.endswith("paced") else 0.0)
            for i in range(-(-decisions // block)):
                size = min(block, decisions - i * block)
                shift = i % len(SERIES)
                for series in SERIES[shift:] + SERIES[:shift]:  # rotate the order: no series always goes first
                    blocks.append(await bench.block(series, size, gap=gap if series.endswith("paced") else 0.0))
            print(f"ack: {len(blocks)} blocks of up to {block} clicks", flush=True)
    finally:
        for proc in procs:
            await proc.stop()
        await redis.aclose()
        stop_redis(redis_server)
    return report(blocks, bursts_out, decisions=decisions, block=block, burst=burst, gap=gap)


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def report(
    blocks: list[Block], bursts: list[dict[str, Any]], *, decisions: int, block: int, burst: int, gap: float
) -> dict[str, Any]:
    acked = {s: summary_ms([x for b in blocks if b.series == s for x in b.acks]) for s in SERIES}
    resumed = {s: summary_ms([x for b in blocks if b.series == s for x in b.resumed]) for s in SERIES}
    ratios: dict[str, dict[str, float | None]] = {}
    pair_ratios: dict[str, dict[str, Any]] = {}
    for ours, floor in PAIRS:
        name = f"{ours}/{floor}"
        ratios[name] = {
            q: _ratio(acked[ours].get(f"{q}_ms"), acked[floor].get(f"{q}_ms")) for q in ("p50", "p90", "p99")
        }
        # round by round (each round has one block of every series): the ratio of the two blocks' p50 and p90
        ours_blocks = [b for b in blocks if b.series == ours]
        floor_blocks = [b for b in blocks if b.series == floor]
        pair_ratios[name] = {}
        for q in (0.5, 0.9):
            values = [
                _ratio(percentile(o.acks, q), percentile(f.acks, q))
                for o, f in zip(ours_blocks, floor_blocks, strict=True)
            ]
            found = [v for v in values if v is not None]
            pair_ratios[name][f"p{int(q * 100)}"] = {
                "median": statistics.median(found) if found else None,
                "min": min(found, default=None),
                "max": max(found, default=None),
                "values": [round(v, 3) for v in found],
            }
    per_series: dict[str, dict[str, Any]] = {}
    for s in SERIES:
        mine = [b for b in blocks if b.series == s]
        n = sum(b.decisions for b in mine) or 1
        commands: dict[str, int] = {}
        for b in mine:
            for name, calls in b.redis_commands.items():
                commands[name] = commands.get(name, 0) + calls
        per_series[s] = {
            "blocks": len(mine),
            "decisions": n,
            "click_gap_ms": gap * 1000 if s.endswith("paced") else 0.0,
            "views_publish_per_decision": sum(b.publishes for b in mine) / n,
            "card_updates_per_decision": sum(b.card_updates for b in mine) / n,
            "settle_after_last_click_ms": summary_ms([b.settle_s for b in mine]),
            "cpu_ms_per_decision": {k: sum(b.cpu_s.get(k, 0.0) for b in mine) * 1000 / n for k in mine[0].cpu_s}
            if mine
            else {},
            # zcard: mostly this script's own polling of the outbox while it settles
            "redis_commands_per_decision": {k: round(v / n, 2) for k, v in sorted(commands.items())},
            "errors": [e for b in mine for e in b.errors][:5],
        }

    def median(series: str, key: str) -> float | None:
        values = [float(b[key]) for b in bursts if b["series"] == series and b.get(key) is not None]
        return statistics.median(values) if values else None

    keys = (
        "views_publish_calls",
        "publishes_per_decision",
        "all_acked_ms",
        "cards_redrawn_ms",
        "homes_current_ms",
        "outbox_empty_ms",
    )
    homes_bursts = [b for b in bursts if b["series"] == "homes_3"]
    main_ratio = ratios["homes_3/no_homes"]
    return {
        "benchmark": "home_redraws",
        "machine": machine_info(),
        "viewers": list(VIEWERS),
        "ack": {
            "decisions_per_series": decisions,
            "block": block,
            "acked": acked,
            "resumed": resumed,
            "ratios": ratios,
            "block_ratios": pair_ratios,
            "series": per_series,
        },
        "burst": {
            "decisions": burst,
            "repeats": len(homes_bursts),
            "median": {series: {key: median(series, key) for key in keys} for series in BURST_SERIES},
            "runs": bursts,
        },
        "goals": {
            "ack_p50_within_10pct_of_no_homes": main_ratio["p50"] is not None and main_ratio["p50"] <= 1.10,
            "ack_p90_within_10pct_of_no_homes": main_ratio["p90"] is not None and main_ratio["p90"] <= 1.10,
            "publishes_merged_below_1_per_decision": all(b["publishes_per_decision"] < 1 for b in homes_bursts),
            "no_home_lists_a_decided_approval": all(not any(b["decided_still_listed"].values()) for b in homes_bursts),
            "no_errors": not any(b["errors"] for b in bursts) and not any(s["errors"] for s in per_series.values()),
        },
        "samples_ms": {s: [round(x * 1000, 4) for b in blocks if b.series == s for x in b.acks] for s in SERIES},
    }


def print_summary(result: dict[str, Any]) -> None:
    ack = result["ack"]
    print(f"\nack of an Approve click ({ack['decisions_per_series']} per series, blocks of {ack['block']})")
    print(
        f"{'':15} {'gap ms':>6} {'p50 ms':>7} {'p90 ms':>7} {'p99 ms':>7} {'publishes/dec':>13}"
        f" {'worker CPU ms/dec':>17} {'hgetall/dec':>11}"
    )
    for s in SERIES:
        row, series = ack["acked"][s], ack["series"][s]
        print(
            f"{s:15} {series['click_gap_ms']:6.0f} {row['p50_ms']:7.2f} {row['p90_ms']:7.2f} {row['p99_ms']:7.2f}"
            f" {series['views_publish_per_decision']:13.2f} {series['cpu_ms_per_decision'].get('worker', 0):17.2f}"
            f" {series['redis_commands_per_decision'].get('hgetall', 0):11.1f}"
        )
    for name, r in ack["ratios"].items():
        pr = ack["block_ratios"][name]
        print(
            f"{name:30} p50 {r['p50']:.2f}x  p90 {r['p90']:.2f}x  p99 {r['p99']:.2f}x"
            f"  (per round: p50 median {pr['p50']['median']:.2f}, p90 median {pr['p90']['median']:.2f})"
        )
    b = result["burst"]
    print(f"\nbursts of {b['decisions']} decisions at once (median of {b['repeats']} each; ms from the first POST)")
    print(f"{'':10} {'publishes':>9} {'per dec':>7} {'all acked':>9} {'cards':>7} {'Homes':>7} {'outbox':>7}")
    for series, m in b["median"].items():
        current = "-" if m["homes_current_ms"] is None else f"{m['homes_current_ms']:7.0f}"
        print(
            f"{series:10} {m['views_publish_calls']:9.0f} {m['publishes_per_decision']:7.3f} {m['all_acked_ms']:9.0f}"
            f" {m['cards_redrawn_ms']:7.0f} {current:>7} {m['outbox_empty_ms']:7.0f}"
        )
    print(f"(without merging: {3 * b['decisions']} publishes per burst of {b['decisions']} for 3 Homes)")
    print(f"goals: {json.dumps(result['goals'])}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--decisions", type=int, default=1000, help="clicks per series in (a) (after a warm-up block)")
    parser.add_argument("--block", type=int, default=50, help="clicks per block in (a)")
    parser.add_argument("--gap-ms", type=float, default=20.0, help="time between clicks in the paced series of (a)")
    parser.add_argument("--burst", type=int, default=200, help="decisions per burst in (b)")
    parser.add_argument("--bursts", type=int, default=5, help="bursts in (b)")
    parser.add_argument("--small", action="store_true", help="CI size: 20 per series in blocks of 10, 2 bursts of 10")
    parser.add_argument("--out", type=Path, default=None, help="also write the JSON (with raw samples) here")
    args = parser.parse_args()
    if args.small:
        args.decisions, args.block, args.burst, args.bursts = 20, 10, 10, 2
    result = asyncio.run(measure(args.decisions, args.block, args.burst, args.bursts, args.gap_ms / 1000))
    print(json.dumps({k: v for k, v in result.items() if k != "samples_ms"}, indent=2))
    print_summary(result)
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

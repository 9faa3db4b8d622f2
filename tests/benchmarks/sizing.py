"""Sizing (docs/operators/sizing.md): what one approval really stores, how many workers a rate needs, and what an
archive holds and costs to verify over a year.

Real parts: a throwaway redis-server, a worker as `python -m bot` builds it (in this process, with a signing key,
`SECRETS_KEY` and `AUDIT_ARCHIVE` in a folder), the local Slack, and programs asking through the Approvals API with
an API key. Each approval is the whole of a program's approved call: the ask (a tool call, an email of about 400
characters), its card, a person's Approve (a signed click), the program's read of the decision (its receipt) and
its use (`POST .../use`).

1. Burst: `--approvals` approvals, `--concurrency` at a time, in the home workspace, and 10 in a second workspace
   (`SLACK_WORKSPACES_FILE`). Then, the log checkpointed and archived: Redis's `used_memory` per approval; the
   audit entries written per approval (the counter); `MEMORY USAGE` of every key, by family (ids replaced by `*`):
   the approval's own records per approval, the audit stream per entry, and what a workspace holds besides its
   approvals; the same after the trim an archive allows (all archived, AUDIT_REDIS_KEEP 0); approvals a second
   through one worker (its clients and the local Slack in the same process: a floor).
2. Trickle: approvals one at a time, each archived before the next (how a quiet day's log is archived: a segment
   per checkpoint): objects and bytes per segment, and `audit verify --archive`'s time per segment.

    python tests/benchmarks/sizing.py [--approvals 1000] [--trickle 30] [--out FILE]
    python tests/benchmarks/sizing.py --small      # CI: 20 approvals, 3 trickled, checkpoints every 1 s
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.audit.archive.stores import FolderStore
from bot.audit.archive.verify import check_archive
from bot.audit.checkpoints import AuditCheckpoints
from bot.core.key_files import ensure_keys_file
from bot.core.signing import SigningKeys
from bot.devslack.model import OTHER_TEAM
from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from tests.benchmarks.common import machine_info, start_redis, stop_redis, write_json
from tests.conftest import ALICE, APPROVALS, BOB, BOT_TOKEN, SALES, SIGNING_SECRET, Worker, bot_env, start_worker
from tests.support.api import Client
from tests.support.archive import trust

OTHER_CHANNEL, ERIN, DAN = "C1APPROVALS", "U1ERIN", "U1DAN"
BODY = ("Dear Jordan,\n\nFrom 1 July our list prices rise by 4%, the first change in two years. Orders placed "
        "before 30 June keep today's prices, and your account manager can lock in a 12-month rate for you.\n\n"
        "If you have any questions, just reply to this email.\n\nKind regards,\nThe Acme team") * 2
YEAR_APPROVALS_A_DAY = 5000
WORKING_SECONDS = 8 * 3600  # a day's approvals arrive in 8 working hours
IDS = re.compile(r"(?<=:)[^:]*\d[^:]*")  # a key's parts that carry a digit: ids, teams, seqs


def ask(requester: str, n: int) -> dict[str, Any]:
    return {"kind": "tool", "title": f"Tell customer {n} about the prices", "requester": requester,
            "tool": {"name": "send_email", "arguments": {"to": f"customer{n}@example.com",
                                                         "subject": "An update to our prices", "body": BODY}}}


async def approve_one(slack: SlackStandIn, client: Client, n: int, *, channel: str, requester: str,
                      approver: str, card: Callable[[str], Awaitable[dict[str, Any]]]) -> None:
    """One program's approved call, whole: ask, card, click, read (the receipt), use."""
    status, asked = await client.ask(ask(requester, n))
    assert status == 201, asked
    posted = await card(asked["id"])
    clicked = await slack.click(user=approver, channel=channel, ts=posted["ts"], action_id="approval_approve")
    assert clicked.status == 200
    answer = await client.wait(asked["id"], wait=30)
    deadline = time.monotonic() + 120  # a loaded machine may take its time: the figures are sizes, not latencies
    while answer["status"] == "pending" and time.monotonic() < deadline:
        answer = await client.wait(asked["id"], wait=30)
    assert answer["status"] == "approved" and answer.get("receipt"), answer
    status, used, _ = await client.call("POST", f"/api/v1/approvals/{asked['id']}/use", body={"token": f"exec-{n:06d}"})
    assert status == 200 and used["used"] is True, used


def home_card(worker: Worker) -> Callable[[str], Awaitable[dict[str, Any]]]:
    async def card(approval_id: str) -> dict[str, Any]:
        approval = await worker.services.store.approvals.get(approval_id)
        assert approval is not None and approval.card_ts, approval  # posted before the ask is answered
        return {"ts": approval.card_ts}
    return card


def channel_card(slack: SlackStandIn, channel: str) -> Callable[[str], Awaitable[dict[str, Any]]]:
    async def card(approval_id: str) -> dict[str, Any]:
        def found() -> dict[str, Any] | None:
            return next((m for m in slack.messages(channel) if approval_id in json.dumps(m.get("blocks") or [])),
                        None)
        posted: dict[str, Any] = await slack.wait_for(found, description=f"the card of {approval_id}")
        return posted
    return card


async def settled(worker: Worker, *, within: float = 120.0) -> int:
    """Wait until every audit entry is signed and archived; the last seq."""
    store = worker.services.store
    deadline = time.monotonic() + within
    while True:
        last = await store.audit.counter() or 0
        if (await store.audit.archived_through() or 0) >= last:
            return last
        assert time.monotonic() < deadline, f"the archive did not reach seq {last} within {within:.0f} s"
        await asyncio.sleep(0.2)


async def key_sizes(worker: Worker) -> dict[str, tuple[int, int]]:
    """Every key's `MEMORY USAGE`, by family (ids replaced by `*`): (keys, bytes)."""
    redis = worker.services.store.redis
    families: dict[str, list[int]] = {}
    async for key in redis.scan_iter(count=1000):
        name = key.decode() if isinstance(key, bytes) else str(key)
        family = IDS.sub("*", name)
        sizes = families.setdefault(family, [0, 0])
        sizes[0] += 1
        sizes[1] += int(await redis.memory_usage(name, samples=0) or 0)
    return {family: (count, size) for family, (count, size) in families.items()}


async def used_memory(worker: Worker) -> int:
    return int((await worker.services.store.redis.info("memory"))["used_memory"])


def objects(folder: Path) -> tuple[int, int, int]:
    """The archive's (objects, bytes, segments)."""
    files = [p for p in folder.rglob("*") if p.is_file()]
    segments = len(list((folder / "segments").glob("*"))) if (folder / "segments").exists() else 0
    return len(files), sum(p.stat().st_size for p in files), segments


async def start(slack: SlackStandIn, redis_url: str, work: Path, tokens: dict[str, str], interval: int) -> Worker:
    """The worker; `interval`: its AUDIT_CHECKPOINT_INTERVAL (s), what each archive waits for."""
    keys = work / "keys.json"
    ensure_keys_file(keys)
    listed = work / "workspaces.json"
    listed.write_text(json.dumps([{"team": OTHER_TEAM, "bot_token": "env:OTHER_TOKEN"}]))
    env = bot_env(slack=slack, redis_url=redis_url, model_config=None, SIGNING_KEYS_FILE=str(keys),
                  AUDIT_ARCHIVE=(work / "archive").as_uri(), SLACK_WORKSPACES_FILE=str(listed),
                  OTHER_TOKEN=tokens[OTHER_TEAM], API_KEY_RATE="100000", AUDIT_CHECKPOINT_INTERVAL=str(interval))
    worker = await start_worker(env)
    slack.events_url = worker.url + "/slack/events"
    return worker


async def client_of(worker: Worker, name: str, channel: str, team: str | None = None) -> Client:
    from bot.core.workspaces import WorkspaceRef

    made = await worker.services.store.api_keys.create(
        name, (channel,), by="bench", workspace=WorkspaceRef(team) if team else None, per_minute=1_000_000,
        max_pending=1_000_000)
    assert made is not None
    return Client(worker, made.key)


async def burst(approvals: int, concurrency: int, work: Path, interval: int) -> dict[str, Any]:
    server = start_redis()
    slack = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    tokens = slack.several_workspaces()
    worker = await start(slack, server.url, work, tokens, interval)
    stopped = False
    try:
        home, other = await client_of(worker, "home", SALES), await client_of(worker, "other", OTHER_CHANNEL,
                                                                                 OTHER_TEAM)
        card = home_card(worker)
        for n in range(5):  # warm up: every part built, every one-off key written
            await approve_one(slack, home, n, channel=APPROVALS, requester=ALICE, approver=BOB, card=card)
        first = await settled(worker)
        memory_before, families_before = await used_memory(worker), await key_sizes(worker)
        started, queue = time.perf_counter(), iter(range(100, 100 + approvals))

        async def client_loop() -> None:
            for n in queue:
                await approve_one(slack, home, n, channel=APPROVALS, requester=ALICE, approver=BOB, card=card)

        await asyncio.gather(*(client_loop() for _ in range(concurrency)))
        took = time.perf_counter() - started
        for n in range(10):  # the second workspace: what it holds besides its approvals
            await approve_one(slack, other, n, channel=OTHER_CHANNEL, requester=ERIN, approver=DAN,
                              card=channel_card(slack, OTHER_CHANNEL))
        last = await settled(worker)
        await worker.services.background.drain()
        memory_after, families_after = await used_memory(worker), await key_sizes(worker)
        archive = objects(work / "archive")
        verify_started = time.perf_counter()
        checked = await check_archive(FolderStore(work / "archive"),
                                      trust=trust(SigningKeys.from_file(work / "keys.json")))
        verifying = time.perf_counter() - verify_started
        store = worker.services.store
        stream_before = int(await store.redis.memory_usage(store.keys.audit, samples=0) or 0)
        entries_kept = int(await store.redis.xlen(store.keys.audit))
        await worker.stop()
        stopped = True  # then the trim an archive allows, as the checkpoint writer makes it (all archived)
        store = Store(connect(server.url))
        await store.redis.delete(store.keys.audit_lease)  # the stopped worker's lease
        await store.audit.append("decision", note="the trim's checkpoint")
        trimmer = AuditCheckpoints(store, SigningKeys.from_file(work / "keys.json"), worker="bench", every=1000,
                                   interval=0, retention=0, archive=True)
        await trimmer.write_due()
        stream_after = int(await store.redis.memory_usage(store.keys.audit, samples=0) or 0)
        await store.redis.aclose()
    finally:
        if not stopped:
            await worker.stop()
        await slack.stop()
        stop_redis(server)
    return report(approvals, took, first, last, memory_before, memory_after, families_before,
                  families_after, stream_before, stream_after, entries_kept, archive, checked.size, verifying)


def report(approvals: int, took: float, first: int, last: int, memory_before: int, memory_after: int,
           before: dict[str, tuple[int, int]], after: dict[str, tuple[int, int]],
           stream_before: int, stream_after: int, entries_kept: int, archive: tuple[int, int, int],
           verified: int, verifying: float) -> dict[str, Any]:
    total = approvals + 10
    grown = {family: (count - before.get(family, (0, 0))[0], size - before.get(family, (0, 0))[1])
             for family, (count, size) in after.items()}
    audit = {family for family in after if family.split(":")[1:2] == ["audit"]}
    per_approval = {family: grown[family] for family in grown
                    if family not in audit and grown[family][0] >= approvals * 0.9}
    workspace = {family: after[family] for family in after if ":ws:" in family and family not in per_approval
                 and not any(re.sub(r":ws:[^:]+", "", family) == re.sub(r":ws:[^:]+", "", f) for f in per_approval)}
    entries = last - first
    records = sum(size for _, size in per_approval.values()) / approvals  # the home workspace's approvals
    return {
        "approvals": total, "approvals_per_s_one_worker": round(approvals / took, 1),
        "audit_entries_per_approval": round(entries / total, 2),
        "redis_used_memory_per_approval_bytes": round((memory_after - memory_before) / total),
        "approval_records_per_approval_bytes": round(records),
        "approval_record_families": {f: {"keys": c, "bytes_each": round(s / max(1, c))}
                                     for f, (c, s) in sorted(per_approval.items())},
        "audit_stream_bytes_per_entry": round(stream_before / max(1, entries_kept), 1),
        "audit_stream_bytes_after_trim": stream_after,
        # Redis's own count of the keys an approval leaves (used_memory does not fall after a trim: the allocator
        # keeps what it freed for the next writes)
        "redis_per_approval_without_archive_bytes": round(records + entries / total * stream_before / entries_kept),
        "redis_per_approval_with_archive_bytes": round(records + stream_after / total),
        "grown_families": {f: {"keys": c, "bytes": s} for f, (c, s) in sorted(grown.items(), key=lambda i: -i[1][1])
                           if c or s},
        "workspace_fixed_bytes": sum(size for _, size in workspace.values()),
        "workspace_fixed_families": {f: {"keys": c, "bytes": s} for f, (c, s) in sorted(workspace.items())},
        "archive_objects": archive[0], "archive_bytes_per_entry": round(archive[1] / max(1, verified), 1),
        "archive_segments": archive[2], "verify_entries_per_s": round(verified / verifying),
    }


async def trickle(count: int, work: Path, interval: int) -> dict[str, Any]:
    server = start_redis()
    slack = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
    await slack.start()
    tokens = slack.several_workspaces()
    worker = await start(slack, server.url, work, tokens, interval)
    try:
        home = await client_of(worker, "home", SALES)
        card = home_card(worker)
        await approve_one(slack, home, 0, channel=APPROVALS, requester=ALICE, approver=BOB, card=card)
        await settled(worker)
        start_objects, start_bytes, start_segments = objects(work / "archive")
        for n in range(1, count + 1):
            await approve_one(slack, home, n, channel=APPROVALS, requester=ALICE, approver=BOB, card=card)
            await settled(worker)
        end_objects, end_bytes, end_segments = objects(work / "archive")
        keys = SigningKeys.from_file(work / "keys.json")
        times = []
        for _ in range(3):
            started = time.perf_counter()
            checked = await check_archive(FolderStore(work / "archive"), trust=trust(keys))
            times.append(time.perf_counter() - started)
    finally:
        await worker.stop()
        await slack.stop()
        stop_redis(server)
    segments = end_segments - start_segments
    return {
        "approvals": count, "segments_per_approval": round(segments / count, 2),
        "objects_per_segment": round((end_objects - start_objects) / max(1, segments), 2),
        "bytes_per_segment": round((end_bytes - start_bytes) / max(1, segments)),
        "verify_ms_per_segment": round(statistics.median(times) * 1000 / max(1, end_segments), 3),
        "verify_entries": checked.size,
    }


def year(burst_result: dict[str, Any], trickle_result: dict[str, Any], checkpoint_interval: float = 5.0
         ) -> dict[str, Any]:
    """A year at 5,000 approvals a day, from the measured figures: entries; Redis at steady state (decided
    approvals kept 30 days; audit entries 90 days without an archive, AUDIT_RETENTION's default, or 30 with one and
    AUDIT_REDIS_KEEP=30d); archive objects (a segment per checkpoint while entries keep coming: at most one per
    AUDIT_CHECKPOINT_INTERVAL, over 8 working hours) and verify's time over them."""
    a_day = YEAR_APPROVALS_A_DAY
    entries_a_day = a_day * burst_result["audit_entries_per_approval"]
    segments = min(entries_a_day, WORKING_SECONDS / checkpoint_interval) * 365
    records = a_day * 30 * burst_result["approval_records_per_approval_bytes"]
    entry = burst_result["audit_stream_bytes_per_entry"]
    return {
        "entries": round(entries_a_day * 365), "segments": round(segments),
        "archive_objects": round(segments * trickle_result["objects_per_segment"]),
        "archive_gb": round(segments * trickle_result["bytes_per_segment"] / 1e9, 2),
        "redis_approvals_mb": round(records / 2**20),
        "redis_audit_mb_without_archive": round(entries_a_day * 90 * entry / 2**20),
        "redis_audit_mb_30_days_kept": round(entries_a_day * 30 * entry / 2**20),
        "verify_minutes": round(segments * trickle_result["verify_ms_per_segment"] / 60000, 1),
    }


async def measure(approvals: int, concurrency: int, trickled: int, interval: int = 5) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as one, tempfile.TemporaryDirectory() as two:
        first = await burst(approvals, concurrency, Path(one), interval)
        second = await trickle(trickled, Path(two), interval)
    return {"benchmark": "sizing", "burst": first, "trickle": second, "year_at_5000_a_day": year(first, second),
            "machine": machine_info()}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--approvals", type=int, default=1000, help="approvals in the burst")
    parser.add_argument("--concurrency", type=int, default=16, help="programs asking at once in the burst")
    parser.add_argument("--trickle", type=int, default=30, help="approvals archived one at a time")
    parser.add_argument("--small", action="store_true", help="CI size: 20 approvals, 3 trickled, checkpoints every 1 s")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    approvals, trickled = (20, 3) if args.small else (args.approvals, args.trickle)
    result = asyncio.run(measure(approvals, args.concurrency, trickled, interval=1 if args.small else 5))
    print(json.dumps(result, indent=2))
    write_json(result, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())

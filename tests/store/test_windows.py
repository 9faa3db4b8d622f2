"""Policy windows against a real redis-server (lua/lib/windows.lua): a sum window's total read from its minute, hour
and day buckets is exactly the sum of the calls after `since` (checked against adding them up, at random times and
on every kind of edge), through the open step's adds and trims and the decide step's removals, and for a window
written before the buckets existed or changed by a worker that keeps none (a rolling upgrade)."""

from __future__ import annotations

import random
import time
from dataclasses import replace

import pytest

from bot.store import Opening, Store
from tests.support.records import approval

pytestmark = pytest.mark.slow  # both its property tests over 0.4 s of CPU (tests/support/slow.py)

DAY = 86400


def brute(calls: dict[str, float], since: float) -> int:
    """The window's total by adding up every call after `since` (the member's amount is its last word)."""
    return sum(int(member.split()[1]) for member, at in calls.items() if at > since)


def edges(calls: dict[str, float], now: float) -> list[float]:
    """`since` values on every kind of edge: whole minutes, hours and days, a call's own time, just before and
    after it, and random ones."""
    found = [now - 3 * DAY, now, now + 60]
    for at in list(calls.values())[:40]:
        found += [at, at - 1e-6, at + 1e-6, at - 30, at // 60 * 60, at // 3600 * 3600, at // DAY * DAY,
                  at // 60 * 60 + 60]
    found += [now - random.random() * 3 * DAY for _ in range(100)]
    return found


async def totals(store: Store, key: str, since: list[float]) -> list[int]:
    return await store.windows.totals([key] * len(since), since, [False] * len(since))


async def test_a_window_written_before_its_buckets_reads_exactly_what_adding_up_its_calls_gives(store: Store) -> None:
    random.seed(7)
    key, now = store.keys.window("refunds:old"), time.time()
    calls = {"b1 40": now // 60 * 60, "b2 50": now // 3600 * 3600, "b3 60": now // DAY * DAY}  # on the edges
    calls.update({f"a{i} {random.randrange(0, 5000)}": now - random.random() * 3 * DAY for i in range(3000)})
    await store.redis.zadd(key, calls)  # as a worker before buckets wrote it: its first read makes them
    since = edges(calls, now)
    assert await totals(store, key, since) == [brute(calls, s) for s in since]
    newest = max(calls, key=lambda member: (calls[member], member))  # ties (at the top of an hour): as Redis orders
    assert await store.redis.hget(key + ":sums", "built") == f"{len(calls)} {newest}"  # made for these calls
    # a worker of the version before buckets (a rolling upgrade) adds one call and removes another: the same
    # number of calls, the buckets no longer theirs; they are made again before they are read
    gone = next(iter(m for m in calls if m.startswith("a")))
    await store.redis.zrem(key, gone)
    del calls[gone]
    calls["c1 777"] = now + 1
    await store.redis.zadd(key, {"c1 777": now + 1})
    since = edges(calls, now)
    assert await totals(store, key, since) == [brute(calls, s) for s in since]


async def test_adds_trims_and_removals_keep_the_buckets_exact(store: Store) -> None:
    random.seed(11)
    key, start = store.keys.window("refunds:live"), time.time() - 2 * DAY
    over, held = DAY, {}
    for i in range(300):  # calls over two days, each counted by the open step (which trims what fell out)
        now = start + i * 2 * DAY / 300 + random.random()
        member = f"a-{i:04d} {random.randrange(1, 900)}"
        mark = {"name": "refunds", "key": key, "since": repr(now - over), "ttl": over + 60, "count": False,
                "member": member, "expect": await store.windows.totals([key], [now - over], [False])}
        record = replace(approval(f"a-{i:04d}", deadline_in=3 * DAY), created_at=now)
        assert (await store.approvals.open(Opening(record, windows=[{**mark, "expect": mark["expect"][0]}],
                                                   now=now)))[0] == "ok"
        held = {m: at for m, at in held.items() if at > now - over}
        held[member] = now
        if i % 7 == 3:  # rejected: it no longer counts
            assert (await store.approvals.decide(f"a-{i:04d}", outcome="rejected", by="U0BOB", now=now)).status == "ok"
            del held[member]
    now = start + 2 * DAY + 1
    since = edges(held, now)
    assert await totals(store, key, since) == [brute(held, s) for s in since]
    buckets = await store.redis.hgetall(key + ":sums")
    for level in "mhd":  # every bucket level holds exactly the calls the window holds; no bucket at 0 is kept
        assert sum(int(v) for k, v in buckets.items() if k.startswith(level)) == sum(
            int(m.split()[1]) for m in await store.redis.zrange(key, 0, -1))
    assert "0" not in buckets.values()

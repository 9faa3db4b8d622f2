"""What the decide step keeps of how people decide (lua/lib/oversight.lua), against a real Redis: approvals of
high-risk calls (a policy's @step_up) whose details the person never opened, streaks broken by a rejection, the
times to decide by person, channel and policy, the tenant's week for the digest, and nothing for a timeout."""

from __future__ import annotations

import json
import time
from dataclasses import replace

from bot.core.oversight import week_by_channel
from bot.core.workspaces import WorkspaceRef
from bot.store import Store, connect
from tests.support.records import approval

POLICY = json.dumps({"bundle": "b1", "ids": ["refund-risky"]})


def assured(by: str) -> str:
    return json.dumps({"by": by, "amr": ["hwk", "user"], "passkey": "p" * 64, "at": time.time()})


async def test_unopened_high_risk_approvals_streaks_and_times_are_kept_per_person(store: Store) -> None:
    risky = replace(approval("a-risky-0001"), step_up="policy", policy=POLICY)
    seen = replace(approval("a-risky-0002"), step_up="policy", policy=POLICY)
    plain = approval("a-plain-0003")
    for made in (risky, seen, plain):
        assert await store.approvals.create(made) == "ok"
        assert await store.approvals.attach_card(made.id, channel="C0APPROVALS", ts=f"1.{made.id[-4:]}",
                                                 read_seconds=30.0) == "pending"
    assert (await store.approvals.decide(risky.id, outcome="approved", by="U0BOB", check_auth=True,
                                         assurance=assured("U0BOB"))).status == "ok"
    assert await store.oversight.opened(seen.id, "U0CAROL") == "ok"
    assert await store.oversight.opened(seen.id, "U0CAROL") == "seen"  # the first look is the one kept
    assert (await store.approvals.decide(seen.id, outcome="approved", by="U0CAROL", check_auth=True,
                                         assurance=assured("U0CAROL"))).status == "ok"
    assert (await store.approvals.decide(plain.id, outcome="rejected", by="U0BOB", check_auth=True)).status == "ok"
    assert await store.oversight.opened(plain.id, "U0BOB") == "decided"  # nothing to open once decided

    read = await store.oversight.read()
    assert read.signals["unopened"] == {"U0BOB": 1.0}  # Carol opened hers first
    assert read.signals["approvals"] == {"U0BOB": 1.0, "U0CAROL": 1.0}
    assert read.signals["streak"] == {"U0BOB": 0.0, "U0CAROL": 1.0}  # Bob's rejection ended his run
    assert read.signals["fast"] == {"U0BOB": 1.0, "U0CAROL": 1.0}  # each well within 30 s of reading
    assert sorted((t.person, t.policies) for t in read.times) == [
        ("U0BOB", ()), ("U0BOB", ("refund-risky",)), ("U0CAROL", ("refund-risky",))]
    entries = {e["approval"]: e for e in await store.audit.entries() if e["event"] == "decision"}
    assert "opened_at" not in entries[risky.id] and float(entries[seen.id]["opened_at"]) > 0
    assert entries[plain.id]["fast"] == "true" and entries[plain.id]["read_seconds"] == "30.0"

    week = week_by_channel(await store.oversight.take_week(time.time()))
    bob = next(r for r in week["C0SALES"] if r.person == "U0BOB")
    assert (bob.approvals, bob.overrides, bob.unopened, bob.decisions) == (1, 1, 1, 2)
    assert await store.oversight.take_week(time.time()) == {}  # taken whole, once


async def test_a_timeout_counts_for_nobody(store: Store) -> None:
    assert await store.approvals.create(approval("a-late-0001", deadline_in=1)) == "ok"
    decided, _ = await store.approvals.time_out_due(time.time() + 5)
    assert [d.status for d in decided] == ["ok"]
    read = await store.oversight.read()
    assert read.signals == {} and read.times == ()
    [entry] = [e for e in await store.audit.entries() if e["event"] == "decision"]
    assert "fast" not in entry and "delivered_at" not in entry


async def test_sharded_each_workspace_counts_its_own_and_a_scrape_sums_them(redis_url: str) -> None:
    """Sharded (issue 89), the decide step counts in the workspace's own keys (its slot), and the metrics' read sums
    every known workspace's with home's (a person's streak: the longest of theirs)."""
    redis = connect(redis_url)
    home = Store(redis, prefix="{hitl}", sharded=True)
    try:
        for tenant in ("T0WSA", "T0WSB"):
            await home.tenants.remember(WorkspaceRef(team=tenant))
        places = [home, home.for_tenant("T0WSA", home="T0HOME"), home.for_tenant("T0WSB", home="T0HOME")]
        assert places[1].keys.oversight_people == "hitl:{ws:T0WSA}:oversight:people"
        for n, (place, outcome) in enumerate(zip(places * 2, ["approved"] * 5 + ["rejected"], strict=True)):
            made = replace(approval(f"a-shard-{n:04d}"), team=place.keys.tenant or "T0HOME")
            assert await place.approvals.create(made) == "ok"
            assert (await place.approvals.decide(made.id, outcome=outcome, by="U0BOB", check_auth=True)).status == "ok"
        assert await redis.llen(places[2].keys.oversight_times) == 2  # counted in the workspace's own
        read = await home.oversight.read()
        assert read.signals["approvals"] == {"U0BOB": 5.0} and read.signals["streak"] == {"U0BOB": 2.0}
        assert len(read.times) == 6
    finally:
        await redis.aclose()

"""The Home indexes (#28): what waits for a person, read a page at a time without reading the backlog.

After random sequences of opens (anyone, named people, user groups, mixed; with or without
self-approval; quorum 1-2), votes, decisions, escalations, people going away with a delegate and
coming back, cancels and timeouts, every person's pages and total read from the indexes equal a full
scan of every pending approval with the exact rules (`HomeService.waiting_for`, as every Home was
drawn before the indexes). A process running those steps killed -9 between steps (and Redis killed -9
too, restarted from its AOF) leaves indexes that still agree: each step is one Lua script.

Real parts: redis-server, the store's Lua steps, `HomeService` with the directory reading user groups
from the Slack stand-in.
"""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.records import ApprovalRecord
from bot.core.tasks import Background
from bot.devslack.model import DevUser
from bot.devslack.server import SlackStandIn
from bot.slack.directory import Directory
from bot.slack.homes import HomeService
from bot.store import Store, connect
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, RedisServer, start_redis

ANN, BEN, CAT, DAN, EVE = "U0ANN", "U0BEN", "U0CAT", "U0DAN", "U0EVE"
PEOPLE = (ANN, BEN, CAT, DAN, EVE)
GROUPS = {"S0RED": [ANN, BEN], "S0BLUE": [CAT, DAN, ANN]}
T0 = 1_700_000_000.0
ROOT = Path(__file__).resolve().parents[2]


# ------------------------------------------------------------------------------------------- the steps
@dataclass(frozen=True)
class Open:
    requester: str
    approvers: tuple[str, ...]
    allow_self: bool
    quorum: int
    same_time: bool  # requested at the same time as the one before (ordered by id then)
    escalate_to: tuple[str, ...]
    lifetime: int  # seconds until it times out (the sweep's clock moves 100 s per Expire)


@dataclass(frozen=True)
class Decide:
    which: int  # an approval opened so far (modulo how many)
    person: str
    outcome: str  # approved (a vote where a quorum is needed) or rejected


@dataclass(frozen=True)
class Cancel:
    which: int


@dataclass(frozen=True)
class Expire:
    pass


@dataclass(frozen=True)
class Escalate:
    which: int


@dataclass(frozen=True)
class Away:
    person: str
    delegate: str  # "" for nobody


@dataclass(frozen=True)
class Back:
    person: str


Step = Open | Decide | Cancel | Expire | Escalate | Away | Back


@dataclass
class Run:
    """What a sequence opened so far, and its clocks."""

    ids: list[str] = field(default_factory=list)
    tag: str = "x"  # in each id (the kill -9 test's processes each open their own)
    clock: float = T0  # request times
    sweep_clock: float = T0  # the timeout sweeper's now


person = st.sampled_from(PEOPLE)
who = st.sampled_from((*PEOPLE, *GROUPS))
approvers = st.one_of(st.just(()), st.just(("anyone",)), st.lists(who, min_size=1, max_size=3, unique=True).map(tuple))
opens = st.builds(
    Open,
    requester=person,
    approvers=approvers,
    allow_self=st.booleans(),
    quorum=st.integers(1, 2),
    same_time=st.booleans(),
    escalate_to=st.one_of(st.just(()), st.lists(who, min_size=1, max_size=2, unique=True).map(tuple)),
    lifetime=st.integers(50, 1000),
)
decides = st.builds(
    Decide, which=st.integers(0, 30), person=person, outcome=st.sampled_from(["approved", "approved", "rejected"])
)
steps = st.one_of(  # (opens and clicks more often than the rest)
    opens,
    opens,
    decides,
    decides,
    decides,
    st.builds(Cancel, which=st.integers(0, 30)),
    st.just(Expire()),
    st.builds(Escalate, which=st.integers(0, 30)),
    st.builds(Away, person=person, delegate=st.one_of(st.just(""), person)),
    st.builds(Back, person=person),
)


def record(run: Run, step: Open) -> ApprovalRecord:
    number = len(run.ids)
    if not step.same_time:
        run.clock += 1.25
    return ApprovalRecord(
        id=f"{random.choice('abcdef')}{number:04d}-{run.tag}",  # (not in the order opened: ties sort by id)
        run_id="rabcdefg",
        owner="w1",
        requester=step.requester,
        origin_channel="C0SALES",
        card_channel="C0APPROVALS",
        task="task",
        proposal="proposal",
        author="assistant",
        created_at=run.clock,
        deadline=run.clock + step.lifetime,
        timeout_seconds=step.lifetime,
        required_approvals=step.quorum,
        approvers=step.approvers,
        allow_self_approval=int(step.allow_self),
        escalate_after=30 if step.escalate_to else 0,
        escalate_to=step.escalate_to,
    )


def in_groups(user: str, groups: list[str]) -> bool:
    return any(user in GROUPS.get(group, []) for group in groups)


async def apply(store: Store, run: Run, step: Step) -> None:
    """One step, as the bot runs it (the decide step's caller checks groups and delegations)."""
    if isinstance(step, Open):
        await opened(store, run, record(run, step))
    elif isinstance(step, Away):
        if step.delegate != step.person:
            await store.away.set(step.person, until=time.time() + 3600, delegate=step.delegate, now=time.time())
    elif isinstance(step, Back):
        await store.away.clear(step.person, now=time.time())
    elif isinstance(step, Expire):
        run.sweep_clock += 100
        await store.approvals.time_out_due(run.sweep_clock)
    elif run.ids:
        approval_id = run.ids[step.which % len(run.ids)]
        if isinstance(step, Cancel):
            await store.approvals.decide(approval_id, outcome="cancelled", by="U0OPERATOR", feedback="withdrawn")
        elif isinstance(step, Escalate):
            found = await store.approvals.get(approval_id)
            if found is not None:
                await store.nudges.open([approval_id], now=found.created_at + found.escalate_after + 1)
        else:
            await decide(store, approval_id, step.person, step.outcome)


async def opened(store: Store, run: Run, approval: ApprovalRecord) -> None:
    assert await store.approvals.create(approval) == "ok"
    run.ids.append(approval.id)


async def decide(store: Store, approval_id: str, user: str, outcome: str) -> None:
    """A person's click from their Home, as `ApprovalService.decide` makes it."""
    result = await store.approvals.decide(approval_id, outcome=outcome, by=user, check_auth=True)
    if result.status == "check_groups" and result.approval is not None:
        member = in_groups(user, list(result.approval.approvers))
        result = await store.approvals.decide(approval_id, outcome=outcome, by=user, check_auth=True, in_groups=member)
    if result.status == "check_delegates" and result.approval is not None:
        principals = await store.away.principals(user, now=time.time())
        groups = [a for a in result.approval.approvers if a.startswith("S")]
        first = next((p for p in principals if groups and in_groups(p, groups)), "")
        await store.approvals.decide(
            approval_id,
            outcome=outcome,
            by=user,
            check_auth=True,
            in_groups=False,
            principals=principals,
            group_principal=first,
        )


# ------------------------------------------------------------------------------------------- the check
async def full_scan(homes: HomeService, store: Store, ids: list[str], user: str) -> list[str]:
    """What waits for `user` as every Home was drawn before the indexes: every pending approval read,
    the exact rules applied to each."""
    pending = [a for a in await store.approvals.get_many(ids) if a.pending]
    principals = await store.away.principals(user, now=time.time())
    return [a.id for a in await homes.waiting_for(user, pending, principals=principals)]


async def assert_indexes_agree(homes: HomeService, store: Store, ids: list[str], *, size: int) -> None:
    groups = await store.homes.pending_groups()
    for user in PEOPLE:
        expected = await full_scan(homes, store, ids, user)
        pages = max(1, -(-len(expected) // size))
        principals = await store.away.principals(user, now=time.time())
        theirs = {p: [g for g in groups if p in GROUPS[g]] for p in principals}
        mine = [g for g in groups if user in GROUPS[g]]
        for page in range(pages):
            part = expected[page * size : (page + 1) * size]
            # the indexes alone (one Lua step), then as a Home draws it (the rules applied to its page)
            raw = await store.homes.waiting_page(user, groups=mine, principals=theirs, offset=page * size, count=size)
            assert (raw.total, raw.ids) == (len(expected), part), (user, page)
            total, shown_page, records = await homes.waiting_page(user, page=page, size=size)
            assert (total, shown_page, [a.id for a in records]) == (len(expected), page, part), (user, page)
        # a page past the last (the person chose it before some were decided) shows the last
        total, shown_page, records = await homes.waiting_page(user, page=pages + 2, size=size)
        assert (total, shown_page) == (len(expected), pages - 1)
        assert [a.id for a in records] == expected[(pages - 1) * size : pages * size]


async def index_keys(store: Store) -> list[str]:
    return sorted([str(key) async for key in store.redis.scan_iter(match=f"{store.keys.prefix}:waits:*")])


@dataclass
class Parts:
    store: Store
    homes: HomeService


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    people = [DevUser(id=u, name=u[2:].lower(), real_name=u[2:].title()) for u in PEOPLE]
    standin = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN, users=people, usergroups=GROUPS)
    await standin.start()
    yield standin
    await standin.stop()


def home_service(store: Store, slack: SlackStandIn) -> HomeService:
    client = AsyncWebClient(token=BOT_TOKEN, base_url=slack.api_url)
    return HomeService(
        store=store, slack=client, directory=Directory(client), worker_id="w-test", background=Background()
    )


@pytest.fixture
async def parts(redis_url: str, slack: SlackStandIn) -> AsyncIterator[Parts]:
    redis = connect(redis_url)
    store = Store(redis)
    await store.homes.ensure_index()  # (built: a rebuild at the first read would hide a step's error)
    yield Parts(store=store, homes=home_service(store, slack))
    await redis.aclose()


# ------------------------------------------------------------------------------------------- the tests
@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(sequence=st.lists(steps, min_size=4, max_size=20), size=st.sampled_from([2, 3, 10]))
async def test_the_indexes_answer_as_a_full_scan_after_any_steps(parts: Parts, sequence: list[Step], size: int) -> None:
    store = parts.store
    await store.redis.flushall()
    run = Run()
    for step in sequence:
        await apply(store, run, step)
        await assert_indexes_agree(parts.homes, store, run.ids, size=size)
    # once nothing is pending, nothing is left in the indexes
    for approval_id in run.ids:
        await store.approvals.decide(approval_id, outcome="cancelled", by="U0OPERATOR")
    assert await index_keys(store) == []


async def test_a_page_is_ordered_by_request_time_then_id_and_excludes_what_a_person_may_not_decide(
    parts: Parts,
) -> None:
    store, run = parts.store, Run()
    for step in [
        Open(ANN, (), False, 1, False, (), 900),  # anyone: not Ann's own
        Open(BEN, ("S0RED",), False, 1, False, (), 900),  # Ann and Ben's group: Ben asked
        Open(CAT, (ANN, "S0RED"), False, 2, True, (), 900),  # the same time as the one before
        Open(ANN, (ANN,), True, 1, False, (), 900),  # her own, self-approval allowed
        Open(DAN, (BEN,), False, 1, False, (), 900),  # not Ann's
    ]:
        await apply(store, run, step)
    expected = await full_scan(parts.homes, store, run.ids, ANN)
    assert len(expected) == 3 and run.ids[0] not in expected and run.ids[4] not in expected
    assert expected[2] == run.ids[3]
    assert expected[:2] == sorted(run.ids[1:3])  # same time: by id
    await decide(store, run.ids[2], ANN, "approved")  # her vote counts: no longer hers to decide
    assert run.ids[2] not in await full_scan(parts.homes, store, run.ids, ANN)
    await assert_indexes_agree(parts.homes, store, run.ids, size=2)
    assert (await store.approvals.get(run.ids[2])).pending  # type: ignore[union-attr]  # (quorum 2)


async def test_a_delegate_sees_what_waits_for_whoever_is_away(parts: Parts) -> None:
    store, run = parts.store, Run()
    await apply(store, run, Open(DAN, (CAT,), False, 1, False, (), 900))
    await apply(store, run, Open(DAN, ("S0RED",), False, 2, False, (), 900))
    assert (await parts.homes.waiting_page(EVE, page=0))[0] == 0
    await apply(store, run, Away(CAT, EVE))
    await apply(store, run, Away(BEN, EVE))
    total, _, records = await parts.homes.waiting_page(EVE, page=0)
    assert total == 2 and [a.id for a in records] == run.ids
    await decide(store, run.ids[1], EVE, "approved")  # a vote for Ben: Eve has no second one
    total, _, records = await parts.homes.waiting_page(EVE, page=0)
    assert total == 1 and [a.id for a in records] == run.ids[:1]
    await assert_indexes_agree(parts.homes, store, run.ids, size=10)
    # a vote she cast for Ben on what Cat may decide too: her one vote is spent, for Cat as well
    await apply(store, run, Open(DAN, (BEN, CAT), False, 2, False, (), 900))
    assert (await parts.homes.waiting_page(EVE, page=0))[0] == 2
    await decide(store, run.ids[2], EVE, "approved")
    assert (await store.approvals.get(run.ids[2])).proxies == (f"{BEN}:{EVE}",)  # type: ignore[union-attr]
    total, _, records = await parts.homes.waiting_page(EVE, page=0)
    assert total == 1 and [a.id for a in records] == run.ids[:1]
    await assert_indexes_agree(parts.homes, store, run.ids, size=10)
    await apply(store, run, Back(CAT))
    assert (await parts.homes.waiting_page(EVE, page=0))[0] == 0
    for which in range(3):
        await apply(store, run, Cancel(which))
    assert await index_keys(store) == []  # her vote's marks too


async def test_an_escalation_lists_it_for_who_it_lets_in(parts: Parts) -> None:
    store, run = parts.store, Run()
    await apply(store, run, Open(ANN, (BEN,), False, 1, False, (EVE, "S0BLUE"), 900))
    assert (await parts.homes.waiting_page(EVE, page=0))[0] == 0
    assert (await parts.homes.waiting_page(CAT, page=0))[0] == 0
    await apply(store, run, Escalate(0))
    for user in (EVE, CAT, DAN, BEN):
        total, _, records = await parts.homes.waiting_page(user, page=0)
        assert total == 1 and [a.id for a in records] == run.ids, user
    assert (await parts.homes.waiting_page(ANN, page=0))[0] == 0  # her own, though in S0BLUE
    assert await store.homes.pending_groups() == ["S0BLUE"]
    await apply(store, run, Expire())
    await apply(store, run, Expire())
    await apply(store, run, Expire())  # not yet: 900 s
    assert await index_keys(store)
    for _ in range(7):
        await apply(store, run, Expire())
    assert (await store.approvals.get(run.ids[0])).status == "timed_out"  # type: ignore[union-attr]
    assert await index_keys(store) == [] and await store.homes.pending_groups() == []


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_a_person_with_many_requests_of_their_own_sees_the_others_only(parts: Parts) -> None:
    store, run = parts.store, Run()
    for number in range(300):  # more than home_page.lua reads whole: asked member by member
        await apply(store, run, Open(ANN if number % 50 else BEN, (), False, 1, False, (), 900))
    assert await store.redis.zcard(store.keys.waits_except(ANN)) == 294
    await assert_indexes_agree(parts.homes, store, run.ids, size=10)
    total, _, records = await parts.homes.waiting_page(ANN, page=0)
    assert total == 6 and [a.id for a in records] == run.ids[::50]


async def test_approvals_opened_before_the_indexes_existed_are_indexed_once(parts: Parts) -> None:
    store, run = parts.store, Run()
    rng = random.Random(7)
    for _ in range(30):
        await apply(
            store,
            run,
            Open(
                rng.choice(PEOPLE),
                rng.choice([(), (ANN, "S0BLUE"), ("S0RED",), (EVE,)]),
                rng.random() < 0.3,
                rng.choice([1, 2]),
                False,
                (),
                5000,
            ),
        )
    for step in [Decide(3, ANN, "approved"), Decide(4, BEN, "approved"), Cancel(5), Decide(6, EVE, "rejected")]:
        await apply(store, run, step)
    expected = {user: await full_scan(parts.homes, store, run.ids, user) for user in PEOPLE}
    assert any(expected.values())
    # as a deployment upgrading finds them: no index, never built
    await store.redis.delete(*await index_keys(store), store.keys.migrated("home-index"))
    fresh = Store(store.redis)  # a worker started since: it has not seen the indexes built
    assert await fresh.redis.exists(fresh.keys.migrated("home-index")) == 0
    page = await fresh.homes.waiting_page(ANN, groups=["S0RED", "S0BLUE"], principals={}, offset=0, count=100)
    assert page.ids == expected[ANN] and page.total == len(expected[ANN])  # built on the first read
    assert await fresh.redis.exists(fresh.keys.migrated("home-index")) == 1
    await assert_indexes_agree(parts.homes, fresh, run.ids, size=4)
    # once per Redis: a worker started later does not build them again (nor undo a change since)
    await fresh.redis.delete(fresh.keys.waits_anyone)
    await Store(store.redis).homes.waiting_page(EVE, groups=[], principals={}, offset=0, count=100)
    assert await fresh.redis.exists(fresh.keys.waits_anyone) == 0


async def test_what_an_older_worker_decided_leaves_the_indexes_at_the_next_read(parts: Parts) -> None:
    store, run = parts.store, Run()
    for number in range(5):
        await apply(store, run, Open(BEN, (ANN, "S0RED") if number % 2 else (), False, 1, False, (), 900))
    # decided as a worker from before the indexes decides (its step knows nothing of them), and one gone
    await store.redis.hset(store.keys.approval(run.ids[1]), mapping={"status": "approved", "decided_by": CAT})
    await store.redis.delete(store.keys.approval(run.ids[2]), store.keys.texts(run.ids[2]))
    total, _, records = await parts.homes.waiting_page(ANN, page=0)
    assert total == 5 and [a.id for a in records] == [run.ids[0], run.ids[3], run.ids[4]]  # (the count: next time)
    total, _, records = await parts.homes.waiting_page(ANN, page=0)
    assert total == 3 and [a.id for a in records] == [run.ids[0], run.ids[3], run.ids[4]]
    await assert_indexes_agree(parts.homes, store, run.ids, size=2)
    assert await store.redis.zscore(store.keys.waits_group("S0RED"), run.ids[1]) is None  # every index


async def test_a_rebuild_under_way_is_waited_for_by_the_other_workers(parts: Parts) -> None:
    store, run = parts.store, Run()
    for number in range(5):
        await apply(store, run, Open(BEN, (), False, 1, False, (), 900 + number))
    await store.redis.delete(*await index_keys(store), store.keys.migrated("home-index"))
    readers = [Store(store.redis) for _ in range(4)]
    pages = await asyncio.gather(
        *(r.homes.waiting_page(ANN, groups=[], principals={}, offset=0, count=10) for r in readers)
    )
    assert all(p.ids == run.ids and p.total == 5 for p in pages)


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
async def test_a_draw_reads_its_page_and_the_counts_not_the_backlog(parts: Parts, slack: SlackStandIn) -> None:
    store, run = parts.store, Run()
    for number in range(400):
        await apply(store, run, Open(PEOPLE[number % 4], () if number % 3 else ("S0BLUE",), False, 1, False, (), 900))
    await store.homes.set_page(CAT, 7)
    await parts.homes.publish(CAT)  # (warm: the directory's cache of groups, the scripts)
    before = int((await store.redis.info("stats"))["total_commands_processed"])
    assert await parts.homes.publish(CAT)
    commands = int((await store.redis.info("stats"))["total_commands_processed"]) - before - 1
    assert commands < 120, commands  # (each of 400 pending read once would be 400 and more)
    expected = await full_scan(parts.homes, store, run.ids, CAT)
    assert len(expected) == 300
    shown = expected[70:80]
    view = slack.home_view(CAT)
    assert view is not None and f"{len(expected)}" in str(view)
    assert {str(e.get("value")) for b in view["blocks"] for e in b.get("elements") or []} >= set(shown)
    assert await store.homes.shown(CAT) == (7, shown)
    assert all([await store.homes.shown_by(i) == {CAT} for i in shown])
    assert await store.homes.shown_by(expected[0]) == set()


async def test_each_draw_notes_what_its_page_shows_and_whose_homes_show_an_approval(parts: Parts) -> None:
    homes = parts.store.homes
    await homes.drawn(ANN, seen=3, view_hash="h1", shown=["a0000001", "a0000002"], page=0)
    await homes.drawn(BEN, seen=3, view_hash="h2", shown=["a0000002"], page=1)
    assert await homes.shown_by("a0000002") == {ANN, BEN}
    assert await homes.shown_by("a0000001") == {ANN}
    assert await homes.shown(BEN) == (1, ["a0000002"])
    await homes.drawn(ANN, seen=4, view_hash="h3", shown=["a0000003"], page=1)  # replaced, not added to
    assert await homes.shown_by("a0000001") == set()
    assert await homes.shown_by("a0000002") == {BEN}
    assert await homes.shown_by("a0000003") == {ANN}
    assert await homes.shown(ANN) == (1, ["a0000003"])
    assert await homes.seen(ANN) == 4
    ttl = await parts.store.redis.ttl(parts.store.keys.home_shown("a0000003"))
    assert 0 < ttl <= 30 * 24 * 3600
    await homes.drawn(ANN, seen=5, view_hash="h4")
    assert await homes.shown_by("a0000003") == set() and await homes.shown(ANN) == (0, [])


# ------------------------------------------------------------------------------------------- kill -9
def random_step(rng: random.Random) -> Step:
    kind = rng.random()
    if kind < 0.4:
        return Open(
            rng.choice(PEOPLE),
            rng.choice([(), ("anyone",), (ANN,), (BEN, "S0RED"), ("S0BLUE",), (CAT, DAN), (EVE, "S0RED", "S0BLUE")]),
            rng.random() < 0.3,
            rng.choice([1, 2]),
            rng.random() < 0.2,
            rng.choice([(), (EVE,), ("S0BLUE",)]),
            rng.randint(50, 3000),
        )
    if kind < 0.7:
        return Decide(rng.randrange(1000), rng.choice(PEOPLE), rng.choice(["approved", "approved", "rejected"]))
    if kind < 0.78:
        return Cancel(rng.randrange(1000))
    if kind < 0.86:
        return Escalate(rng.randrange(1000))
    if kind < 0.9:
        return Expire()
    if kind < 0.96:
        return Away(rng.choice(PEOPLE), rng.choice(PEOPLE))
    return Back(rng.choice(PEOPLE))


async def run_steps_forever(redis_url: str, seed: int) -> None:
    """The process killed -9: random steps, without end. Each id is noted (`test:opened`) before its
    approval is opened, and each step done counted (`test:steps:<seed>`)."""
    redis = connect(redis_url)
    store = Store(redis)
    rng = random.Random(seed)
    random.seed(seed)
    run = Run(tag=f"k{seed}")
    done = 0
    while True:
        step = random_step(rng)
        if isinstance(step, Open):
            approval = record(run, step)
            await redis.rpush("test:opened", approval.id)
            await opened(store, run, approval)
        else:
            await apply(store, run, step)
        done += 1
        await redis.set(f"test:steps:{seed}", done)


@pytest.fixture
def aof_redis(tmp_path: Path) -> Any:
    (tmp_path / "redis").mkdir()
    server = start_redis(workdir=str(tmp_path / "redis"), appendonly=True)
    yield server
    if server.process.poll() is None:
        server.process.kill()
        server.process.wait(timeout=10)


async def wait_for_steps(store: Store, seed: int, at_least: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while int(await store.redis.get(f"test:steps:{seed}") or 0) < at_least:
        assert process.poll() is None, "the stepping process died by itself"
        assert time.monotonic() < deadline, "the stepping process made no progress"
        await asyncio.sleep(0.01)  # polling for progress, not waiting a guessed time


@pytest.mark.slow
async def test_steps_killed_9_leave_indexes_that_agree_with_a_full_scan(
    aof_redis: RedisServer, slack: SlackStandIn
) -> None:
    redis = connect(aof_redis.url)
    store = Store(redis)
    try:
        for seed in (11, 12, 13):
            process = subprocess.Popen(  # noqa: ASYNC220 - started, then polled through Redis
                [sys.executable, "-m", "tests.store.test_home_index", aof_redis.url, str(seed)],
                cwd=ROOT,
                env={**os.environ},
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            try:
                await wait_for_steps(store, seed, 150, process)
            finally:
                process.send_signal(signal.SIGKILL)  # between two steps, or in the middle of a call
                process.wait(timeout=10)
            ids = [str(i) for i in await redis.lrange("test:opened", 0, -1)]
            assert len(ids) > 20
            await assert_indexes_agree(home_service(store, slack), store, ids, size=10)
        # Redis itself killed -9 and restarted from its AOF: the indexes it kept still agree
        await redis.aclose()
        aof_redis.process.kill()
        aof_redis.process.wait(timeout=10)
        restarted = start_redis(port=aof_redis.port, workdir=aof_redis.workdir, appendonly=True)
        aof_redis.process = restarted.process
        redis = connect(aof_redis.url)
        store = Store(redis)
        ids = [str(i) for i in await redis.lrange("test:opened", 0, -1)]
        pending = [a for a in await store.approvals.get_many(ids) if a.pending]
        assert pending  # (something is left to check)
        await assert_indexes_agree(home_service(store, slack), store, ids, size=10)
    finally:
        await redis.aclose()


if __name__ == "__main__":  # the process that tests/store/test_home_index.py kills -9
    asyncio.run(run_steps_forever(sys.argv[1], int(sys.argv[2])))

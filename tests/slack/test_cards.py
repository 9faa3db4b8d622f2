"""Card redraws: queued, merged, in order, within Slack's rate limits, and never lost (the outbox)."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import pytest
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from bot.approvals.events import Events
from bot.approvals.waiter import DecisionWaiter
from bot.core.records import ApprovalRecord
from bot.core.tasks import Background
from bot.devslack.server import SlackStandIn
from bot.people import People
from bot.root import approval_service
from bot.slack.accounts import SlackAccounts
from bot.slack.card_sync import CardService
from bot.slack.directory import Directory
from bot.slack.due import SlackDue
from bot.store import Store, connect
from tests.conftest import APPROVALS, BOT_TOKEN, block_texts, has_buttons, start_redis
from tests.support.hitl import until


def client(slack: SlackStandIn) -> AsyncWebClient:
    return AsyncWebClient(
        token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)]
    )


async def posted(store: Store, cards: CardService, approval_id: str, *, required: int = 1) -> ApprovalRecord:
    """A pending approval with its card posted and attached, as `request_approval` leaves it."""
    now = time.time()
    record = ApprovalRecord(
        id=approval_id,
        run_id="rabcdefg",
        owner="w1",
        requester="U0ALICE",
        origin_channel="C0SALES",
        card_channel=APPROVALS,
        task="Write the launch note",
        proposal="Draft: we launch on Monday.",
        author="assistant",
        created_at=now,
        deadline=now + 600,
        timeout_seconds=600,
        required_approvals=required,
    )
    await store.approvals.create(record)
    channel, ts = await cards.post(record)
    await store.approvals.attach_card(record.id, channel=channel, ts=ts)
    return replace(record, card_channel=channel, card_ts=ts)


def card(slack: SlackStandIn, record: ApprovalRecord) -> dict[str, Any]:
    return next(m for m in slack.messages(APPROVALS) if m["ts"] == record.card_ts)


async def outbox_empty(store: Store) -> None:
    deadline = time.monotonic() + 10
    while await store.redis.zcard(store.keys.outbox):
        assert time.monotonic() < deadline, "a redrawn card stayed in the outbox"
        await asyncio.sleep(0.01)


async def test_an_older_state_never_replaces_a_newer_one_and_queued_redraws_merge(
    slack: SlackStandIn, store: Store
) -> None:
    cards = CardService(client(slack), store=store, concurrency=2)
    pending = await posted(store, cards, "card-0000-a", required=2)
    vote = await store.approvals.decide(pending.id, outcome="approved", by="U0BOB", card=(APPROVALS, pending.card_ts))
    final = await store.approvals.decide(
        pending.id, outcome="approved", by="U0CAROL", card=(APPROVALS, pending.card_ts)
    )
    assert vote.status == "vote" and final.status == "ok"
    assert vote.approval is not None and final.approval is not None
    # the two results arrive out of order (two Redis connections), and the final one many times
    for _ in range(20):
        cards.schedule(final.approval)
    cards.schedule(vote.approval)
    cards.schedule(pending)
    await cards.drain()
    assert len(slack.calls("chat.update")) == 1  # merged into the newest state
    text = block_texts(card(slack, pending))
    assert "*Approved* by <@U0BOB> and <@U0CAROL>" in text and not has_buttons(card(slack, pending))
    await outbox_empty(store)
    cards.schedule(vote.approval)  # a late vote result after the decision was drawn: not drawn over it
    await cards.drain()
    assert len(slack.calls("chat.update")) == 1 and not has_buttons(card(slack, pending))


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_a_burst_of_redraws_is_sent_a_few_at_a_time_and_waits_out_rate_limits(
    slack: SlackStandIn, store: Store
) -> None:
    slack_client = PeakClient(
        token=BOT_TOKEN, base_url=slack.api_url, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=2)]
    )
    cards = CardService(slack_client, store=store, concurrency=3)
    records = [await posted(store, cards, f"card-0001-{i:02d}") for i in range(12)]
    decided = []
    for record in records:
        result = await store.approvals.decide(
            record.id, outcome="rejected", by="U0BOB", card=(APPROVALS, record.card_ts)
        )
        assert result.status == "ok" and result.approval is not None
        decided.append(result.approval)
    assert await store.redis.zcard(store.keys.outbox) == 12  # the decide step queued every redraw durably
    slack.fail(method="chat.update", status=429, count=2, retry_after=1)
    started = time.monotonic()
    for approval in decided:
        cards.schedule(approval)
    assert sorted(cards.queued) == sorted(r.id for r in records)
    await cards.drain(grace=10)
    assert time.monotonic() - started >= 1.0  # waited out Retry-After instead of giving up
    assert slack_client.peak == 3  # never more at once than the senders
    assert len([c for c in slack.calls("chat.update") if c.ok]) == 12
    assert all(not has_buttons(card(slack, r)) for r in records)
    await outbox_empty(store)


class PeakClient(AsyncWebClient):
    """The real client, counting how many `chat.update` calls are in flight at once."""

    in_flight = 0
    peak = 0

    async def chat_update(self, **kwargs: Any) -> Any:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await super().chat_update(**kwargs)
        finally:
            self.in_flight -= 1


async def test_a_late_vote_redraw_draws_the_decision_made_since_on_another_worker(
    slack: SlackStandIn, store: Store
) -> None:
    cards = CardService(client(slack), store=store)
    pending = await posted(store, cards, "card-0002-a", required=2)
    vote = await store.approvals.decide(pending.id, outcome="approved", by="U0BOB", card=(APPROVALS, pending.card_ts))
    final = await store.approvals.decide(
        pending.id, outcome="rejected", by="U0CAROL", card=(APPROVALS, pending.card_ts)
    )
    assert vote.approval is not None and final.status == "ok"
    cards.schedule(vote.approval)  # queued here while another worker decided (and drew) the rejection
    await cards.drain()
    assert "*Rejected* by <@U0CAROL>" in block_texts(card(slack, pending)) and not has_buttons(card(slack, pending))
    await outbox_empty(store)


async def test_outbox_entries_with_no_card_to_draw_are_dropped(slack: SlackStandIn, store: Store) -> None:
    web = client(slack)
    cards, background, directory = CardService(web, store=store), Background(), Directory(web)
    approvals = approval_service(
        store=store,
        cards=cards,
        waiter=DecisionWaiter(store, "w1"),
        directory=directory,
        people=People(store=store.people, accounts=[SlackAccounts(directory)]),
        events=Events(),
        background=background,
        worker_id="w1",
        approvals_channel=APPROVALS,
        default_timeout=600,
    )
    due = SlackDue(store=store, cards=cards, delivery=approvals.delivery, worker_id="w1")
    store.shared.card_grace = 0  # overdue at once
    unposted = await posted(store, cards, "card-0003-a")
    await store.redis.hset(store.keys.approval(unposted.id), "card_ts", "")  # type: ignore[misc]
    await store.approvals.decide(unposted.id, outcome="cancelled", by="system", feedback="card not posted")
    await store.outbox.add("card-0003-gone", due=0)  # an approval that expired meanwhile
    assert await store.redis.zcard(store.keys.outbox) == 2
    assert await due.drain() == 0
    assert await store.redis.zcard(store.keys.outbox) == 0


@pytest.mark.slow
async def test_drain_waits_for_a_redraws_last_redis_call_before_the_store_closes(slack: SlackStandIn) -> None:
    """A redraw's Homes drawn, its outbox entry on its way out while Redis holds the call: `drain` waits for that
    call (then stops it) instead of returning while it runs on, into a store closed under it (CI once saw that
    task's error never retrieved)."""
    server = start_redis()
    redis = connect(server.url)
    try:
        store = Store(redis)
        cards = CardService(client(slack), store=store)
        homes_drawn = asyncio.Event()

        async def after_draw(approval: ApprovalRecord) -> bool:
            await redis.execute_command("CLIENT", "PAUSE", "30000", "WRITE")  # the outbox's Lua step waits
            homes_drawn.set()
            return True

        cards.after_draw = after_draw
        pending = await posted(store, cards, "card-0004-a")
        result = await store.approvals.decide(
            pending.id, outcome="approved", by="U0BOB", card=(APPROVALS, pending.card_ts)
        )
        assert result.approval is not None
        cards.schedule(result.approval)
        await homes_drawn.wait()

        async def held() -> bool:  # the outbox's call has reached Redis, which holds it
            clients = await redis.execute_command("CLIENT", "LIST")
            return any("flags=b" in line and "cmd=evalsha" in line for line in str(clients).splitlines())

        await until(held, what="the outbox call held by Redis")
        await cards.drain(grace=0.5)
        left = [t.get_name() for t in asyncio.all_tasks() if t.get_name().startswith("after-draw-") and not t.done()]
        assert left == [] and cards.queued == []
        await redis.execute_command("CLIENT", "UNPAUSE")
    finally:
        await redis.aclose()
        server.process.kill()
        server.process.wait(timeout=10)

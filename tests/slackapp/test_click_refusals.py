"""Clicks Slack or a script makes hard to answer (#33.12), through the real Bolt app over signed HTTP:

- a modal whose click's trigger_id expired before `views.open` (Slack takes it for 3 s): one WARNING line,
  no traceback, and the reviewer is told to click again (ephemerally under the card; in a DM from a Home);
- a refused click replayed many times, on two workers: one answer per window, not one per click;
- and every one of them audited (PCI DSS 10.2.1): the first at once, the rest as one entry with their `count`,
  written by whichever worker sweeps after the window, even when the worker that refused them is gone."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import pytest

from bot.approvals import service as approval_service
from bot.devslack.server import SlackStandIn
from tests.conftest import ALICE, APPROVALS, BOB, CAROL, SALES, Worker, bot_env, card_of, has_buttons, start_worker
from tests.support.flow import config, start_run
from tests.support.hitl import until
from tests.support.homes import approval_id_of, open_homes, waiting_in_home

FLOOD = 40
TOO_SLOW = "Slack took too long to open the form; click again."


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.WARNING):
        yield caplog


def trigger_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING and "trigger_id" in r.getMessage()]


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


async def pending(slack: SlackStandIn) -> dict[str, Any]:
    return await slack.wait_for(lambda: (c := card_of(slack, pending=True)) and c[-1])


def dm_texts(slack: SlackStandIn, user: str) -> list[str]:
    return [str(m.get("text", "")) for m in slack.messages(slack.dm_channel(user))]


async def test_an_expired_trigger_on_a_card_tells_the_reviewer_to_click_again(
    slack: SlackStandIn, worker: Worker, logged: pytest.LogCaptureFixture
) -> None:
    await start_run(slack)
    card = await pending(slack)
    slack.trigger_ttl = 0.0  # Slack's 3 s passed between the click and views.open
    result = await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
    assert result.status == 200
    told = await slack.wait_for(lambda: [e for e in slack.ephemerals(BOB) if e["text"] == TOO_SLOW])
    assert told[0]["channel"] == APPROVALS and len(told) == 1
    assert not slack.calls("views.open")[-1].ok
    assert not slack.open_views(BOB)
    warnings = trigger_warnings(logged)
    assert len(warnings) == 1 and warnings[0].exc_info is None and "expired_trigger_id" in warnings[0].getMessage()
    assert errors(logged) == []

    # a trigger Slack does not know (invalid_trigger_id) is told the same way; Reject goes the same way
    slack.trigger_ttl = 3.0
    slack.fail(method="views.open", status=200, error="invalid_trigger_id")
    await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_reject")
    await slack.wait_for(lambda: [e for e in slack.ephemerals(CAROL) if e["text"] == TOO_SLOW])
    assert len(trigger_warnings(logged)) == 2 and errors(logged) == []

    # clicking again, in time, opens the form: nothing was decided meanwhile
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
    view = await slack.wait_for(lambda: slack.open_views(BOB) and slack.open_views(BOB)[-1])
    assert view["view"]["callback_id"] == "approval_revise_modal"
    approval = await worker.services.store.approvals.get(approval_id_of(card))
    assert approval is not None and approval.pending


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_an_expired_trigger_in_a_home_is_told_in_a_dm(
    slack: SlackStandIn, worker: Worker, logged: pytest.LogCaptureFixture
) -> None:
    await open_homes(slack, BOB)
    await start_run(slack)
    card = await pending(slack)
    await start_run(slack)
    await slack.wait_for(lambda: len(card_of(slack, pending=True)) == 2)
    approval_id = approval_id_of(card)
    await slack.wait_for(lambda: len(waiting_in_home(slack, BOB)) == 2)  # "Decide several…" is offered
    slack.trigger_ttl = 0.0
    await slack.click_view(user=BOB, action_id="approval_revise", value=approval_id)  # the Revise form
    await slack.wait_for(lambda: TOO_SLOW in dm_texts(slack, BOB))
    await slack.click_view(user=BOB, action_id="home_batch", value="batch")  # "Decide several…"
    await slack.wait_for(lambda: dm_texts(slack, BOB).count(TOO_SLOW) == 2)

    # a refusal a Home shows in a small modal (CAROL decided meanwhile) comes in the DM, as its own text
    held = slack.hold("views.publish")  # bob's Home keeps its buttons
    await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    await slack.wait_for(lambda: not has_buttons(next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"])))
    await slack.click_view(user=BOB, action_id="approval_approve", value=approval_id)
    already = f"This approval was already approved by <@{CAROL}>. Nothing changed."
    await slack.wait_for(lambda: already in dm_texts(slack, BOB))
    held.release()
    assert not slack.open_views(BOB)
    warnings = trigger_warnings(logged)
    assert len(warnings) == 3 and all(w.exc_info is None for w in warnings), [w.getMessage() for w in warnings]
    assert errors(logged) == []


async def test_an_expired_trigger_on_always_allow_and_full_text(
    emailer: tuple[Worker, str], slack: SlackStandIn, logged: pytest.LogCaptureFixture
) -> None:
    worker, key = emailer
    schema = {"type": "object", "properties": {"to": {"type": "string"}, "body": {"type": "string"}}}
    ask = {"kind": "tool", "title": "Tell Bob", "requester": ALICE, "channel": SALES,
           "tool": {"name": "send_email", "arguments": {"to": "bob@example.com", "body": "x" * 2000},
                    "schema": schema}}
    await open_homes(slack, CAROL)
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    async with aiohttp.ClientSession() as session, session.post(
        worker.url + "/api/v1/approvals", data=json.dumps(ask), headers=headers
    ) as response:
        assert response.status == 201, await response.text()
        approval_id = (await response.json())["id"]
    card = await pending(slack)
    slack.trigger_ttl = 0.0
    await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approve_always")
    await slack.wait_for(lambda: [e for e in slack.ephemerals(CAROL) if e["text"] == TOO_SLOW])
    await slack.wait_for(lambda: approval_id in waiting_in_home(slack, CAROL))
    await slack.click_view(user=CAROL, action_id="approval_full_text", value=approval_id)
    await slack.wait_for(lambda: TOO_SLOW in dm_texts(slack, CAROL))
    warnings = trigger_warnings(logged)
    assert len(warnings) == 2 and all(w.exc_info is None for w in warnings)
    assert errors(logged) == []
    approval = await worker.services.store.approvals.get(approval_id)
    assert approval is not None and approval.pending  # nothing was decided


# ------------------------------------------------------------------------------------------- replayed refusals


async def window_ended(worker: Worker, user: str) -> None:
    """As if `REFUSAL_QUIET` seconds had passed: the claims that keep `user`'s refusals quiet expire now."""
    redis = worker.services.store.redis
    async for key in redis.scan_iter(match="*:claim:*"):
        if await redis.get(key) == user:
            await redis.delete(key)


async def refusal_windows_closed(worker: Worker) -> None:
    """As if the refusals' audit window (10 s) had passed: every open window ends now (its `until`, and its place in
    the sweepers' due set), so the next sweep of any worker writes its summary."""
    store = worker.services.store
    due, now = store.keys.refusals_due, time.time()
    for key in await store.redis.zrange(due, 0, -1):
        await store.redis.hset(key, "until", repr(now))
        await store.redis.zadd(due, {key: now})


@pytest.fixture
async def second_worker(slack: SlackStandIn, redis_url: str, worker: Worker) -> AsyncIterator[Worker]:
    other = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None))
    yield other
    await other.stop()


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_a_refusal_slack_does_not_post_is_answered_through_the_click_s_response_url(
    slack: SlackStandIn, worker: Worker, logged: pytest.LogCaptureFixture
) -> None:
    """A click the bot did not apply is never left unanswered: its chat.postEphemeral refused by Slack, the clicker
    is told through the click's own response_url (one WARNING line naming them, no traceback)."""
    await config(slack, "approvers @bob")
    await start_run(slack)
    card = await pending(slack)
    slack.fail(method="chat.postEphemeral", status=200, error="fatal_error")
    result = await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    assert result.status == 200
    await slack.wait_for(lambda: [e for e in slack.ephemerals(CAROL) if "may decide" in e["text"]])
    assert [c.ok for c in slack.calls("response_url")] == [True]
    assert [c.ok for c in slack.calls("chat.postEphemeral")] == [False]
    warned = [r.getMessage() for r in logged.records if "response_url" in r.getMessage()]
    assert warned == [f"{CAROL} was not told under the card (chat.postEphemeral: fatal_error): told through the"
                      " click's response_url"]
    assert not errors(logged)
    assert has_buttons(next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"]))  # nothing decided


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
async def test_every_refused_click_is_audited_a_flood_as_one_entry_with_its_count(
    slack: SlackStandIn, redis_url: str
) -> None:
    first = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None))
    slack.events_url = first.url + "/slack/events"
    try:
        await config(slack, "approvers @bob")
        await start_run(slack)
        card = await pending(slack)
        results = await asyncio.gather(
            *(slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
              for _ in range(FLOOD))
        )
        assert all(r.status == 200 for r in results)
        await slack.wait_for(lambda: [e for e in slack.ephemerals(CAROL) if "may decide" in e["text"]])
    finally:
        await first.stop()  # gone before any window closed: the count is in Redis, not in its memory
    later = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None))
    try:
        await refusal_windows_closed(later)  # the window's end brought forward, not waited for

        async def audited() -> list[dict[str, str]] | None:
            refused = [e for e in await later.services.store.audit.entries() if e["event"] == "refused"]
            return refused if sum(int(e.get("count", "1")) for e in refused) == FLOOD else None

        refused = await until(audited, within=20, what="every refused click audited")
        assert {(e["by"], e["reason"]) for e in refused} == {(CAROL, "not_allowed")}
        assert len({e["approval"] for e in refused}) == 1
        summaries = [e for e in refused if "count" in e]
        assert summaries and len(refused) < FLOOD, refused  # a flood is summarised, not written entry by entry
        assert all(float(e["since"]) <= float(e["at"]) for e in summaries)
        assert len([e for e in slack.ephemerals(CAROL) if "may decide" in e["text"]]) == 1  # answered once
    finally:
        await later.stop()


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_replayed_refused_click_is_answered_once_per_window_on_any_worker(
    slack: SlackStandIn, worker: Worker, second_worker: Worker, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The window is long (a minute: a burst on a busy machine stays within it); its end is the claim's expiry,
    brought forward by removing the claims rather than by waiting."""
    monkeypatch.setattr(approval_service, "REFUSAL_QUIET", 60)
    await config(slack, "approvers @bob")
    await start_run(slack)
    card = await pending(slack)
    only_bob = f"Only <@{BOB}> may decide this approval. Nothing changed."

    def answers() -> list[dict[str, Any]]:
        return [e for e in slack.ephemerals(CAROL) if e["text"] == only_bob]

    def sent() -> int:
        return len([c for c in slack.calls("chat.postEphemeral") if c.args.get("user") == CAROL])

    async def replay(target: Worker, times: int) -> None:
        slack.events_url = target.url + "/slack/events"
        results = await asyncio.gather(
            *(slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
              for _ in range(times))
        )
        assert all(r.status == 200 for r in results)

    await replay(worker, 25)
    await replay(second_worker, 25)  # the other worker knows it was answered (Redis)
    await slack.wait_for(answers)
    await asyncio.sleep(0.5)  # any late answer would have come by now
    assert len(answers()) == 1 and sent() == 1
    refused = [e for e in await worker.services.store.audit.entries() if e["event"] == "refused"]
    assert [(r["by"], r["reason"]) for r in refused] == [(CAROL, "not_allowed")]  # audited once in its 10 s
    current = next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"])
    assert current["blocks"] == card["blocks"]  # nothing changed

    # another button is another answer; after the window, the same click is answered again
    await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
    await slack.wait_for(lambda: len(answers()) == 2)
    await window_ended(worker, CAROL)
    await replay(worker, 5)
    await slack.wait_for(lambda: len(answers()) == 3)
    await asyncio.sleep(0.5)
    assert len(answers()) == 3 and sent() == 3

"""Only our own people decide (#51.11), through the real Bolt app over signed HTTP: a correctly signed click from a
Slack Connect partner in a shared #approvals, from a guest, from an id Slack does not know, or naming one of our
people with another team, decides nothing; each is told why and audited, and the approval stays pending. An admin
allows a partner team (EXTERNAL_TEAMS) or a guest (ALLOWED_GUESTS) by id. A card in a shared channel says so.

Real parts: redis-server, the worker's HTTP server and Bolt app, an AutoGen team on a scripted model; Slack is the
stand-in, whose `users.info` says each person's team and whether they are a guest."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest

from bot.approvals.refusals import CANNOT_CHECK
from bot.core.records import ApprovalRecord
from bot.devslack.model import DevChannel, DevUser, default_channels, default_users
from bot.devslack.server import SlackStandIn
from bot.slack.blocks.approval_card import SHARED_LINE
from tests.conftest import (
    APPROVALS,
    BOB,
    BOT_TOKEN,
    SIGNING_SECRET,
    Worker,
    block_texts,
    bot_env,
    has_buttons,
    start_worker,
)
from tests.support.flow import pending_card, start_run
from tests.support.hitl import audit_events, until
from tests.support.homes import approval_id_of

PETRA, GUS, GHOST = "U0PETRA", "U0GUS", "U0GHOST"  # a Slack Connect partner, a guest, an id Slack does not know
PARTNER = "T0PARTNER"


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    """The stand-in with #approvals shared with a partner organization: Petra of the partner's team, and Gus, a
    guest of ours."""
    users = (
        *default_users(),
        DevUser(id=PETRA, name="petra", real_name="Petra Partner", team_id=PARTNER),
        DevUser(id=GUS, name="gus", real_name="Gus Guest", guest=True),
    )
    channels = [DevChannel(id=c.id, name=c.name, shared=c.id == APPROVALS) for c in default_channels()]
    standin = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN, users=users, channels=channels)
    await standin.start()
    yield standin
    await standin.stop()


async def started(slack: SlackStandIn, redis_url: str, model_config: Path, **env: str) -> Worker:
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=model_config, **env))
    slack.events_url = worker.url + "/slack/events"
    return worker


async def told(slack: SlackStandIn, user: str, needle: str) -> str:
    found: str = await slack.wait_for(
        lambda: next((e["text"] for e in slack.ephemerals(user) if needle in e["text"]), None),
        description=f"an answer to {user} saying {needle!r}",
    )
    return found


async def still_pending(worker: Worker, card: dict[str, Any]) -> None:
    approval = await worker.services.store.approvals.get(approval_id_of(card))
    assert approval is not None and approval.pending and approval.voters == []


async def signed_click(slack: SlackStandIn, worker: Worker, card: dict[str, Any], *, user: str, team: str) -> int:
    """A correctly signed Approve click on `card` whose payload names `user` of `team` (what the stand-in's own
    clicks cannot make: an id it does not know, or one of ours with another team)."""
    payload: dict[str, Any] = {
        "type": "block_actions",
        "user": {"id": user, "username": "someone", "name": "someone", "team_id": team},
        "api_app_id": "A0DEV",
        "token": "deprecated-verification-token",
        "container": {"type": "message", "message_ts": card["ts"], "channel_id": APPROVALS, "is_ephemeral": False},
        "trigger_id": f"1.{int(time.time())}.forged",
        "team": {"id": "T0DEV", "domain": "dev-workspace"},
        "enterprise": None,
        "is_enterprise_install": False,
        "channel": {"id": APPROVALS, "name": "approvals"},
        "state": {"values": {}},
        "actions": [{"type": "button", "action_id": "approval_approve", "block_id": "approval_actions_0",
                     "value": approval_id_of(card), "action_ts": f"{time.time():.6f}"}],
        "message": card,
    }
    body = urlencode({"payload": json.dumps(payload)}).encode()
    async with aiohttp.ClientSession() as session, session.post(
        worker.url + "/slack/events", data=body, headers=slack.sign(body)
    ) as response:
        return response.status


async def decided_approval(worker: Worker, card: dict[str, Any]) -> ApprovalRecord:
    async def decided() -> ApprovalRecord | None:
        approval = await worker.services.store.approvals.get(approval_id_of(card))
        return approval if approval is not None and not approval.pending else None

    found: ApprovalRecord = await until(decided, what=f"{approval_id_of(card)} decided")
    return found


async def refusals(worker: Worker) -> list[dict[str, str]]:
    return [e for e in await audit_events(worker, "refused") if e.get("reason", "").startswith("outsider")]


async def test_only_people_of_the_installing_workspace_decide(slack: SlackStandIn, worker: Worker) -> None:
    await start_run(slack)
    card = await pending_card(slack)
    assert SHARED_LINE in block_texts(card)  # the card says the channel is shared, and who may decide

    # a partner in the shared channel: refused, told, audited
    clicked = await slack.click(user=PETRA, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    assert clicked.status == 200
    assert "another Slack organization" in await told(slack, PETRA, "Nothing was done")
    # a guest of ours
    await slack.click(user=GUS, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    assert "Guest accounts" in await told(slack, GUS, "Nothing was done")
    # one of ours, named with another team, and an id Slack does not know: signed all the same
    assert await signed_click(slack, worker, card, user=BOB, team=PARTNER) == 200
    assert "another Slack organization" in await told(slack, BOB, "Nothing was done")
    assert await signed_click(slack, worker, card, user=GHOST, team="T0DEV") == 200
    await still_pending(worker, card)
    # a partner's slash command is refused too
    command = await slack.send_command(user=PETRA, channel=APPROVALS, text="status")
    assert command.json is not None and "another Slack organization" in command.json["text"]

    audited = await refusals(worker)
    reasons = {(e["by"], e["reason"]) for e in audited}
    assert reasons == {
        (PETRA, "outsider: external"), (GUS, "outsider: guest"), (BOB, "outsider: external"),
        (GHOST, "outsider: unknown"),
    }
    assert {e["team"] for e in audited if e["by"] == BOB} == {PARTNER}
    await still_pending(worker, card)

    # one of ours, as Slack gives them: decides
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    decided = await decided_approval(worker, card)
    assert decided.status == "approved" and decided.decided_by == BOB


async def test_an_admin_allows_a_partner_team_and_a_guest_by_id(
    slack: SlackStandIn, redis_url: str, model_config: Path
) -> None:
    worker = await started(slack, redis_url, model_config, EXTERNAL_TEAMS=PARTNER, ALLOWED_GUESTS=GUS)
    try:
        await start_run(slack)
        card = await pending_card(slack)
        await slack.click(user=GUS, channel=APPROVALS, ts=card["ts"], action_id="approval_reject")
        modal: dict[str, Any] = await slack.wait_for(lambda: slack.open_views(GUS) and slack.open_views(GUS)[-1])
        assert modal["view"]["callback_id"] == "approval_reject_modal"  # the guest may decide: the form opens
        await slack.click(user=PETRA, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        decided = await decided_approval(worker, card)
        assert decided.status == "approved" and decided.decided_by == PETRA
        assert await refusals(worker) == []
    finally:
        await worker.stop()


async def test_when_slack_cannot_say_who_clicked_nothing_counts_until_it_can(
    slack: SlackStandIn, worker: Worker
) -> None:
    await start_run(slack)
    card = await pending_card(slack)
    slack.fail(method="users.info", status=200, error="fatal_error")  # Slack's directory down: the check fails closed
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    assert await told(slack, BOB, CANNOT_CHECK) == CANNOT_CHECK
    failed = [c for c in slack.calls("users.info") if not c.ok]
    assert [c.args.get("user") for c in failed] == [BOB]  # the fault was Bob's own lookup
    await still_pending(worker, card)
    said = "outsider: Slack could not say who they are (fatal_error)"
    assert [e["reason"] for e in await refusals(worker)] == [said]

    # a failed lookup is not kept: once Slack answers, Bob's click counts
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    decided = await decided_approval(worker, card)
    assert decided.status == "approved" and decided.decided_by == BOB


async def test_when_slack_takes_neither_the_check_nor_the_answer_the_click_s_response_url_tells_them(
    slack: SlackStandIn, worker: Worker
) -> None:
    """A click the bot did not apply is never left unanswered: Slack's directory down and its chat.postEphemeral
    failing too (after the client's retries), the clicker is told through the click's own response_url (once,
    ephemerally, the card left as it is); audited, still pending."""
    await start_run(slack)
    card = await pending_card(slack)
    slack.fail(method="users.info", status=200, error="fatal_error")
    slack.fail(method="chat.postEphemeral", status=200, error="fatal_error", count=5)
    await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
    assert await told(slack, BOB, CANNOT_CHECK) == CANNOT_CHECK
    assert [c.ok for c in slack.calls("response_url")] == [True]
    assert [c.ok for c in slack.calls("chat.postEphemeral")] == [False]
    await still_pending(worker, card)
    assert has_buttons(next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"]))
    said = "outsider: Slack could not say who they are (fatal_error)"
    assert [e["reason"] for e in await refusals(worker)] == [said]


async def test_who_someone_is_is_asked_of_slack_once_for_every_worker(
    slack: SlackStandIn, redis_url: str, model_config: Path
) -> None:
    """A worker that never saw a person reads who they are from Redis (kept an hour), not from Slack: a click on a
    worker that took a run over is checked as fast as on the first (Slack's trigger lasts 3 s)."""
    async with bob_seen_on_the_first(slack, redis_url, model_config) as (_, second, card):
        slack.events_url = second.url + "/slack/events"
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        decided = await decided_approval(second, card)
        assert decided.status == "approved" and decided.decided_by == BOB
        assert [c.args.get("user") for c in slack.calls("users.info")].count(BOB) == 1


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_copy_of_the_shared_person_record_ends_when_the_record_does(
    slack: SlackStandIn, redis_url: str, model_config: Path
) -> None:
    """#63.11: a worker that copied the shared record late kept its copy a full hour more (two in all, the docs say
    one). It keeps it only as long as the shared record lives: once that is gone, the next click there asks Slack."""
    async with bob_seen_on_the_first(slack, redis_url, model_config) as (_, second, card):
        redis, key = second.services.store.redis, second.services.store.keys.person(BOB)
        assert await redis.pexpire(key, 2000)  # the first worker's record, near its end (as if an hour old)
        slack.events_url = second.url + "/slack/events"
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")  # copied late
        await slack.wait_for(lambda: len(slack.calls("views.open")) == 2 or None, description="the second form")
        assert [c.args.get("user") for c in slack.calls("users.info")].count(BOB) == 1  # read from Redis
        await until(lambda: _gone(redis, key), within=10, what="the shared record of Bob expired")
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")
        decided = await decided_approval(second, card)
        assert decided.status == "approved" and decided.decided_by == BOB
        assert [c.args.get("user") for c in slack.calls("users.info")].count(BOB) == 2  # the copy ended with it


@asynccontextmanager
async def bob_seen_on_the_first(
    slack: SlackStandIn, redis_url: str, model_config: Path
) -> AsyncIterator[tuple[Worker, Worker, dict[str, Any]]]:
    """Two workers on one Redis and a run's card, Bob's Revise form opened through the first (which asked Slack
    who Bob is, once, and shared it in Redis): (first, second, card)."""
    first = await started(slack, redis_url, model_config)
    second = await started(slack, redis_url, model_config)
    try:
        slack.events_url = first.url + "/slack/events"
        await start_run(slack)
        card = await pending_card(slack)
        await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_revise")
        await slack.wait_for(lambda: slack.open_views(BOB))
        yield first, second, card
    finally:
        await second.stop()
        await first.stop()


async def _gone(redis: Any, key: str) -> bool:
    return not await redis.exists(key)

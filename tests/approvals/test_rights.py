"""Rights and command input under real faults: who may cancel a run, who may widen who decides,
bad command input, and replayed commands. Real Redis, the real Bolt app over signed HTTP."""

from __future__ import annotations

import secrets
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    CAROL,
    SALES,
    Worker,
    block_texts,
    bot_env,
    card_of,
    has_buttons,
    reply_text,
    start_worker,
)
from tests.support.flow import pending_card, run_status, start_run

GENERAL = "C0GENERAL"


@pytest.fixture
async def guarded(slack: SlackStandIn, redis_url: str, model_config: Path) -> AsyncIterator[Worker]:
    """A worker whose ADMIN_USERS is carol."""
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=model_config, ADMIN_USERS=CAROL))
    slack.events_url = worker.url + "/slack/events"
    yield worker
    await worker.stop()


async def say(slack: SlackStandIn, text: str, *, user: str = ALICE, channel: str = SALES) -> str:
    result = await slack.send_command(user=user, channel=channel, text=text)
    assert result.status == 200, (text, result.status, result.body)
    return reply_text(result)


async def refusals(worker: Worker) -> list[dict[str, str]]:
    return [e for e in await worker.services.store.audit.entries() if e["event"] == "refused"]


async def status_of(worker: Worker, run_id: str) -> str:
    run = await worker.services.store.runs.get(run_id)
    assert run is not None
    return run.status


# 1. rights to cancel ------------------------------------------------------------------------------


async def test_only_the_requester_or_an_admin_may_cancel_and_only_in_the_runs_channel(
    slack: SlackStandIn, guarded: Worker
) -> None:
    run_id = await start_run(slack, user=ALICE)
    card = await pending_card(slack)

    bystander = await say(slack, f"cancel {run_id}", user=BOB)
    who = f"<@{ALICE}> or <@{CAROL}>"
    assert bystander == f"Only {who} may cancel run `{run_id}` (who started it and the admins). Nothing changed."
    elsewhere = await say(slack, f"cancel {run_id}", user=BOB, channel=GENERAL)
    assert elsewhere == f"There is no run `{run_id}` in this channel."  # nothing about its status
    own_elsewhere = await say(slack, f"cancel {run_id}", user=ALICE, channel=GENERAL)
    assert own_elsewhere == f"There is no run `{run_id}` in this channel."  # a run is cancelled where it runs
    unknown = await say(slack, "cancel rzzzzzzz", user=BOB, channel=GENERAL)
    assert unknown == "There is no run `rzzzzzzz` in this channel."  # the same answer: no oracle
    status_elsewhere = await say(slack, "status", user=BOB, channel=GENERAL)
    assert run_id not in status_elsewhere and "No runs" in status_elsewhere

    assert await status_of(guarded, run_id) != "cancelled"
    assert has_buttons(next(m for m in slack.messages(APPROVALS) if m["ts"] == card["ts"]))
    refused = [(r["by"], r["run"], r["origin_channel"], r["reason"]) for r in await refusals(guarded)]
    assert refused == [
        (BOB, run_id, SALES, "not the requester or an admin"),
        (BOB, run_id, GENERAL, "no such run in this channel"),
        (ALICE, run_id, GENERAL, "no such run in this channel"),
        (BOB, "rzzzzzzz", GENERAL, "no such run in this channel"),
    ]
    audit_shown = await say(slack, "audit", user=BOB)
    assert f"refused run `{run_id}` by <@{BOB}>" in audit_shown

    assert f"Cancelled run `{run_id}`" in await say(slack, f"cancel {run_id}", user=ALICE)  # the requester may
    await run_status(guarded, run_id, wanted="cancelled")

    second = await start_run(slack, user=ALICE)
    await pending_card(slack, count=2)
    assert f"Cancelled run `{second}`" in await say(slack, f"cancel {second}", user=CAROL)  # ADMIN_USERS may

    third = await start_run(slack, user=ALICE)
    await pending_card(slack, count=3)
    assert f"now <@{BOB}>" in await say(slack, "config admins @bob", user=CAROL)  # ADMIN_USERS names them
    assert f"Cancelled run `{third}`" in await say(slack, f"cancel {third}", user=BOB)  # the channel's admins may
    await run_status(guarded, third, wanted="cancelled")


async def test_without_admins_only_the_requester_may_cancel(slack: SlackStandIn, worker: Worker) -> None:
    run_id = await start_run(slack, user=ALICE)
    await pending_card(slack)
    refused = await say(slack, f"cancel {run_id}", user=BOB)
    assert refused.startswith(f"Only <@{ALICE}> may cancel run `{run_id}`")  # no ADMIN_USERS, no admins: only her
    assert await status_of(worker, run_id) != "cancelled"


# 2. settings that widen who may decide ------------------------------------------------------------


async def test_widening_settings_need_a_named_admin(slack: SlackStandIn, guarded: Worker) -> None:
    store = guarded.services.store
    settings_key = f"{store.keys.prefix}:settings:{SALES}"
    for text in ("allow_self_approval true", "timeout_outcome approve", "timeout_approves_tools true"):
        refused = await say(slack, f"config {text}", user=ALICE)  # `admins` unset: anyone may change settings, ...
        assert "widens who may decide" in refused and "ADMIN_USERS" in refused, refused
        assert f": ask <@{CAROL}>" in refused and refused.endswith("Setting unchanged.")
    assert await store.redis.hgetall(settings_key) == {}  # ... but not these
    audited = [(r["by"], r["setting"], r["value"], r["reason"]) for r in await refusals(guarded)]
    assert audited == [
        (ALICE, "allow_self_approval", "true", "needs an admin"),
        (ALICE, "timeout_outcome", "approve", "needs an admin"),
        (ALICE, "timeout_approves_tools", "true", "needs an admin"),
    ]

    # narrowing stays open to anyone while `admins` is unset; widening approvers does not
    assert f"now <@{BOB}> or <@{CAROL}>" in await say(slack, "config approvers @bob @carol", user=ALICE)
    assert "widens who may decide" in await say(slack, "config approvers anyone", user=BOB)
    assert "widens who may decide" in await say(slack, "config approvers @bob @alice", user=BOB)
    assert f"now <@{BOB}>" in await say(slack, "config approvers @bob", user=BOB)
    assert "now false" in await say(slack, "config allow_self_approval false", user=BOB)
    assert "now reject" in await say(slack, "config timeout_outcome reject", user=BOB)

    # ADMIN_USERS may widen; so may the channel's admins once there are some (how a workspace starts)
    assert "now approve" in await say(slack, "config timeout_outcome approve", user=CAROL)
    assert (await say(slack, "config admins @alice", user=BOB)).startswith(f"Only <@{CAROL}> may name")  # not bob
    assert f"now <@{ALICE}>" in await say(slack, "config admins @alice", user=CAROL)
    assert "now true" in await say(slack, "config allow_self_approval true", user=ALICE)
    assert "now anyone" in await say(slack, "config approvers anyone", user=ALICE)
    assert (await say(slack, "config timeout_outcome reject", user=BOB)).startswith("Only ")  # not an admin now
    stored = await store.redis.hgetall(settings_key)
    assert (stored["timeout_outcome"], stored["allow_self_approval"], stored["approvers"]) == (
        "approve",
        "true",
        "anyone",
    )


async def test_lowering_the_quorum_needs_a_named_admin(slack: SlackStandIn, worker: Worker) -> None:
    assert "now 2" in await say(slack, "config required_approvals 2", user=ALICE)  # raising it narrows
    refused = await say(slack, "config required_approvals 1", user=BOB)
    assert "widens who may decide" in refused and "ADMIN_USERS" in refused and ": ask" not in refused
    assert "`required_approvals`: 2" in await say(slack, "config", user=BOB)


# 3. timeout_approves_tools -------------------------------------------------------------------------


async def test_timeout_approves_tools_is_a_validated_admin_setting(slack: SlackStandIn, guarded: Worker) -> None:
    store = guarded.services.store
    shown = await say(slack, "config", user=ALICE)
    assert "`timeout_approves_tools`: false" in shown
    assert "timeout_approves_tools" in await say(slack, "help config", user=ALICE)
    bad = await say(slack, "config timeout_approves_tools maybe", user=CAROL)
    assert bad == "Bad timeout_approves_tools `maybe`: use true or false. Setting unchanged."
    assert "now true" in await say(slack, "config timeout_approves_tools yes", user=CAROL)
    assert await store.redis.hget(f"{store.keys.prefix}:settings:{SALES}", "timeout_approves_tools") == "true"
    assert "now false" in await say(slack, "config timeout_approves_tools off", user=ALICE)  # narrowing: anyone
    changes = [e for e in await store.audit.entries() if e["event"] == "settings_changed"]
    assert [(c["setting"], c["before"], c["after"], c["by"]) for c in changes] == [
        ("timeout_approves_tools", "", "true", CAROL),
        ("timeout_approves_tools", "true", "false", ALICE),
    ]


async def test_config_shows_timeout_approves_tools_once_set(slack: SlackStandIn, guarded: Worker) -> None:
    """Needs `store.settings.get` to read the field (bot/store/channel_settings.py)."""
    assert "now true" in await say(slack, "config timeout_approves_tools true", user=CAROL)
    assert "`timeout_approves_tools`: true" in await say(slack, "config", user=ALICE)
    settings = await guarded.services.store.settings.get(SALES, default_timeout=600)
    assert settings.timeout_approves_tools is True


# 4. bad command input ---------------------------------------------------------------------------


async def test_bad_numbers_and_durations_get_a_clear_inert_answer_and_change_nothing(
    slack: SlackStandIn, worker: Worker
) -> None:
    store = worker.services.store

    async def keys() -> dict[str, str]:
        found = {}
        # each command's own idempotency claim, and what a worker keeps for itself on its own schedule
        own = (f"{store.keys.prefix}:cmd:", f"{store.keys.prefix}:heartbeat:", store.keys.audit_lease,
               f"{store.keys.prefix}:person:")  # (who people are, as Slack said: a cache, not a change)
        async for key in store.redis.scan_iter(f"{store.keys.prefix}:*"):
            if not key.startswith(own):
                found[key] = await store.redis.type(key)
        return found

    before = await keys()
    cases = {
        "config required_approvals ²": "Bad required_approvals `²`: use a number from 1 to 10.",
        "config required_approvals ٣": "Bad required_approvals `٣`: use a number from 1 to 10.",
        "config max_auto_replies ²": "Bad max_auto_replies `²`: use a number from 0 to",
        "config checkpoint_every ³": "Bad checkpoint_every `³`: use a number from 0 to",
        "config timeout ²m": "Bad timeout `²m`: not a duration; use 90, 90s",
        "config timeout ٣": "Bad timeout `٣`: not a duration",  # an Arabic-Indic 3 is not 3 seconds
        "config timeout 8d": "Bad timeout `8d`: out of range",
        "config timeout <https://evil.example|click>": "Bad timeout `&lt;https://evil.example|click&gt;`",
        "config timeout <@U0BOB>": "Bad timeout `&lt;@U0BOB&gt;`",
    }
    for text, expected in cases.items():
        result = await slack.send_command(user=ALICE, channel=SALES, text=text)
        assert result.status == 200, (text, result.status, result.body)
        answer = reply_text(result)
        assert expected in answer and answer.endswith("Setting unchanged."), (text, answer)
        assert not any(live in answer for live in ("<http", "<@", "<!", "<#")), answer
    assert await keys() == before
    assert await store.redis.hgetall(f"{store.keys.prefix}:settings:{SALES}") == {}
    assert not [e for e in await store.audit.entries() if e["event"] == "settings_changed"]


# 5. replayed commands ---------------------------------------------------------------------------


def command_body(text: str, *, trigger_id: str | None, user: str = ALICE, channel: str = SALES) -> bytes:
    form = {
        "token": "unused",
        "team_id": "T0DEV",
        "channel_id": channel,
        "user_id": user,
        "command": "/agent",
        "text": text,
        "response_url": "http://127.0.0.1:9/none",
    }
    if trigger_id is not None:
        form["trigger_id"] = trigger_id
    return urllib.parse.urlencode(form).encode()


async def post(http: aiohttp.ClientSession, worker: Worker, body: bytes, headers: dict[str, str]) -> str:
    async with http.post(worker.url + "/slack/events", data=body, headers=headers) as response:
        assert response.status == 200
        return await response.text()  # Bolt answers an ack of text alone as plain text


def headers_of(slack: SlackStandIn, run_id: str) -> list[dict[str, object]]:
    return [m for m in slack.messages(SALES) if not m.get("thread_ts") and f"Run `{run_id}`" in block_texts(m)]


async def test_a_replayed_command_is_done_once(slack: SlackStandIn, worker: Worker) -> None:
    store = worker.services.store
    body = command_body("Draft a note to the team", trigger_id=f"4711.{int(time.time())}.{secrets.token_hex(16)}")
    headers = slack.sign(body)
    async with aiohttp.ClientSession() as http:
        first = await post(http, worker, body, headers)
        assert first.startswith("Started run `"), first
        run_id = first.split("`")[1]
        replay = await post(http, worker, body, headers)  # the same signed request, within its 5 minutes
        assert replay == f"Already received: this command started run `{run_id}`. Nothing was done again."
        await pending_card(slack)
        assert [r.id for r in await store.runs.recent(SALES)] == [run_id]
        await slack.wait_for(lambda: headers_of(slack, run_id))
        assert len(headers_of(slack, run_id)) == 1 and len(card_of(slack)) == 1
        assert len([e for e in await store.audit.entries() if e["event"] == "run_started"]) == 1

        config = command_body("config timeout 5m", trigger_id=f"4712.{int(time.time())}.{secrets.token_hex(16)}")
        config_headers = slack.sign(config)
        assert "now 5m" in await post(http, worker, config, config_headers)
        again = await post(http, worker, config, slack.sign(config))  # re-signed later: still the same command
        assert again == "Already received: this command was answered. Nothing was done again."
        changes = [e for e in await store.audit.entries() if e["event"] == "settings_changed"]
        assert len(changes) == 1

        untriggered = command_body("Draft another note", trigger_id=None)
        refused = await post(http, worker, untriggered, slack.sign(untriggered))
        assert refused == "This command came without a valid trigger id; nothing was done."
        assert [r.id for r in await store.runs.recent(SALES)] == [run_id]

"""An admin's App Home (#16, #17): their channels' headline numbers (as `/agent report`, cached) and live
rules with Revoke.

Real parts: redis-server, the Bolt app over signed HTTP (the stand-in delivers `app_home_opened` and
`block_actions` from the published Home, and records each `views.publish`), the real rule book and store.
History is written as the product writes it: audit entries appended with `store.audit.append`.
"""

from __future__ import annotations

import asyncio
import json
import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from bot.core.allow_rules import Condition, Match, Rule
from bot.devslack.server import SlackStandIn
from bot.slack.blocks.rules import ACTION_RULE_REVOKE
from bot.store import Store
from tests.conftest import ALICE, BOB, CAROL, SALES, Worker, name_admins, reply_text
from tests.support.hitl import DEMO, audit_events, bot, until
from tests.support.homes import home_blocks, home_text, open_homes, say

GENERAL = "C0GENERAL"
HEADLINE = "hitl:headline:" + SALES
NUMBERS = [
    "• 4 decisions: 2 approved, 1 rejected, 0 revised, 1 timed out, 0 cancelled",
    "• Timeout rate: 25% (1 of 4)",
    "• Time to decision by people: p50 6.0 s, p90 20 s",
    "• Waiting now: 0",
    f"• Busiest approver: <@{BOB}> (2 decisions)",
]


@pytest.fixture
async def admin_worker(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[Worker]:
    """A worker where carol is one of ADMIN_USERS."""
    async with bot(slack, redis_url, tmp_path, DEMO, ADMIN_USERS=CAROL) as worker:
        yield worker


async def history(store: Store) -> None:
    """Four decisions in #sales (two approvals by bob, a rejection by carol, a timeout), one call a rule
    approved, and a decision elsewhere (not counted)."""
    decisions = [
        ("a1", "approved", BOB, "4000"),
        ("a2", "approved", BOB, "6000"),
        ("a3", "rejected", CAROL, "20000"),
        ("a4", "timed_out", "timeout", ""),
    ]
    for approval, outcome, by, latency in decisions:
        fields = {"latency_ms": latency} if latency else {}
        await store.audit.append("decision", approval=approval, origin_channel=SALES, outcome=outcome, by=by, **fields)
    await store.audit.append("auto_approved", approval="a5", origin_channel=SALES, by="rule", rule_id="R1")
    await store.audit.append("decision", approval="a6", origin_channel=GENERAL, outcome="approved", by=CAROL)


async def new_rule(store: Store, *, channel: str = SALES, by: str = ALICE, domain: str = "@example.com") -> str:
    now = time.time()
    rule = Rule(
        id="",
        scope="channel",
        channel=channel,
        run="",
        match=Match(tool="send_email", where=(("to", Condition("ends_with", domain)),)),
        created_by=by,
        created_at=now,
        expires_at=now + 86400,
    )
    rule_id = await store.rules.create(rule)
    assert rule_id.startswith("R"), rule_id
    return rule_id


def revoke_values(slack: SlackStandIn, user: str) -> list[str]:
    return [
        str(b["accessory"]["value"])
        for b in home_blocks(slack, user)
        if (b.get("accessory") or {}).get("action_id") == "rule_revoke"
    ]


async def shows(slack: SlackStandIn, user: str, text: str, *, what: str = "") -> str:
    return str(await until(lambda: text in home_text(slack, user) and home_text(slack, user), what=what or text))


def publishes(slack: SlackStandIn, user: str) -> int:
    return len([c for c in slack.calls("views.publish") if c.args.get("user_id") == user])


async def redraw(slack: SlackStandIn, user: str) -> None:
    """Open the Home again (Slack sends `app_home_opened` each time), and wait for its publish."""
    before = publishes(slack, user)
    assert (await slack.open_home(user=user)).status == 200
    await until(lambda: publishes(slack, user) > before, what=f"a publish of {user}'s Home")


async def forged_revoke(worker: Worker, slack: SlackStandIn, *, user: str, value: str) -> int:
    """A signed `block_actions` from a Home that never showed this button (e.g. hand-made)."""
    payload = {
        "type": "block_actions",
        "user": {"id": user, "username": "x", "name": "x", "team_id": "T0DEV"},
        "team": {"id": "T0DEV", "domain": "dev"},
        "api_app_id": "A0DEV",
        "trigger_id": "1.2.3",
        "container": {"type": "view", "view_id": "V0FORGED"},
        "view": {"id": "V0FORGED", "type": "home", "blocks": [], "hash": "h"},
        "actions": [
            {"action_id": "rule_revoke", "block_id": "x", "value": value, "type": "button", "action_ts": "1.2"}
        ],
    }
    body = urllib.parse.urlencode({"payload": json.dumps(payload)}).encode()
    async with aiohttp.ClientSession() as http:
        async with http.post(worker.url + "/slack/events", data=body, headers=slack.sign(body)) as response:
            return response.status


# ------------------------------------------------------------------------------------------- what an admin sees
async def test_an_admins_home_shows_the_numbers_of_agent_report_and_the_rules(
    slack: SlackStandIn, worker: Worker
) -> None:
    store = worker.services.store
    await name_admins(worker, ALICE)
    await history(store)
    rule_id = await new_rule(store)
    await open_homes(slack, ALICE, BOB)

    first = await shows(slack, ALICE, "Your channels")  # drawn at once, the numbers not yet cached
    assert "computing the numbers…" in first or NUMBERS[0] in first
    shown = await shows(slack, ALICE, NUMBERS[0], what="the numbers, computed and redrawn")
    for line in NUMBERS:
        assert line in shown, line
    assert "• Approved automatically" in shown and ": 1" in shown  # (the call a rule approved)
    assert f"*<#{SALES}>* · last 7 days, as of <!date^" in shown and "Live rules: 1" in shown
    report = reply_text(await slack.send_command(user=BOB, channel=SALES, text="report"))
    bullets = [line for line in report.splitlines() if line.startswith("• ")]
    assert bullets == [line for line in shown.splitlines() if line.startswith("• ")]  # the same numbers
    assert f'*{rule_id}* · `send_email` where to ends with "@example.com" · this channel · by <@{ALICE}>' in shown
    assert "· expires <!date^" in shown and "· 0 uses" in shown
    assert revoke_values(slack, ALICE) == [f"{SALES}/{rule_id}"]
    button = next(b["accessory"] for b in home_blocks(slack, ALICE)
                  if b.get("accessory", {}).get("action_id") == ACTION_RULE_REVOKE)
    assert button["confirm"]["title"]["text"] == f"Revoke rule {rule_id}?"

    assert "Your channels" not in home_text(slack, BOB)  # not an admin: no such section, no button
    assert not revoke_values(slack, BOB)

    second = await new_rule(store, domain="@example.org")  # created: shown the next time the Home is drawn
    await redraw(slack, ALICE)
    assert revoke_values(slack, ALICE) == [f"{SALES}/{second}", f"{SALES}/{rule_id}"]  # the newest first


async def test_admin_users_see_every_channel_with_settings_or_rules_the_most_active_first(
    slack: SlackStandIn, admin_worker: Worker
) -> None:
    store = admin_worker.services.store
    for number in range(8):  # settings in 8 channels (the newest last)
        await store.settings.set(f"C0CH{number}", "timeout", "600", by=ALICE)
    rule_id = await new_rule(store, channel=GENERAL)  # a channel with a rule, no settings
    await open_homes(slack, CAROL, ALICE)
    shown = await shows(slack, CAROL, "… and 4 more channels")  # 9 channels: 5 shown
    for channel in (GENERAL, "C0CH7", "C0CH6", "C0CH5", "C0CH4"):
        assert f"*<#{channel}>*" in shown, channel
    assert "*<#C0CH0>*" not in shown
    assert shown.index(f"<#{GENERAL}>") < shown.index("<#C0CH7>") < shown.index("<#C0CH4>")
    assert revoke_values(slack, CAROL) == [f"{GENERAL}/{rule_id}"]
    assert "Your channels" not in home_text(slack, ALICE)  # she changed settings, but is no admin


# ------------------------------------------------------------------------------------------- revoke
@pytest.mark.slow
async def test_revoke_from_the_home_and_refusals(slack: SlackStandIn, worker: Worker) -> None:
    store = worker.services.store
    await name_admins(worker, ALICE, BOB)
    first, second, third = [await new_rule(store, domain=f"@{n}.example.com") for n in range(3)]
    await open_homes(slack, ALICE, BOB, CAROL)
    await until(lambda: len(revoke_values(slack, ALICE)) == 3 and len(revoke_values(slack, BOB)) == 3)

    # an admin revokes: the rule is gone, audited, and the Homes of the admins no longer show it
    result = await slack.click_view(user=ALICE, action_id="rule_revoke", value=f"{SALES}/{first}")
    assert result.status == 200
    await until(lambda: f"{SALES}/{first}" not in revoke_values(slack, ALICE), what="alice's Home redrawn")
    await until(lambda: f"{SALES}/{first}" not in revoke_values(slack, BOB), what="bob's Home redrawn")
    assert await store.rules.get(SALES, first) is None
    revoked = await audit_events(worker, "rule_revoked")
    assert [(e["rule_id"], e["by"], e["origin_channel"]) for e in revoked] == [(first, ALICE, SALES)]
    assert not slack.open_views(ALICE)  # no modal when it worked: the Home shows it

    # a forged click by who is neither an admin nor the rule's creator: refused, audited, nothing changed
    assert await forged_revoke(worker, slack, user=CAROL, value=f"{SALES}/{second}") == 200
    refused = await until(lambda: audit_events(worker, "rule_refused"), what="the refusal audited")
    assert refused[-1]["by"] == CAROL and refused[-1]["rule_id"] == second and "admins" in refused[-1]["reason"]
    assert await store.rules.get(SALES, second) is not None

    # bad values: refused, audited, nothing changed
    for bad in ("C0SALES", f"{SALES}/{second}x", f"{SALES}/{second}/R1", "garbage/R1", "C0SALES/DEL *", "x" * 5000):
        assert await forged_revoke(worker, slack, user=ALICE, value=bad) == 200
    refusals = await until(lambda: _malformed(worker, 6), what="the 6 malformed clicks audited")
    assert all(e["by"] == ALICE for e in refusals)
    assert [r.id for r in await store.rules.of_channel(SALES, now=time.time())] == [second, third]

    # a stale button (revoked meanwhile elsewhere): told in a modal over the Home, which is redrawn
    assert (await worker.services.rules.revoke(BOB, SALES, third)).done
    assert f"{SALES}/{third}" in revoke_values(slack, ALICE)  # (not redrawn yet)
    assert (await slack.click_view(user=ALICE, action_id="rule_revoke", value=f"{SALES}/{third}")).status == 200
    modal = await until(lambda: slack.open_views(ALICE), what="the notice modal")
    assert modal[-1]["view"]["title"]["text"] == "Nothing changed"
    assert f"There is no live rule {third}" in json.dumps(modal[-1]["view"])
    await until(lambda: revoke_values(slack, ALICE) == [f"{SALES}/{second}"], what="the Home redrawn")


async def _malformed(worker: Worker, count: int) -> list[dict[str, str]] | None:
    found = [e for e in await audit_events(worker, "refused") if e.get("reason") == "malformed rule revoke"]
    return found if len(found) >= count else None


async def test_the_rules_creator_may_revoke_it_from_a_home_even_when_no_admin(
    slack: SlackStandIn, admin_worker: Worker
) -> None:
    """Carol (ADMIN_USERS) sees bob's rule; bob, its creator, is no admin and has no button, but may revoke it."""
    store = admin_worker.services.store
    rule_id = await new_rule(store, by=BOB)
    await open_homes(slack, CAROL, BOB)
    await until(lambda: revoke_values(slack, CAROL) == [f"{SALES}/{rule_id}"])
    assert not revoke_values(slack, BOB)
    assert await forged_revoke(admin_worker, slack, user=BOB, value=f"{SALES}/{rule_id}") == 200
    await until(lambda: _gone(store, rule_id), what="the rule revoked by its creator")
    await until(lambda: not revoke_values(slack, CAROL), what="carol's Home redrawn (an admin of every channel)")


async def _gone(store: Store, rule_id: str) -> bool:
    return await store.rules.get(SALES, rule_id) is None


# ------------------------------------------------------------------------------------------- the admin index
async def test_the_admin_index_follows_config_admins(slack: SlackStandIn, worker: Worker) -> None:
    settings = worker.services.store.settings
    await name_admins(worker, ALICE)  # (ADMIN_USERS names a channel's first admins; they name others)
    await name_admins(worker, BOB, channel=GENERAL)
    assert "now <@" in await say(slack, "config admins @alice @bob")
    assert "now <@" in await say(slack, "config admins @bob", user=BOB, channel=GENERAL)
    assert await settings.admin_of(ALICE) == [SALES]
    assert await settings.admin_of(BOB) == [GENERAL, SALES]
    await open_homes(slack, BOB)
    shown = await shows(slack, BOB, "Your channels")
    assert f"*<#{SALES}>*" in shown and f"*<#{GENERAL}>*" in shown

    assert "now <@" in await say(slack, "config admins @alice")  # bob removed from #sales
    assert await settings.admin_of(BOB) == [GENERAL] and await settings.admin_of(ALICE) == [SALES]
    await redraw(slack, BOB)
    assert f"*<#{SALES}>*" not in home_text(slack, BOB) and f"*<#{GENERAL}>*" in home_text(slack, BOB)

    assert "now anyone" in await say(slack, "config admins anyone")
    assert await settings.admin_of(ALICE) == []
    assert "now anyone" in await say(slack, "config admins anyone", user=BOB, channel=GENERAL)
    assert await settings.admin_of(BOB) == []
    await redraw(slack, BOB)
    assert "Your channels" not in home_text(slack, BOB)
    entries = await audit_events(worker, "settings_changed")
    assert [(e["before"], e["after"]) for e in entries if e["origin_channel"] == SALES] == [
        ("", ALICE),
        (ALICE, f"{ALICE},{BOB}"),
        (f"{ALICE},{BOB}", ALICE),
        (ALICE, "anyone"),
    ]


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_concurrent_admin_changes_keep_the_index_exact(worker: Worker) -> None:
    """Each change moves people by the difference with the value it replaced (a transaction on it)."""
    settings = worker.services.store.settings
    values = [",".join(sorted({f"U0P{(i * 7 + j) % 12:02d}" for j in range(i % 5 + 1)})) for i in range(40)]
    await asyncio.gather(*(settings.set(SALES, "admins", v, by=ALICE) for v in values))
    final = (await settings.get(SALES, default_timeout=600)).admins
    people = {f"U0P{n:02d}" for n in range(12)}
    for person in people:
        assert (await settings.admin_of(person) == [SALES]) == (person in final), person


# ------------------------------------------------------------------------------------------- the cache
@pytest.mark.slow
async def test_the_numbers_are_cached_for_a_minute_then_computed_again(slack: SlackStandIn, worker: Worker) -> None:
    store, redis = worker.services.store, worker.services.redis
    await name_admins(worker, ALICE)
    await history(store)
    await open_homes(slack, ALICE)
    await shows(slack, ALICE, NUMBERS[0])
    cached = await redis.get(HEADLINE)
    ttl = await redis.pttl(HEADLINE)
    assert cached and 0 < ttl <= 60_000
    as_of = json.loads(cached)["at"]

    # a second draw within the minute reads the cache only: new decisions do not show yet
    await store.audit.append("decision", approval="a7", origin_channel=SALES, outcome="approved", by=BOB)
    await redraw(slack, ALICE)
    assert NUMBERS[0] in home_text(slack, ALICE) and "5 decisions" not in home_text(slack, ALICE)
    assert await redis.get(HEADLINE) == cached  # not computed again

    # expired: the next draw says "computing…", and the Home is redrawn with the new numbers
    await redis.pexpire(HEADLINE, 1)
    await until(lambda: _missing(redis), what="the cache expired")
    await redraw(slack, ALICE)
    assert "computing the numbers…" in home_text(slack, ALICE)
    await shows(slack, ALICE, "• 5 decisions: 3 approved", what="the new numbers")
    assert json.loads(await redis.get(HEADLINE))["at"] > as_of


async def _missing(redis: Any) -> bool:
    return not await redis.exists(HEADLINE)


async def test_numbers_are_computed_by_one_worker_at_a_time(slack: SlackStandIn, worker: Worker) -> None:
    """While another worker holds the claim, a Home shows "computing…" and waits in the channel's set;
    the numbers are computed once the claim is free."""
    redis = worker.services.redis
    await name_admins(worker, ALICE)
    await history(worker.services.store)
    await redis.set("hitl:claim:headline:" + SALES, "another-worker", px=30_000)
    await open_homes(slack, ALICE)
    await shows(slack, ALICE, "computing the numbers…")
    await until(lambda: _waits(redis, ALICE), what="alice waits for the numbers")
    assert not await redis.exists(HEADLINE)  # nobody but the holder computes them

    await redis.delete("hitl:claim:headline:" + SALES)  # the holder died; its claim is gone
    await redraw(slack, ALICE)
    await shows(slack, ALICE, NUMBERS[0], what="computed once the claim was free")
    assert not await redis.exists("hitl:claim:headline:" + SALES)  # released after


async def _waits(redis: Any, user: str) -> bool:
    return bool(await redis.sismember(HEADLINE + ":wait", user))


async def test_settings_written_before_the_index_are_indexed_once_rebuilt(worker: Worker) -> None:
    settings, redis = worker.services.store.settings, worker.services.redis
    await redis.hset("hitl:settings:C0OLD", mapping={"admins": f"{ALICE},{BOB}", "timeout": "600"})  # as before
    await redis.hset("hitl:settings:C0NOADMINS", mapping={"admins": "anyone"})
    await settings.set(SALES, "admins", CAROL, by=CAROL)  # indexed as it is written
    changed = await redis.zscore("hitl:settings:channels", SALES)
    assert await settings.admin_of(ALICE) == []
    for again in (False, True):
        if again:  # once per Redis; and idempotent when run again
            assert await settings.rebuild_indexes() == 0
            await redis.delete("hitl:migrated:admin-index")
        assert await settings.rebuild_indexes() == 3
        assert await settings.admin_of(ALICE) == ["C0OLD"] and await settings.admin_of(BOB) == ["C0OLD"]
        assert await settings.admin_of(CAROL) == [SALES]
        assert {c for c, _ in await settings.channels(limit=10)} == {"C0OLD", "C0NOADMINS", SALES}
        assert await redis.zscore("hitl:settings:channels", SALES) == changed  # its time kept

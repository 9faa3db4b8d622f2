"""Every agent has a person accountable (issue 80.6): `python -m bot keys create ... --sponsor @U…` and `keys sponsor`
keep the key's sponsor, its cards say "agent NAME, sponsored by …", `keys list` and `hitl_keys_without_sponsor` name
the keys without one, and a sponsor deactivated in Slack (the `user_change` event, or found when the worker asks
Slack about the sponsors again, a bounded number each TOKEN_CHECK_INTERVAL) is said to the admins and audited once.
A real worker (`python -m bot`), the local Slack, signed requests."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from agent_approvals import ApprovalsClient

from bot.devslack.model import DevUser, RecordedCall
from bot.devslack.server import SlackStandIn
from bot.slackapp.listeners.sponsors import SPONSORS_EACH
from bot.store import Store
from tests.conftest import BOB, BOT_TOKEN, CAROL, SALES
from tests.support.blockkit import assert_valid
from tests.support.cli import bot_command
from tests.support.cluster import Cluster
from tests.support.hitl import nth_card, text_of, until
from tests.support.metrics_table import sample, scrape

pytestmark = pytest.mark.slow  # a worker as a process

ALERTS = "C0RANDOM"  # a channel the bot is in: ALERTS_CHANNEL
EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}


def keys_env(slack: SlackStandIn, redis_url: str) -> dict[str, str]:
    """`python -m bot keys`'s environment: the store, and Slack to check a sponsor with."""
    return {"REDIS_URL": redis_url, "SLACK_BOT_TOKEN": BOT_TOKEN, "SLACK_API_URL": slack.api_url}


def listed(out: str) -> dict[str, dict[str, object]]:
    return {line["name"]: line for line in map(json.loads, out.splitlines())}


async def test_a_key_names_its_sponsor_on_its_card_and_one_without_is_listed_counted_and_named_later(
    cluster: Cluster, slack: SlackStandIn, store: Store, redis_url: str
) -> None:
    env = keys_env(slack, redis_url)
    made = await bot_command("keys", "create", "mailer", "--channel", SALES, "--sponsor", f"@{CAROL}", environ=env)
    assert made.returncode == 0 and f"sponsor:        {CAROL}" in made.stdout
    key = re.search(r"key:\s+(aak_\S+)", made.stdout)
    assert key is not None
    bare = await bot_command("keys", "create", "nightly", "--channel", SALES, environ=env)
    assert bare.returncode == 0 and "sponsor:        none" in bare.stdout
    refused = await bot_command("keys", "create", "other", "--channel", SALES, "--sponsor", "@ana", environ=env)
    assert refused.returncode == 2 and "a sponsor is a person's Slack member id" in refused.stderr
    assert await store.api_keys.get("other") is None  # nothing made

    keys = listed((await bot_command("keys", "list", environ=env)).stdout)
    assert keys["mailer"]["sponsor"] == CAROL and keys["nightly"]["sponsor"] == "none"
    alone = listed((await bot_command("keys", "list", "--without-sponsor", environ=env)).stdout)
    assert list(alone) == ["nightly"]

    worker = await cluster.start()
    slack.events_url = worker.events
    assert sample(await scrape(worker), "hitl_keys_without_sponsor") == 1

    async with ApprovalsClient(worker.url, key.group(1), title="Tell Bob") as client:
        asked = await client.request_tool("send_email", EMAIL)
        assert asked.pending
        card = await nth_card(slack, 1)
    assert f"Asked by agent `mailer`, sponsored by <@{CAROL}>," in text_of(card)
    assert_valid({"type": "modal", "title": {"type": "plain_text", "text": "card"}, "blocks": card["blocks"]})
    approval = await store.approvals.get(asked.id)
    assert approval is not None and approval.sponsor == CAROL

    named = await bot_command("keys", "sponsor", "nightly", BOB, environ=env)
    assert named.returncode == 0 and f"nightly is sponsored by {BOB}" in named.stdout
    assert (await bot_command("keys", "sponsor", "nope", BOB, environ=env)).returncode == 2
    assert sample(await scrape(worker), "hitl_keys_without_sponsor") == 0
    entries = [e for e in await store.audit.entries() if e["event"] == "key_sponsor"]
    assert [(e["key"], e["sponsor"]) for e in entries] == [("mailer", CAROL), ("nightly", BOB)]
    assert all(e["key_id"].startswith("k-") and e["by"] for e in entries)


async def test_a_sponsor_deactivated_in_slack_is_said_to_the_admins_once_and_audited(
    cluster: Cluster, slack: SlackStandIn, store: Store, redis_url: str
) -> None:
    env = keys_env(slack, redis_url)
    assert (await bot_command("keys", "create", "mailer", "--channel", SALES, "--sponsor", CAROL,
                              environ=env)).returncode == 0
    assert (await bot_command("keys", "create", "nightly", "--channel", SALES, "--sponsor", BOB,
                              environ=env)).returncode == 0
    worker = await cluster.start(ALERTS_CHANNEL=ALERTS)
    slack.events_url = worker.events

    answered = await slack.deactivate(user=CAROL)
    assert answered.status == 200

    def said() -> list[str]:
        return [m.get("text", "") for m in slack.messages(ALERTS) if "was deactivated" in m.get("text", "")]

    await until(said, what="the admins told in ALERTS_CHANNEL")
    assert f"<@{CAROL}> was deactivated in Slack, and sponsors API key(s) `mailer`" in said()[0]
    assert "nightly" not in said()[0]
    again = await slack.deactivate(user=CAROL)  # Slack retries an event; another worker may hear it too
    assert again.status == 200

    async def left() -> list[dict[str, str]]:
        return [e for e in await store.audit.entries() if e["event"] == "sponsor_left"]

    found = await left()
    assert [(e["key"], e["sponsor"]) for e in found] == [("mailer", CAROL)] and found[0]["key_id"].startswith("k-")
    assert len(said()) == 1


async def test_a_sponsor_deactivated_without_the_event_is_found_when_slack_is_asked_again_and_said_once(
    cluster: Cluster, slack: SlackStandIn, store: Store, redis_url: str
) -> None:
    """The `user_change` event never reaches the bot (the worker was down, the app installed after): each
    TOKEN_CHECK_INTERVAL the worker asks Slack (`users.info`) about the sponsors of the keys that work, finds the one
    deactivated, says it to the admins and audits `sponsor_left` once, as the event does; asked no more after."""
    env = {"REDIS_URL": redis_url}  # (named unchecked: the worker's own asking is what is counted)
    for name, sponsor in (("mailer", CAROL), ("nightly", BOB)):
        assert (await bot_command("keys", "create", name, "--channel", SALES, "--sponsor", sponsor, "--no-check",
                                  environ=env)).returncode == 0
    await cluster.start(ALERTS_CHANNEL=ALERTS, TOKEN_CHECK_INTERVAL="1")

    def asked(person: str) -> int:
        return sum(1 for call in slack.calls("users.info") if call.args.get("user") == person)

    await until(lambda: asked(CAROL) and asked(BOB), what="the sponsors asked about again")
    assert not slack.messages(ALERTS)  # both active: nothing said
    carol = next(person for person in slack.people() if person.id == CAROL)
    slack.set_user(dataclasses.replace(carol, deleted=True))  # deactivated; no event sent
    assert not any(call.method.startswith("events") for call in slack.calls())

    def said() -> list[str]:
        return [m.get("text", "") for m in slack.messages(ALERTS) if "was deactivated" in m.get("text", "")]

    await until(said, what="the admins told in ALERTS_CHANNEL", within=15)
    assert f"<@{CAROL}> was deactivated in Slack, and sponsors API key(s) `mailer`" in said()[0]
    assert "nightly" not in said()[0]
    carol_asked, bob_asked = asked(CAROL), asked(BOB)
    await until(lambda: asked(BOB) >= bob_asked + 2, what="two more checks", within=15)
    assert asked(CAROL) <= carol_asked + 1  # (one check may have been under way): her leaving is noted, not asked
    assert len(said()) == 1
    found = [e for e in await store.audit.entries() if e["event"] == "sponsor_left"]
    assert [(e["key"], e["sponsor"]) for e in found] == [("mailer", CAROL)] and found[0]["key_id"].startswith("k-")


async def test_the_sponsors_are_asked_about_in_turn_a_bounded_number_per_check(
    cluster: Cluster, slack: SlackStandIn, store: Store
) -> None:
    """25 sponsors: each TOKEN_CHECK_INTERVAL a worker asks Slack about SPONSORS_EACH (20) of them, the next ones in
    turn, so every sponsor is asked within two checks and no check asks more."""
    people = [f"U0SPONSOR{n:02d}" for n in range(25)]
    for n, person in enumerate(people):
        slack.set_user(DevUser(id=person, name=f"sponsor{n}", real_name=f"Sponsor {n}"))
        assert await store.api_keys.create(f"agent{n:02d}", [SALES], by="U0ADMIN", sponsor=person) is not None
    await cluster.start(TOKEN_CHECK_INTERVAL="1")

    def asked() -> list[RecordedCall]:
        return [call for call in slack.calls("users.info") if call.args.get("user") in people]

    await until(lambda: {call.args["user"] for call in asked()} == set(people) and len(asked()) >= 40,
                what="every sponsor asked, in two checks", within=20)
    checks: list[list[str]] = [[]]
    calls = asked()
    for before, call in zip([None, *calls], calls, strict=False):
        if before is not None and call.at - before.at > 0.75:  # the checks are TOKEN_CHECK_INTERVAL (1 s) apart
            checks.append([])
        checks[-1].append(call.args["user"])
    assert [len(check) for check in checks[:2]] == [SPONSORS_EACH, SPONSORS_EACH], checks
    assert checks[0] == people[:SPONSORS_EACH] and checks[1][:5] == people[SPONSORS_EACH:]  # the next ones in turn
    assert max(len(check) for check in checks) == SPONSORS_EACH

"""Where an approval's cards go in Teams (issue 81, bot/teams/delivery.py): `/agent config teams <link or id>` and
`teams_personal` through the real Bolt app (signed slash commands, an in-process worker, the local Slack), with their
refusals audited; a reminder and a delegate told as the `Nudged` event the Teams delivery listens to.

Real parts: redis-server, the Bolt app over signed HTTP, the worker's parts (`create_services`); Slack is the
stand-in."""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.approvals import Event, Nudged
from bot.core.teams import TeamsConversation
from bot.devslack.model import DevUser, default_users
from bot.devslack.server import SlackStandIn
from tests.conftest import (
    ALICE,
    BOB,
    BOT_TOKEN,
    CAROL,
    SALES,
    SIGNING_SECRET,
    Worker,
    bot_env,
    reply_text,
    start_worker,
)
from tests.support.flow import pending_card, start_run
from tests.support.hitl import until
from tests.support.homes import approval_id_of

TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
OTHER_TENANT = "00000000-0000-4000-8000-000000000001"
APP_ID = "6f1c2a3b-4d5e-4f60-8a7b-9c0d1e2f3a4b"
CONVERSATION = "19:4d1b2f0c8e5a4b6f9a2c3d4e5f6a7b8c@thread.tacv2"
DAVE = "U0DAVE"


def channel_link(conversation: str = CONVERSATION, *, tenant: str = TENANT) -> str:
    """A Teams channel's link as *Get link to channel* gives it."""
    return (f"https://teams.microsoft.com/l/channel/{urllib.parse.quote(conversation, safe='')}/Approvals"
            f"?groupId=0f3e8a6c-1b2d-4e5f-8a9b-0c1d2e3f4a5b&tenantId={tenant}")


@pytest.fixture
async def slack() -> AsyncIterator[SlackStandIn]:
    """The stand-in with dave (a delegate)."""
    users = (*default_users(), DevUser(id=DAVE, name="dave", real_name="Dave Example"))
    standin = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN, users=users)
    await standin.start()
    yield standin
    await standin.stop()


@pytest.fixture
async def teams_configured(slack: SlackStandIn, redis_url: str, model_config: Path) -> AsyncIterator[Worker]:
    """A worker of a company with Teams (TEAMS_APP_ID, its tenant), carol its ADMIN_USERS."""
    env = bot_env(slack=slack, redis_url=redis_url, model_config=model_config, ADMIN_USERS=CAROL,
                  TEAMS_APP_ID=APP_ID, TEAMS_TENANT_ID=TENANT, TEAMS_APP_PASSWORD="an-app-secret")
    worker = await start_worker(env)
    slack.events_url = worker.url + "/slack/events"
    yield worker
    await worker.stop()


async def say(slack: SlackStandIn, text: str, *, user: str = CAROL, channel: str = SALES) -> str:
    result = await slack.send_command(user=user, channel=channel, text=text)
    assert result.status == 200, (text, result.status, result.body)
    return reply_text(result)


async def refusals(worker: Worker) -> list[dict[str, str]]:
    return [e for e in await worker.services.store.audit.entries() if e["event"] == "refused"]


async def teams_setting(worker: Worker, channel: str = SALES) -> tuple[str, bool]:
    settings = await worker.services.store.settings.get(channel, default_timeout=60)
    return settings.teams, settings.teams_personal


async def test_a_channel_is_routed_to_teams_by_its_link_and_told_whether_the_bot_is_there(
    slack: SlackStandIn, teams_configured: Worker
) -> None:
    worker = teams_configured
    reply = await say(slack, f"config teams {channel_link()}")
    assert f"`teams` of this channel is now `{CONVERSATION}`." in reply
    assert "The bot is not in that Teams conversation yet: add the Agent Approvals app there" in reply
    assert await teams_setting(worker) == (CONVERSATION, False)
    # once the app is added there (the conversation reference kept), the reply says so
    await worker.services.store.teams.keep_conversation(TeamsConversation(
        CONVERSATION, "https://smba.trafficmanager.net/emea/", TENANT, "channel", "Approvals <!channel>"))
    again = await say(slack, f"config teams {CONVERSATION}")
    assert "The bot is in that Teams channel *Approvals &lt;!channel&gt;*: this channel's cards go there" in again
    assert "<!channel>" not in again  # the conversation's name is shown inert
    assert "is now true." in await say(slack, "config teams_personal true")
    assert await teams_setting(worker) == (CONVERSATION, True)
    shown = await say(slack, "config")
    assert f"• `teams`: `{CONVERSATION}`" in shown and "• `teams_personal`: true" in shown
    assert "now off" in await say(slack, "config teams off")
    assert await teams_setting(worker) == ("", True)
    changes = [e for e in await worker.services.store.audit.entries() if e.get("setting") == "teams"]
    assert [e["by"] for e in changes] == [CAROL, CAROL, CAROL]  # every change audited, naming who


async def test_a_route_to_another_tenant_a_bad_link_and_a_non_admin_are_refused_and_change_nothing(
    slack: SlackStandIn, teams_configured: Worker
) -> None:
    worker = teams_configured
    await worker.services.store.settings.set(SALES, "admins", CAROL, by="operator")
    other = await say(slack, f"config teams {channel_link(tenant=OTHER_TENANT)}")
    assert other == ("Cannot set `teams`: this link is of another Microsoft 365 tenant than the bot's"
                     " (TEAMS_TENANT_ID): the bot posts in its own tenant only. Setting unchanged.")
    (refused,) = await refusals(worker)
    assert (refused["by"], refused["setting"], refused["reason"]) == (CAROL, "teams", "another tenant")
    bad = await say(slack, "config teams https://evil.example/l/channel/x <!channel>")
    assert bad.startswith("Usage: `/agent config teams <value>`")  # two words: the usage, nothing stored
    bad = await say(slack, "config teams https://evil.example/l/channel/19%3aabc%40thread.tacv2/x")
    assert "only links of https://teams.microsoft.com are Teams links" in bad and bad.endswith("Setting unchanged.")
    bystander = await say(slack, f"config teams {channel_link()}", user=BOB)
    assert bystander == f"Only <@{CAROL}> may change this channel's settings. Setting unchanged."
    assert [(e["by"], e["reason"]) for e in await refusals(worker)][-1] == (BOB, "not an admin")
    assert await teams_setting(worker) == ("", False)


async def test_a_worker_without_teams_refuses_a_route(slack: SlackStandIn, worker: Worker) -> None:
    reply = await say(slack, f"config teams {channel_link()}", user=ALICE)
    assert reply == ("Cannot set `teams`: this bot serves no Microsoft Teams (TEAMS_APP_ID is not set on its workers)."
                     " Setting unchanged.")
    assert await teams_setting(worker) == ("", False)
    assert "now off" in await say(slack, "config teams off", user=ALICE)  # clearing one always works


async def test_a_reminder_is_published_for_the_other_surfaces_naming_a_delegate_for_who_is_away(
    slack: SlackStandIn, worker: Worker
) -> None:
    seen: list[Nudged] = []

    def heard(event: Event) -> None:
        if isinstance(event, Nudged):
            seen.append(event)

    worker.services.approvals.events.subscribe(heard)
    await say(slack, "config approvers @bob @carol", user=ALICE)
    await say(slack, "config required_approvals 2", user=ALICE)
    await say(slack, "config remind 1s,4s", user=ALICE)
    assert "You are away until" in await say(slack, "away until 2h delegate @dave", user=CAROL)
    await start_run(slack)
    card = await pending_card(slack)
    first = await until(lambda: seen, what="the first reminder published")
    (told,) = first
    assert (told.approval.id, told.kind, told.number) == (approval_id_of(card), "remind", 1)
    assert told.people == (BOB, DAVE) and told.delegated == ((DAVE, CAROL),)  # carol, away: dave for her
    assert await worker.services.nudger.sweep(now=time.time() + 3600) == 1  # the second, once
    assert [(n.kind, n.number) for n in seen] == [("remind", 1), ("remind", 2)]

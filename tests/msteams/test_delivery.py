"""Where an approval's cards go in Teams (issue 81, bot/msteams/delivery.py): `/agent config teams <link or id>` and
`teams_personal` through the real Bolt app (signed slash commands, an in-process worker, the local Slack), with their
refusals audited; a reminder and a delegate told as the `Nudged` event the Teams delivery listens to.

Real parts: redis-server, the Bolt app over signed HTTP, the worker's parts (`create_services`); Slack is the
stand-in."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import urllib.parse
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import microsoft_teams.cards as ac
import pytest
from microsoft_teams.api import Account, ApiClient
from microsoft_teams.api.activities.message.message import MessageActivityInput
from microsoft_teams.api.clients.conversation.params import CreateConversationParams
from microsoft_teams.api.models.attachment.attachment import Attachment
from microsoft_teams.common import ClientOptions

from bot.approvals import Event, Nudged
from bot.core.msteams import TeamsConversation
from bot.core.records import ApprovalRecord
from bot.devmsteams import TeamsStandIn
from bot.devslack.model import DevUser, default_users
from bot.devslack.server import SlackStandIn
from bot.msteams.delivery import TeamsDelivery
from bot.store.msteams import TeamsAccount
from tests.conftest import (
    ALICE,
    APPROVALS,
    BOB,
    BOT_TOKEN,
    CAROL,
    SALES,
    SIGNING_SECRET,
    Worker,
    reply_text,
)
from tests.devmsteams.conftest import access_token
from tests.support.flow import pending_card, start_run
from tests.support.hitl import until
from tests.support.homes import approval_id_of
from tests.support.teams import ADAPTIVE_CARD, card_of, cards, start_teams_worker

OTHER_TENANT = "00000000-0000-4000-8000-000000000001"
CONVERSATION = "19:4d1b2f0c8e5a4b6f9a2c3d4e5f6a7b8c@thread.tacv2"
DAVE = "U0DAVE"


def channel_link(conversation: str = CONVERSATION, *, tenant: str) -> str:
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
async def teams_configured(slack: SlackStandIn, teams: TeamsStandIn, redis_url: str, model_config: Path
                           ) -> AsyncIterator[Worker]:
    """A worker of a company with Teams (TEAMS_APP_ID, its tenant: the local Teams'), carol its ADMIN_USERS."""
    worker = await start_teams_worker(slack, teams, redis_url, model_config=model_config, ADMIN_USERS=CAROL)
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
    slack: SlackStandIn, teams: TeamsStandIn, teams_configured: Worker
) -> None:
    worker = teams_configured
    reply = await say(slack, f"config teams {channel_link(tenant=teams.tenant_id)}")
    assert f"`teams` of this channel is now `{CONVERSATION}`." in reply
    assert "The bot is not in that Teams conversation yet: add the Agent Approvals app there" in reply
    assert await teams_setting(worker) == (CONVERSATION, False)
    # once the app is added there (the conversation reference kept), the reply says so
    await worker.services.store.msteams.keep_conversation(TeamsConversation(
        CONVERSATION, teams.url, teams.tenant_id, "channel", "Approvals <!channel>"))
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
    slack: SlackStandIn, teams: TeamsStandIn, teams_configured: Worker
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
    bystander = await say(slack, f"config teams {channel_link(tenant=teams.tenant_id)}", user=BOB)
    assert bystander == f"Only <@{CAROL}> may change this channel's settings. Setting unchanged."
    assert [(e["by"], e["reason"]) for e in await refusals(worker)][-1] == (BOB, "not an admin")
    assert await teams_setting(worker) == ("", False)


async def test_a_worker_without_teams_refuses_a_route(slack: SlackStandIn, worker: Worker) -> None:
    reply = await say(slack, f"config teams {channel_link(tenant=OTHER_TENANT)}", user=ALICE)
    assert reply == ("Cannot set `teams`: this bot serves no Microsoft Teams (TEAMS_APP_ID is not set on its workers)."
                     " Setting unchanged.")
    assert await teams_setting(worker) == ("", False)
    assert "now off" in await say(slack, "config teams off", user=ALICE)  # clearing one always works


@pytest.mark.slow  # waits out a real timer or window: over 1 s of the clock (tests/support/slow.py)
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


# --------------------------------------------------------------------------- cards in Teams, every copy current


class ConnectorApp:
    """The contract's `TeamsApp` surface (post, update, personal_chat) done with the Teams SDK's own `ApiClient`
    against the local Bot Connector (each conversation's at its service URL, as a Bot Connector client calls it),
    until the app's `TeamsApp` is merged in (then a test passes that instead)."""

    def __init__(self, teams: TeamsStandIn, token: str) -> None:
        self._teams = teams
        self._token = token

    def _api(self, service_url: str) -> ApiClient:
        return ApiClient(service_url, ClientOptions(token=self._token))

    async def post(self, conversation: TeamsConversation, card: dict[str, Any]) -> str:
        api = self._api(conversation.service_url)
        return str((await api.conversations.create_activity(conversation.id, _message(card))).id)

    async def update(self, conversation: TeamsConversation, activity_id: str, card: dict[str, Any]) -> None:
        await self._api(conversation.service_url).conversations.update_activity(conversation.id, activity_id,
                                                                                 _message(card))

    async def personal_chat(self, account: TeamsAccount) -> TeamsConversation:
        made = await self._api(self._teams.url).conversations.create(
            CreateConversationParams(members=[Account(id=account.user_id)], tenant_id=account.tenant_id))
        return TeamsConversation(made.id, self._teams.url, account.tenant_id, "personal")


def _message(card: dict[str, Any]) -> MessageActivityInput:
    return MessageActivityInput(attachments=[Attachment(content_type=ADAPTIVE_CARD, content=card)])


class KeptPeople:
    """The people part's accounts and names as the contract reads them: what `store.msteams` keeps of each person."""

    def __init__(self, worker: Worker) -> None:
        self._store = worker.services.store

    async def accounts(self, people: Sequence[str]) -> dict[str, TeamsAccount]:
        found = {p: await self._store.msteams.account(p) for p in people}
        return {p: a for p, a in found.items() if a is not None}

    async def names(self, people: Sequence[str]) -> dict[str, str]:
        return {p: p.lower() for p in people}


def status_card(approval: ApprovalRecord, *, names: Mapping[str, str], actions: bool,
                refresh_users: Sequence[str] = (), notice: str = "", details_url: str = "") -> dict[str, Any]:
    """A card saying the approval's state (votes or outcome), with the contract's buttons and refresh."""
    said = (f"{len(approval.voters)} of {approval.required_approvals} approvals" if approval.pending
            else f"{approval.status} by {names.get(approval.decided_by, approval.decided_by)}")
    verbs = ("approve", "reject") if actions else ()
    card = ac.AdaptiveCard(body=[ac.TextBlock(text=said, wrap=True)], actions=[
        ac.ExecuteAction(title=v.title(), verb=v, data={"approval": approval.id}) for v in verbs] or None)
    made: dict[str, Any] = card.model_dump(by_alias=True, exclude_none=True)
    if approval.pending and refresh_users:
        made["refresh"] = {"action": {"type": "Action.Execute", "verb": "refresh", "data": {"approval": approval.id}},
                           "userIds": list(refresh_users)}
    return made


@dataclass
class Routed:
    """A worker with Teams delivery on, sales routed to a Teams channel of bob and carol (the app added there)."""

    worker: Worker
    delivery: TeamsDelivery
    channel: str
    users: dict[str, str]  # Slack person -> Teams user id


@dataclass(frozen=True)
class FileRoute:
    """A route as TEAMS_FILE gives one (`TeamsRoute`)."""

    conversation: str
    personal: bool = False


async def deliver_with(worker: Worker, teams: TeamsStandIn, *, wired: bool = True,
                       routes: Mapping[str, FileRoute] | None = None) -> TeamsDelivery:
    """Teams delivery on `worker`, wired as the root wires it (`wired`: the root's own, with the real app, people and
    card), or another one not wired (a second poster); `routes`: TEAMS_FILE's."""
    if wired and routes is None:
        assert worker.services.msteams is not None
        return worker.services.msteams.delivery
    status, answer = await access_token(teams)
    assert status == 200, answer
    services = worker.services
    delivery = TeamsDelivery(store=services.store, app=ConnectorApp(teams, answer["access_token"]),
                             people=KeptPeople(worker), directory=services.directory, background=services.background,
                             card=status_card, routes=routes, retry_after=0.2)
    if wired:  # (a TEAMS_FILE route of its own: this delivery answers for the root's)
        services.approvals.events.subscribe(delivery.listener)
        services.cards.after_draw = delivery.after_draw(services.cards.after_draw)
    return delivery


async def routed(slack: SlackStandIn, teams: TeamsStandIn, worker: Worker, *, personal: bool,
                 wired: bool = True, by_file: bool = False) -> Routed:
    """Sales routed to a Teams channel of bob and carol: by `/agent config teams` (or, `by_file`, TEAMS_FILE's)."""
    users = {p: teams.add_member(name=p.lower(), email=f"{p.lower()}@example.com") for p in (BOB, CAROL)}
    channel = teams.add_conversation("channel", "Approvals", list(users.values()))
    teams.state.conversations[channel].installed = True  # the app added there (the install is the app's test)
    store = worker.services.store
    await store.msteams.keep_conversation(
        TeamsConversation(channel, teams.url, teams.tenant_id, "channel", "Approvals"))
    for person, user_id in users.items():
        member = teams.member(user_id)
        await store.msteams.keep_account(person, TeamsAccount("", user_id, member.object_id, teams.tenant_id))
    routes = {SALES: FileRoute(channel, personal)} if by_file else None
    delivery = await deliver_with(worker, teams, wired=wired, routes=routes)
    await say(slack, "config approvers @bob @carol")
    await say(slack, "config required_approvals 2")
    if not by_file:
        link = channel_link(channel, tenant=teams.tenant_id)
        assert "The bot is in that Teams channel *Approvals*" in await say(slack, f"config teams {link}")
        if personal:
            await say(slack, "config teams_personal true")
    return Routed(worker, delivery, channel, users)


def two_activities(teams: TeamsStandIn, conversation: str) -> list[dict[str, Any]]:
    found = teams.activities(conversation)
    return found if len(found) == 2 else []


def shows(teams: TeamsStandIn, conversation: str, said: str) -> bool:
    """Whether the one card in `conversation` shows `said` (its JSON)."""
    found = cards(teams, conversation)
    return len(found) == 1 and said in json.dumps(found[0][1])


@pytest.fixture
async def teams_on(slack: SlackStandIn, teams: TeamsStandIn, redis_url: str, model_config: Path
                   ) -> AsyncIterator[Worker]:
    worker = await start_teams_worker(slack, teams, redis_url, model_config=model_config, ADMIN_USERS=CAROL)
    yield worker
    await worker.stop()


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_routed_channel_and_each_approvers_personal_chat_get_the_card_and_every_copy_follows(
    slack: SlackStandIn, teams: TeamsStandIn, teams_on: Worker
) -> None:
    route = await routed(slack, teams, teams_on, personal=True)
    await start_run(slack, user=ALICE)
    card = await pending_card(slack)
    chats = {p: await until(partial(teams.personal_chat, u), what=f"{p}'s personal chat") for p, u in
             route.users.items()}
    everywhere = [route.channel, *chats.values()]
    await until(lambda: all(len(cards(teams, c)) == 1 for c in everywhere), what="a card in each conversation")
    ((_, shared),) = cards(teams, route.channel)
    assert "0 of 2" in json.dumps(shared) and "actions" not in shared  # read-only for everyone
    assert shared["refresh"]["userIds"] == [route.users[BOB], route.users[CAROL]]  # buttons for the approvers
    for person, chat in chats.items():
        ((_, own),) = cards(teams, chat)
        assert [a.get("verb") for a in own["actions"]][:2] == ["approve", "reject"]
        assert own["refresh"]["userIds"] == [route.users[person]]
    store = teams_on.services.store

    async def noted() -> list[str]:
        return sorted(c.conversation_id for c in await store.msteams.copies(approval_id_of(card)))

    async def all_noted() -> bool:
        return await noted() == sorted(everywhere)

    await until(all_noted, what="each copy noted")

    assert (await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")).status == 200
    await until(lambda: all(shows(teams, c, "1 of 2") for c in everywhere), what="the vote on each")
    for person, chat in chats.items():  # still theirs to decide: buttons, refreshed for them
        ((_, own),) = cards(teams, chat)
        assert own["actions"] and route.users[person] in own["refresh"]["userIds"]
    assert (await slack.click(user=CAROL, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")).status == 200
    await until(lambda: all(shows(teams, c, "Approved") and not shows(teams, c, '"refresh"') for c in everywhere),
                what="the decision")
    for conversation in everywhere:  # updated in place: one activity each, no buttons, no refresh
        ((_, decided),) = cards(teams, conversation)
        assert "actions" not in decided and "refresh" not in decided
    posts = [c for c in teams.sent if c.method == "POST" and c.path.endswith("/activities")]
    assert len(posts) == 3  # one card per conversation, whatever redrew them


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_two_workers_posting_one_approval_leave_one_card_per_conversation(
    slack: SlackStandIn, teams: TeamsStandIn, teams_on: Worker, redis_url: str, model_config: Path
) -> None:
    route = await routed(slack, teams, teams_on, personal=True, wired=False)  # every poster at once, below
    await start_run(slack, user=ALICE)
    card = await pending_card(slack)
    other = await start_teams_worker(slack, teams, redis_url, model_config=model_config, ADMIN_USERS=CAROL)
    try:
        second = await deliver_with(other, teams, wired=False)
        approval = await other.services.store.approvals.get(approval_id_of(card))
        assert approval is not None
        # the poster's own post, a second worker's (a supervisor's re-post) and two redraws, all at once
        await asyncio.gather(route.delivery.posted(approval), second.posted(approval),
                             route.delivery.sync(approval), second.sync(approval))
    finally:
        await other.stop()
    chats = [c for c in (teams.personal_chat(u) for u in route.users.values()) if c]
    assert len(chats) == 2
    for conversation in (route.channel, *chats):
        assert len(cards(teams, conversation)) == 1, conversation


@pytest.mark.slow  # (it waits for the copy's retry, as Teams is back)
async def test_a_copy_teams_could_not_take_is_posted_later_by_teams_due_set_and_slack_is_not_held(
    slack: SlackStandIn, teams: TeamsStandIn, teams_on: Worker, caplog: pytest.LogCaptureFixture
) -> None:
    route = await routed(slack, teams, teams_on, personal=False)
    store = teams_on.services.store
    kept = await store.msteams.conversation(route.channel)
    assert kept is not None
    with socket.socket() as closed:  # Teams' service for that conversation unreachable: nothing listens there
        closed.bind(("127.0.0.1", 0))
        down = f"http://127.0.0.1:{closed.getsockname()[1]}"
    await store.msteams.keep_conversation(replace(kept, service_url=down))
    await start_run(slack, user=ALICE)
    card = await pending_card(slack)  # Slack's card, whatever Teams does
    await until(lambda: "was not posted in Teams conversation" in caplog.text, what="the post failing")
    await until(lambda: store.teams_due.at(approval_id_of(card)), what="its approval due in Teams, for any worker")
    assert await store.redis.zscore(store.keys.outbox, approval_id_of(card)) is None  # the Slack card not held
    assert cards(teams, route.channel) == []
    await store.msteams.keep_conversation(kept)  # Teams is back
    await until(lambda: shows(teams, route.channel, "0 of 2"), within=20, what="the card posted later")
    assert (await slack.click(user=BOB, channel=APPROVALS, ts=card["ts"], action_id="approval_approve")).status == 200
    await until(lambda: shows(teams, route.channel, "1 of 2"), what="the vote on it")


async def test_a_conversation_the_app_left_is_not_tried_again_and_again(
    slack: SlackStandIn, teams: TeamsStandIn, teams_on: Worker
) -> None:
    route = await routed(slack, teams, teams_on, personal=False)
    teams.state.conversations[route.channel].installed = False  # Teams answers 403: the app is not there any more
    await start_run(slack, user=ALICE)
    card = await pending_card(slack)
    await until(lambda: [c for c in teams.sent if c.method == "POST" and c.status == 403], what="Teams refusing it")
    store = teams_on.services.store

    async def not_due() -> bool:  # (due while it is drawn, then not again)
        return await store.teams_due.at(approval_id_of(card)) is None

    await until(not_due, what="not due again")
    assert await store.redis.zscore(store.keys.outbox, approval_id_of(card)) is None
    assert cards(teams, route.channel) == [] and await store.msteams.copies(approval_id_of(card)) == []
    assert await store.msteams.claim_copy(approval_id_of(card), route.channel, lease=30) == "claimed"  # released


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_a_reminder_reaches_the_personal_chat_with_the_card_there_first(
    slack: SlackStandIn, teams: TeamsStandIn, teams_on: Worker
) -> None:
    route = await routed(slack, teams, teams_on, personal=False)  # no personal cards until a reminder
    await say(slack, "config remind 1s")
    await start_run(slack, user=ALICE)
    await pending_card(slack)
    chats = {p: await until(partial(teams.personal_chat, u), what=f"{p}'s personal chat") for p, u in
             route.users.items()}
    for chat in chats.values():
        told = await until(partial(two_activities, teams, chat), what="their card and a reminder")
        card, reminder = (card_of(a) for a in told)
        assert [a.get("verb") for a in card["actions"]][:2] == ["approve", "reject"]  # their card, then the reminder
        assert reminder["body"][0]["text"].startswith("Reminder 1: an approval waits for your decision")


async def with_dave(teams: TeamsStandIn, route: Routed) -> str:
    """Dave in the Teams channel too, his Teams account known: his Teams user id."""
    dave = teams.add_member(name="dave", email="dave@example.com")
    teams.state.conversations[route.channel].members.append(dave)
    store = route.worker.services.store
    await store.msteams.keep_account(DAVE, TeamsAccount("", dave, teams.member(dave).object_id, teams.tenant_id))
    return dave


async def test_a_delegate_gets_the_card_in_their_personal_chat_for_who_is_away(
    slack: SlackStandIn, teams: TeamsStandIn, teams_on: Worker
) -> None:
    route = await routed(slack, teams, teams_on, personal=True)
    dave = await with_dave(teams, route)
    assert "You are away until" in await say(slack, "away until 2h delegate @dave", user=CAROL)
    await start_run(slack, user=ALICE)
    await pending_card(slack)
    chats = {u: await until(partial(teams.personal_chat, u), what="a personal chat") for u in (route.users[BOB], dave)}
    for chat in chats.values():
        await until(partial(cards, teams, chat), what="a card in each personal chat")
    assert teams.personal_chat(route.users[CAROL]) is None  # carol is away: dave decides for her
    ((_, shared),) = cards(teams, route.channel)
    assert shared["refresh"]["userIds"] == [route.users[BOB], dave]


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_an_escalation_reaches_who_it_lets_in_with_their_card(
    slack: SlackStandIn, teams: TeamsStandIn, teams_on: Worker
) -> None:
    route = await routed(slack, teams, teams_on, personal=False)
    dave = await with_dave(teams, route)
    await say(slack, "config escalate_to @dave")
    await say(slack, "config escalate_after 1s")
    await start_run(slack, user=ALICE)
    await pending_card(slack)
    chat = await until(partial(teams.personal_chat, dave), what="dave's personal chat")
    card, told = (card_of(a) for a in await until(partial(two_activities, teams, chat), what="his card, then told"))
    assert [a.get("verb") for a in card["actions"]][:2] == ["approve", "reject"]
    assert told["body"][0]["text"].startswith("Escalated: you may now decide this approval")
    await until(lambda: dave in (cards(teams, route.channel)[0][1].get("refresh") or {}).get("userIds", []),
                what="the channel's card refreshed for him too")


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
async def test_the_teams_files_route_applies_where_a_channel_sets_none(
    slack: SlackStandIn, teams: TeamsStandIn, teams_on: Worker
) -> None:
    route = await routed(slack, teams, teams_on, personal=True, by_file=True)
    await start_run(slack, user=ALICE)
    await pending_card(slack)
    await until(partial(cards, teams, route.channel), what="the card in the file's route")
    for user in route.users.values():  # its `personal: true`
        chat = await until(partial(teams.personal_chat, user), what="a personal chat")
        await until(partial(cards, teams, chat), what="their card there")
    elsewhere = teams.add_conversation("channel", "Elsewhere", list(route.users.values()))
    teams.state.conversations[elsewhere].installed = True
    store = teams_on.services.store
    await store.msteams.keep_conversation(TeamsConversation(elsewhere, teams.url, teams.tenant_id, "channel"))
    await say(slack, f"config teams {elsewhere}")  # the channel's own setting wins over the file
    await start_run(slack, user=ALICE)
    await until(partial(cards, teams, elsewhere), what="the next card where the channel says")
    assert len(cards(teams, route.channel)) == 1

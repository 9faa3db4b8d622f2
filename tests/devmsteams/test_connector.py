"""The local Bot Connector and its sign-in, with the Teams SDK as the bot: its tokens verify with the SDK's own
validator (and forgeries do not), the SDK's `ApiClient` posts, updates, replies and deletes cards the stand-in keeps,
and what Teams refuses (no token, a bad one, an unknown conversation, a message over 28 KB, more than 60 refresh
users, a wrong secret) the stand-in refuses."""

from __future__ import annotations

from typing import Any

import aiohttp
import httpx
import jwt
import pytest
from microsoft_teams.api import Account, ApiClient
from microsoft_teams.api.activities.conversation import ConversationUpdateActivity
from microsoft_teams.api.activities.install_update import InstalledActivity
from microsoft_teams.api.activities.invoke.adaptive_card import AdaptiveCardInvokeActivity
from microsoft_teams.api.activities.message import MessageActivityInput
from microsoft_teams.api.clients.conversation.params import CreateConversationParams
from microsoft_teams.api.models import AdaptiveCardActionCardResponse, Attachment
from microsoft_teams.cards import AdaptiveCard, ExecuteAction, TextBlock
from microsoft_teams.common import ClientOptions

from bot.devmsteams import FORGERIES, TeamsStandIn
from bot.devslack.server import SlackStandIn
from tests.devmsteams.conftest import App, SdkBot, access_token
from tests.support.teams import ADAPTIVE_CARD, card_for, card_of, cards, start_teams_worker

APPROVAL = "ap_0001"


def approval_card(*, refresh_users: list[str] | None = None, padding: int = 0, text: str = "Send the report?",
                  ) -> dict[str, Any]:
    """An approver's card as the SDK's card models build it: Approve and Reject (Execute actions), a refresh."""
    card = AdaptiveCard(version="1.5", body=[TextBlock(text=text + "x" * padding, wrap=True)], actions=[
        ExecuteAction(title="Approve", verb="approve", data={"approval": APPROVAL}),
        ExecuteAction(title="Reject", verb="reject", data={"approval": APPROVAL}),
    ]).model_dump(by_alias=True, exclude_none=True)
    if refresh_users is not None:
        card["refresh"] = {"action": {"type": "Action.Execute", "verb": "refresh", "data": {"approval": APPROVAL}},
                           "userIds": refresh_users}
    return card


def message(card: dict[str, Any]) -> MessageActivityInput:
    return MessageActivityInput(attachments=[Attachment(content_type=ADAPTIVE_CARD, content=card)])


def installed_channel(teams: TeamsStandIn, *people: str) -> str:
    """A channel of `people` where the app is installed (the install's delivery is tested on its own below)."""
    channel = teams.add_conversation("channel", "Approvals", list(people))
    teams.state.conversations[channel].installed = True
    return channel


def status_of(error: pytest.ExceptionInfo[httpx.HTTPStatusError]) -> int:
    return error.value.response.status_code


async def test_an_install_is_signed_as_the_bot_connector_signs_and_the_sdk_takes_it(
        teams: TeamsStandIn, sdk_bot: SdkBot) -> None:
    ana = teams.add_member(name="Ana Lima", email="ana@example.com")
    channel = teams.add_conversation("channel", "Approvals", [ana])
    chat = teams.add_conversation("personal", "Ana Lima", [ana])

    assert await teams.install(channel) == 200
    assert await teams.install(chat) == 200

    update, install, chat_update, chat_install = sdk_bot.parsed
    assert isinstance(update, ConversationUpdateActivity) and isinstance(chat_update, ConversationUpdateActivity)
    assert isinstance(install, InstalledActivity) and isinstance(chat_install, InstalledActivity)
    assert update.members_added is not None and update.members_added[0].id == f"28:{teams.app_id}"
    assert update.conversation.id == channel and update.conversation.conversation_type == "channel"
    assert chat_update.conversation.id == chat and chat_update.conversation.conversation_type == "personal"
    assert update.from_.aad_object_id == teams.member(ana).object_id
    assert update.channel_data is not None and update.channel_data.tenant is not None
    assert update.channel_data.tenant.id == teams.tenant_id
    assert update.service_url == teams.url
    for claims in sdk_bot.claims:  # what the SDK's validator checked: Microsoft's issuer, our app, the service URL
        assert claims["iss"] == "https://api.botframework.com"
        assert claims["aud"] == teams.app_id and claims["serviceurl"] == teams.url
    assert teams.conversations()[0]["installed"] and teams.conversations()[1]["installed"]


@pytest.mark.parametrize("forgery", FORGERIES)
async def test_a_forged_token_is_refused_by_the_sdks_validator(
        teams: TeamsStandIn, sdk_bot: SdkBot, api: ApiClient, forgery: Any) -> None:
    ana = teams.add_member(name="Ana Lima", email="ana@example.com")
    channel = installed_channel(teams, ana)
    posted = await api.conversations.create_activity(channel, message(approval_card()))

    assert await teams.forged(channel, posted.id, ana, "approve", {"approval": APPROVAL}, forgery=forgery) == (
        401, {"error": "Unauthorized"})
    assert sdk_bot.refused == 1 and sdk_bot.raw == []
    sdk_bot.answer = (200, {"statusCode": 200, "type": "application/vnd.microsoft.activity.message",
                            "value": "Approved"})
    assert (await teams.execute(channel, posted.id, ana, "approve", {"approval": APPROVAL}))[0] == 200  # the genuine


async def test_the_connector_refuses_a_call_without_a_token_or_with_a_bad_one(teams: TeamsStandIn) -> None:
    ana = teams.add_member(name="Ana Lima", email="ana@example.com")
    channel = installed_channel(teams, ana)
    inbound = teams.signin.bot_token()  # signed by the stand-in, but for the bot, not an access token
    forged = teams.signin.issue_access_token(teams.tenant_id)[:-8] + "AAAAAAAA"
    for token in (None, inbound, forged, "not-a-jwt"):
        client = ApiClient(teams.url, ClientOptions(token=token))
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await client.conversations.create_activity(channel, message(approval_card()))
        assert status_of(refused) == 401
    assert teams.activities(channel) == []
    assert {call.status for call in teams.sent} == {401}


async def test_the_token_endpoint_takes_only_the_apps_own_credentials(teams: TeamsStandIn) -> None:
    status, answer = await access_token(teams)
    assert status == 200 and answer["token_type"] == "Bearer" and answer["expires_in"] > 3000
    assert (await access_token(teams, tenant="botframework.com"))[0] == 200
    wrong_secret = await access_token(teams, client_secret="guess")
    assert wrong_secret[0] == 401 and wrong_secret[1]["error"] == "invalid_client"
    assert (await access_token(teams, client_id="00000000-0000-0000-0000-000000000000"))[1]["error"] == (
        "unauthorized_client")
    assert (await access_token(teams, scope="https://graph.microsoft.com/.default"))[1]["error"] == "invalid_scope"
    assert (await access_token(teams, grant_type="password"))[1]["error"] == "unsupported_grant_type"
    assert (await access_token(teams, tenant="someone-else.example"))[0] == 400
    recorded = [call.body for call in teams.sent]
    assert all(body["client_secret"] == "[hidden]" for body in recorded)  # the secret is not kept in the clear
    assert teams.app_password not in repr(teams.sent)


async def test_a_posted_card_is_kept_and_an_update_replaces_it_in_place(teams: TeamsStandIn, api: ApiClient) -> None:
    ana = teams.add_member(name="Ana Lima", email="ana@example.com")
    channel = installed_channel(teams, ana)

    posted = await api.conversations.create_activity(channel, message(approval_card(refresh_users=[ana])))
    assert cards(teams, channel) == [(posted.id, approval_card(refresh_users=[ana]))]
    decided = approval_card(text="Approved by Ana")
    updated = await api.conversations.update_activity(channel, posted.id, message(decided))

    assert updated.id == posted.id
    assert cards(teams, channel) == [(posted.id, decided)]
    assert card_for(teams, channel, APPROVAL) == (posted.id, decided)
    assert [(c.method, c.path, c.status) for c in teams.sent] == [
        ("POST", f"/{teams.tenant_id}/oauth2/v2.0/token", 200),
        ("POST", f"/v3/conversations/{channel}/activities", 201),
        ("PUT", f"/v3/conversations/{channel}/activities/{posted.id}", 200),
    ]
    assert card_of(teams.sent[2].body) == decided  # the call as the SDK made it
    reply = await api.conversations.reply_to_activity(channel, posted.id, MessageActivityInput(text="noted"))
    assert teams.activities(channel)[1]["replyToId"] == posted.id and reply.id != posted.id
    await api.conversations.delete_activity(channel, reply.id)
    assert [a["id"] for a in teams.activities(channel)] == [posted.id]


async def test_a_message_over_28_kb_is_refused_with_413(teams: TeamsStandIn, api: ApiClient) -> None:
    ana = teams.add_member(name="Ana Lima", email="ana@example.com")
    channel = installed_channel(teams, ana)
    posted = await api.conversations.create_activity(channel, message(approval_card(padding=26_000)))  # fits

    with pytest.raises(httpx.HTTPStatusError) as refused:
        await api.conversations.create_activity(channel, message(approval_card(padding=29_000)))
    assert status_of(refused) == 413
    assert refused.value.response.json()["error"]["code"] == "MessageSizeTooBig"
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await api.conversations.update_activity(channel, posted.id, message(approval_card(padding=29_000)))
    assert status_of(refused) == 413
    assert cards(teams, channel) == [(posted.id, approval_card(padding=26_000))]  # nothing changed


async def test_a_refresh_for_more_than_60_people_is_refused_with_400(teams: TeamsStandIn, api: ApiClient) -> None:
    ana = teams.add_member(name="Ana Lima", email="ana@example.com")
    channel = installed_channel(teams, ana)
    sixty = [f"29:user{n}" for n in range(60)]
    posted = await api.conversations.create_activity(channel, message(approval_card(refresh_users=sixty)))

    with pytest.raises(httpx.HTTPStatusError) as refused:
        await api.conversations.create_activity(channel, message(approval_card(refresh_users=[*sixty, ana])))
    assert status_of(refused) == 400
    with pytest.raises(httpx.HTTPStatusError) as refused:
        await api.conversations.update_activity(channel, posted.id, message(approval_card(refresh_users=[
            *sixty, ana])))
    assert status_of(refused) == 400
    assert cards(teams, channel) == [(posted.id, approval_card(refresh_users=sixty))]


async def test_an_unknown_conversation_or_activity_is_404_and_one_without_the_app_403(
        teams: TeamsStandIn, api: ApiClient) -> None:
    ana = teams.add_member(name="Ana Lima", email="ana@example.com")
    channel = installed_channel(teams, ana)
    elsewhere = teams.add_conversation("groupChat", "Lunch", [ana])  # the app was never added there
    cases = [
        (api.conversations.create_activity("19:nothing@thread.tacv2", message(approval_card())), 404),
        (api.conversations.update_activity(channel, "1234", message(approval_card())), 404),
        (api.conversations.members_client.get_by_id(channel, "29:nobody"), 404),
        (api.conversations.create_activity(elsewhere, message(approval_card())), 403),
    ]
    for call, status in cases:
        with pytest.raises(httpx.HTTPStatusError) as refused:
            await call
        assert status_of(refused) == status
    assert teams.activities(channel) == [] and teams.activities(elsewhere) == []


async def test_members_as_the_roster_gives_them(teams: TeamsStandIn, api: ApiClient) -> None:
    ana = teams.add_member(name="Ana Lima", email="ana@example.com")
    guest = teams.add_member(name="Gus Guest", email="gus@partner.example", role="guest")
    other = teams.add_member(name="Olga Other", email="olga@other.example", tenant_id="other-tenant")
    channel = installed_channel(teams, ana, guest, other)

    member = await api.conversations.members_client.get_by_id(channel, ana)
    assert (member.email, member.user_role, member.tenant_id) == ("ana@example.com", "user", teams.tenant_id)
    assert member.aad_object_id == teams.member(ana).object_id
    by_object_id = await api.conversations.members_client.get_by_id(channel, teams.member(guest).object_id)
    assert (by_object_id.id, by_object_id.user_role) == (guest, "guest")
    everyone = await api.conversations.members_client.get(channel)
    assert [(m.id, m.tenant_id) for m in everyone] == [
        (ana, teams.tenant_id), (guest, teams.tenant_id), (other, "other-tenant")]


async def test_a_personal_chat_is_created_once_for_a_person_who_has_the_app(
        teams: TeamsStandIn, api: ApiClient) -> None:
    ana = teams.add_member(name="Ana Lima", email="ana@example.com")
    bo = teams.add_member(name="Bo Berg", email="bo@example.com")
    installed_channel(teams, ana)
    params = CreateConversationParams(members=[Account(id=ana)], tenant_id=teams.tenant_id)

    first = await api.conversations.create(params)
    again = await api.conversations.create(params)
    assert first.id == again.id == teams.personal_chat(ana) and first.id.startswith("a:")
    await api.conversations.create_activity(first.id, message(approval_card()))
    assert len(cards(teams, first.id)) == 1
    with pytest.raises(httpx.HTTPStatusError) as refused:  # Bo is in no conversation with the app
        await api.conversations.create(CreateConversationParams(members=[Account(id=bo)], tenant_id=teams.tenant_id))
    assert status_of(refused) == 403
    with pytest.raises(httpx.HTTPStatusError) as refused:  # Ana, asked of another tenant
        await api.conversations.create(CreateConversationParams(members=[Account(id=ana)], tenant_id="elsewhere"))
    assert status_of(refused) == 404
    with pytest.raises(httpx.HTTPStatusError) as refused:  # a bot creates no group chats in Teams
        await api.conversations.create(CreateConversationParams(members=[Account(id=ana), Account(id=bo)],
                                                                tenant_id=teams.tenant_id))
    assert status_of(refused) == 400
    assert [c["kind"] for c in teams.conversations()] == ["channel", "personal"]


async def test_a_click_is_the_invoke_teams_sends_and_the_bots_card_is_what_the_person_sees(
        teams: TeamsStandIn, sdk_bot: SdkBot, api: ApiClient) -> None:
    ana = teams.add_member(name="Ana Lima", email="ana@example.com")
    bo = teams.add_member(name="Bo Berg", email="bo@example.com")
    channel = installed_channel(teams, ana, bo)
    posted = await api.conversations.create_activity(channel, message(approval_card()))
    answered = approval_card(text="Rejected by Ana: not today")
    sdk_bot.answer = (200, {"statusCode": 200, "type": ADAPTIVE_CARD, "value": answered})

    status, body = await teams.execute(channel, posted.id, ana, "reject", {"approval": APPROVAL},
                                       inputs={"reason": "not today"})

    assert (status, body["value"]) == (200, answered)
    (click,) = sdk_bot.parsed
    assert isinstance(click, AdaptiveCardInvokeActivity)
    assert click.value.action.type == "Action.Execute" and click.value.action.verb == "reject"
    assert click.value.action.data == {"approval": APPROVAL, "reason": "not today"}
    assert click.value.trigger == "manual"
    assert click.from_.id == ana and click.from_.aad_object_id == teams.member(ana).object_id
    assert click.reply_to_id == posted.id and click.conversation.id.startswith(channel)
    assert card_of(teams.view(channel, posted.id, ana)) == answered  # Ana sees the bot's answer
    assert card_of(teams.view(channel, posted.id, bo)) == approval_card()  # Bo, the card as posted
    with pytest.raises(LookupError):  # the card shows no such button
        await teams.execute(channel, posted.id, ana, "delete_everything", {"approval": APPROVAL})
    stranger = teams.add_member(name="Sam Stranger", email="sam@example.com")
    with pytest.raises(LookupError):  # not in the channel: Teams shows them nothing to click
        await teams.execute(channel, posted.id, stranger, "approve", {"approval": APPROVAL})
    assert len(sdk_bot.raw) == 1


async def test_a_refresh_is_sent_only_for_the_people_the_card_names(
        teams: TeamsStandIn, sdk_bot: SdkBot, api: ApiClient) -> None:
    ana = teams.add_member(name="Ana Lima", email="ana@example.com")
    bo = teams.add_member(name="Bo Berg", email="bo@example.com")
    channel = installed_channel(teams, ana, bo)
    posted = await api.conversations.create_activity(channel, message(approval_card(refresh_users=[ana])))
    own = approval_card(text="Ana's own card, with buttons")
    sdk_bot.answer = (200, {"statusCode": 200, "type": ADAPTIVE_CARD, "value": own})

    assert await teams.refresh(channel, posted.id, ana) == (200, sdk_bot.answer[1])
    with pytest.raises(LookupError):
        await teams.refresh(channel, posted.id, bo)

    (sent,) = sdk_bot.raw
    assert sent["type"] == "invoke" and sent["name"] == "adaptiveCard/action"
    assert sent["value"] == {"action": {"type": "Action.Execute", "verb": "refresh", "data": {"approval": APPROVAL}},
                             "trigger": "automatic"}
    assert sent["from"]["id"] == ana
    assert card_of(teams.view(channel, posted.id, ana)) == own
    await api.conversations.update_activity(channel, posted.id, message(approval_card(text="Approved")))
    assert card_of(teams.view(channel, posted.id, ana)) == approval_card(text="Approved")  # an update is for all
    everyone = approval_card(refresh_users=[])
    del everyone["refresh"]["userIds"]  # no userIds: Teams refreshes it for all, in a conversation of at most 60
    for_all = await api.conversations.create_activity(channel, message(everyone))
    assert (await teams.refresh(channel, for_all.id, bo))[0] == 200
    nobody = await api.conversations.create_activity(channel, message(approval_card(refresh_users=[])))
    with pytest.raises(LookupError):  # an empty list: a manual "Refresh card" only, never on its own
        await teams.refresh(channel, nobody.id, ana)


async def test_it_answers_from_its_own_thread_while_the_callers_loop_is_blocked(teams: TeamsStandIn) -> None:
    """The SDK fetches the keys with a blocking call (PyJWT's `PyJWKClient`) from the worker's loop: the stand-in,
    on its own thread, still answers."""
    token = teams.signin.bot_token()
    assert token is not None
    client = jwt.PyJWKClient(f"{teams.url}/v1/.well-known/keys")  # the SDK's URL: B/v1/.well-known/keys
    key = client.get_signing_key_from_jwt(token)  # blocks this test's event loop until it is answered
    assert key.key_id == teams.signin.key.kid
    claims = jwt.decode(token, key.key, algorithms=["RS256"], audience=teams.app_id,
                        issuer="https://api.botframework.com")
    assert claims["serviceurl"] == teams.url
    assert jwt.PyJWKClient(f"{teams.url}/v1/keys").get_signing_key_from_jwt(token).key_id == key.key_id
    async with aiohttp.ClientSession() as session, session.get(
            f"{teams.url}/v1/.well-known/openidconfiguration") as response:
        metadata = await response.json()
    assert metadata["issuer"] == "https://api.botframework.com"
    assert metadata["jwks_uri"] == f"{teams.url}/v1/.well-known/keys"


async def test_a_worker_started_with_the_stand_in_is_pointed_at_it(
        slack: SlackStandIn, teams: TeamsStandIn, redis_url: str) -> None:
    worker = await start_teams_worker(slack, teams, redis_url)
    try:
        settings = worker.services.settings
        assert (settings.teams_app_id, settings.teams_tenant_id) == (teams.app_id, teams.tenant_id)
        assert settings.teams_connector_url == teams.url
        assert settings.teams_app_password is not None
        assert settings.teams_app_password.get_secret_value() == teams.app_password
        assert teams.messaging_url == worker.url + "/teams/messages"
    finally:
        await worker.stop()


async def test_the_sdks_own_app_installs_posts_and_answers_a_click_through_the_stand_in(
        teams: TeamsStandIn, sdk_app: App) -> None:
    ana = teams.add_member(name="Ana Lima", email="ana@example.com")
    channel = teams.add_conversation("channel", "Approvals", [ana])
    kept: list[str] = []
    clicks: list[AdaptiveCardInvokeActivity] = []

    @sdk_app.on_conversation_update
    async def added(ctx: Any) -> None:
        kept.append(ctx.activity.conversation.id)

    @sdk_app.on_card_action_execute
    async def clicked(ctx: Any) -> AdaptiveCardActionCardResponse:
        clicks.append(ctx.activity)
        return AdaptiveCardActionCardResponse(value=AdaptiveCard(version="1.5", body=[TextBlock(text="Approved")]))

    assert await teams.install(channel) == 200
    assert kept == [channel]
    sent = await sdk_app.send(channel, AdaptiveCard.model_validate(approval_card()))
    assert cards(teams, channel) == [(sent.id, approval_card())]
    status, body = await teams.execute(channel, sent.id, ana, "approve", {"approval": APPROVAL})
    assert status == 200 and body["type"] == ADAPTIVE_CARD and body["value"]["body"][0]["text"] == "Approved"
    assert [c.value.action.data for c in clicks] == [{"approval": APPROVAL}]
    token_calls = [c for c in teams.sent if c.path.endswith("/oauth2/v2.0/token")]
    assert token_calls and all(c.status == 200 for c in token_calls)


def test_the_stand_ins_of_a_process_share_its_key_and_a_forgers_is_another() -> None:
    """A 2048-bit RSA key is 30 to 100 ms of CPU: made once a process (bot/devmsteams/signin.py), not per stand-in."""
    first, second = TeamsStandIn(), TeamsStandIn()
    assert first.signin.key is second.signin.key
    forged, published = first.signin.other_key, first.signin.key
    assert forged.kid == published.kid
    assert forged.as_dict(private=False)["n"] != published.as_dict(private=False)["n"]

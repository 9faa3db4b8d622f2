"""The Teams SDK's app on the worker (`TeamsApp`): Microsoft's `App`, served on the worker's own HTTP server (the
adapter, bot/msteams/adapter.py, at `/teams/messages`), every request's Bot Framework token verified by the SDK.

It posts a card in a conversation (`post`), updates one in place (`update`) and opens a person's personal chat with
the bot (`personal_chat`); it keeps the conversations it is added to (a team's channel, a group chat, a personal
chat: `conversationUpdate` with the bot among the members added, `installationUpdate` add) and forgets those it is
removed from, and tells the people part who added it. Only the company's tenant (TEAMS_TENANT_ID) is heard: an
activity of another is refused and audited, as Slack Connect people are.

Sign-in: the app registration's secret (TEAMS_APP_PASSWORD) or certificate (TEAMS_CERTIFICATE, through msal), on
Microsoft's cloud; with TEAMS_CONNECTOR_URL (dev mode and tests), the local Bot Connector's cloud (its keys, its
token endpoint, its conversations: `connector_cloud`), whose tokens the SDK verifies as it verifies Microsoft's."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path
from typing import Any

import aiohttp
from microsoft_teams.api.activities.conversation.conversation_update import ConversationUpdateActivity
from microsoft_teams.api.activities.message.message import MessageActivityInput
from microsoft_teams.api.auth.cloud_environment import PUBLIC, CloudEnvironment, with_overrides
from microsoft_teams.api.auth.credentials import TokenProvider
from microsoft_teams.api.clients.api_client import ApiClient
from microsoft_teams.api.clients.conversation.params import CreateConversationParams
from microsoft_teams.api.models.account import Account, TeamsChannelAccount
from microsoft_teams.api.models.activity import Activity as ActivityBase
from microsoft_teams.api.models.attachment.attachment import Attachment
from microsoft_teams.apps import ActivityContext, App
from microsoft_teams.apps.options import AppOptions

from bot.core.msteams import OBJECT_ID, TeamsConversation, TeamsMember, teams_person
from bot.core.msteams_settings import TeamsSettings
from bot.core.settings import SettingsError, reveal
from bot.msteams.adapter import AiohttpAdapter
from bot.msteams.people import TeamsPeople
from bot.store import Store, StoreUnavailable
from bot.store.msteams import TeamsAccount

log = logging.getLogger(__name__)

MESSAGES = "/teams/messages"  # the messaging endpoint (the Azure bot's, and the app manifest's)
CARD = "application/vnd.microsoft.card.adaptive"
SERVICE_URL = "https://smba.trafficmanager.net/teams"  # the Bot Connector's global URL (a conversation names its own)


def connector_cloud(url: str) -> CloudEnvironment:
    """The local Bot Connector's cloud (TEAMS_CONNECTOR_URL): its sign-in, token service and keys at `url`; the
    tokens it signs name Bot Framework's issuer, as Microsoft's do."""
    base = url.rstrip("/")
    return with_overrides(PUBLIC, login_endpoint=base, token_service_url=base,
                                 openid_metadata_url=f"{base}/v1/.well-known/openidconfiguration")


def certificate_token(settings: TeamsSettings) -> TokenProvider:
    """The bot's outgoing token signed in with its certificate (TEAMS_CERTIFICATE: a PEM with the certificate and its
    private key), through msal as Microsoft's SDKs do; msal keeps the token until it is near its end."""
    import msal  # type: ignore[import-untyped]
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    where = settings.teams_certificate
    try:
        pem = Path(where).read_bytes()
        thumbprint = x509.load_pem_x509_certificate(pem).fingerprint(hashes.SHA1()).hex()  # Azure AD's name
        load_pem_private_key(pem, password=None)
    except OSError as exc:
        raise SettingsError(f"TEAMS_CERTIFICATE {where}: cannot be read ({exc.strerror})") from None
    except (ValueError, TypeError):
        raise SettingsError(f"TEAMS_CERTIFICATE {where}: not a PEM with the app registration's certificate and its"
                            " private key (unencrypted)") from None
    clients: dict[str, Any] = {}

    def acquire(scopes: list[str], tenant: str) -> str:
        if tenant not in clients:
            clients[tenant] = msal.ConfidentialClientApplication(
                settings.teams_app_id, authority=f"{PUBLIC.login_endpoint}/{tenant}",
                client_credential={"private_key": pem.decode(), "thumbprint": thumbprint})
        got = clients[tenant].acquire_token_for_client(scopes=scopes)
        if "access_token" not in got:
            raise RuntimeError(f"Azure AD refused the bot's certificate: {got.get('error', 'no token')}")
        return str(got["access_token"])

    async def token(scope: str | list[str], tenant_id: str | None) -> str:  # msal blocks: off the event loop
        scopes = [scope] if isinstance(scope, str) else scope
        return await asyncio.to_thread(acquire, scopes, tenant_id or settings.teams_tenant_id)

    return token


def connector_token(settings: TeamsSettings) -> TokenProvider:
    """The bot's outgoing token from the local Bot Connector's client-credentials endpoint (TEAMS_CONNECTOR_URL:
    `B/<tenant>/oauth2/v2.0/token`, the app id and TEAMS_APP_PASSWORD), as Azure AD's; msal refuses a loopback http
    authority, so the same form is posted here. Kept until a minute before it ends."""
    kept: dict[str, tuple[str, float]] = {}

    async def token(scope: str | list[str], tenant_id: str | None) -> str:
        scopes = " ".join([scope] if isinstance(scope, str) else scope)
        tenant = tenant_id or PUBLIC.login_tenant
        held = kept.get(f"{tenant} {scopes}")
        if held is not None and held[1] > time.monotonic():
            return held[0]
        form = {"grant_type": "client_credentials", "client_id": settings.teams_app_id, "scope": scopes,
                "client_secret": reveal(settings.teams_app_password) or ""}
        url = f"{settings.teams_connector_url.rstrip('/')}/{tenant}/oauth2/v2.0/token"
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as http, http.post(
                url, data=form) as answer:
            said = await answer.json(content_type=None)
        if answer.status != 200 or "access_token" not in said:
            raise RuntimeError(f"the local Bot Connector refused the bot's sign-in: {said.get('error', answer.status)}")
        kept[f"{tenant} {scopes}"] = (str(said["access_token"]), time.monotonic() + float(said["expires_in"]) - 60)
        return str(said["access_token"])

    return token


def app_options(settings: TeamsSettings, adapter: AiohttpAdapter, *, token: TokenProvider | None = None) -> AppOptions:
    """The SDK app's options: never unauthenticated; Microsoft's cloud, or the local Bot Connector's."""
    options: AppOptions = {
        "client_id": settings.teams_app_id,
        "tenant_id": settings.teams_tenant_id,
        "http_server_adapter": adapter,
        "messaging_endpoint": MESSAGES,
        "dangerously_allow_unauthenticated_requests": False,
        "state": False,
        "fetch_user_token": False,
    }
    if settings.teams_connector_url:
        options["cloud"] = connector_cloud(settings.teams_connector_url)
        options["service_url"] = settings.teams_connector_url.rstrip("/")
        token = token or connector_token(settings)
    else:  # named here, never from the SDK's own environment variables (SERVICE_URL, CLOUD)
        options["cloud"] = PUBLIC
        options["service_url"] = SERVICE_URL
    password = reveal(settings.teams_app_password)
    if token is not None:
        options["token"] = token
    elif password:
        options["client_secret"] = password
    elif settings.teams_certificate:
        options["token"] = certificate_token(settings)
    return options


def member_of(account: Account, tenant_id: str) -> TeamsMember:
    """Who an activity is from, as the activity says (the roster adds email and role: `TeamsApp.member`)."""
    return TeamsMember(tenant_id=tenant_id, object_id=(account.aad_object_id or "").lower(), user_id=account.id,
                       name=account.name or "")


def rostered(listed: TeamsChannelAccount, tenant_id: str) -> TeamsMember:
    """A member as the conversation's roster gives them (their email and role too)."""
    return TeamsMember(tenant_id=listed.tenant_id or tenant_id, object_id=(listed.aad_object_id or "").lower(),
                       user_id=listed.id, name=listed.name or "",
                       email=listed.email or listed.user_principal_name or "", role=listed.user_role or "")


def who(member: TeamsMember) -> str:
    """The person id an audit entry names for `member` (`teams:<object id>`; `teams:?` without a valid one)."""
    return teams_person(member.object_id) if OBJECT_ID.fullmatch(member.object_id) else "teams:?"


def tenant_of(activity: ActivityBase) -> str:
    """The tenant an activity is of (its conversation's, else its channel data's)."""
    if activity.conversation.tenant_id:
        return activity.conversation.tenant_id
    data = activity.channel_data
    return (data.tenant.id if data is not None and data.tenant is not None else "") or ""


def conversation_of(activity: ActivityBase) -> TeamsConversation:
    """The conversation an activity came from, as a card is posted there (a channel's thread suffix dropped)."""
    conv = activity.conversation
    kind = conv.conversation_type if conv.conversation_type in ("channel", "groupChat", "personal") else "personal"
    data = activity.channel_data
    name = (data.channel.name if data is not None and data.channel is not None else None) or conv.name or ""
    return TeamsConversation(id=conv.id.split(";")[0], service_url=(activity.service_url or "").rstrip("/"),
                             tenant_id=tenant_of(activity), kind=kind, name=name)  # type: ignore[arg-type]


class TeamsApp:
    """The SDK's app on this worker, for the company's tenant."""

    def __init__(
        self, settings: TeamsSettings, *, store: Store, people: TeamsPeople, token: TokenProvider | None = None
    ) -> None:
        self.settings = settings
        self.tenant_id = settings.teams_tenant_id
        self.store = store
        self.people = people
        self.adapter = AiohttpAdapter()
        self.sdk = App(**app_options(settings, self.adapter, token=token))
        self.sdk.use(self._our_tenant)
        self.sdk.on_conversation_update(self._conversation_update)
        self.sdk.on_install_add(self._installed)
        self.sdk.on_install_remove(self._uninstalled)

    async def start(self) -> None:
        """Register the messaging endpoint's handler (the SDK's, its token check first); the server is the worker's."""
        await self.sdk.initialize()

    def api_for(self, service_url: str) -> ApiClient:
        """The SDK's Bot Connector client for a conversation's service URL."""
        if not service_url or service_url.rstrip("/") == self.sdk.api.service_url:
            return self.sdk.api
        return self.sdk.api.clone(service_url=service_url)

    async def post(self, conversation: TeamsConversation, card: dict[str, Any]) -> str:
        """Post `card` (an Adaptive Card's JSON) in `conversation`; the id Teams gave the activity."""
        sent = await self.api_for(conversation.service_url).conversations.create_activity(
            conversation.id, card_activity(card))
        return sent.id

    async def update(self, conversation: TeamsConversation, activity_id: str, card: dict[str, Any]) -> None:
        """Replace the card of activity `activity_id` in `conversation` with `card`, in place."""
        await self.api_for(conversation.service_url).conversations.update_activity(
            conversation.id, activity_id, card_activity(card))

    async def personal_chat(self, account: TeamsAccount) -> TeamsConversation:
        """The person's personal chat with the bot: the one kept, else created (and kept) now."""
        if account.conversation and (kept := await self.store.msteams.conversation(account.conversation)):
            return kept
        api = self.sdk.api
        made = await api.conversations.create(CreateConversationParams(
            members=[Account(id=account.user_id)], tenant_id=account.tenant_id,
            channel_data={"tenant": {"id": account.tenant_id}}))
        conversation = TeamsConversation(id=made.id, service_url=api.service_url, tenant_id=account.tenant_id,
                                         kind="personal")
        await self.store.msteams.keep_conversation(conversation)
        return conversation

    async def member(self, ctx: ActivityContext[Any]) -> TeamsMember:
        """Who an activity is from, with their email and role as the conversation's roster says them (a member the
        roster does not name: as the activity says, no email)."""
        activity = ctx.activity
        found = member_of(activity.from_, tenant_of(activity))
        members = ctx.api.conversations.members(activity.conversation.id.split(";")[0])
        try:
            listed = await members.get(activity.from_.id)
        except Exception as exc:  # the SDK's HTTP errors: not in the roster
            log.info("Teams: no roster entry for %s (%s)", found.user_id, type(exc).__name__)
            return found
        return rostered(listed, found.tenant_id)

    async def _learn_roster(self, ctx: ActivityContext[Any], conversation: TeamsConversation) -> None:
        """Tell the people part of everyone in the conversation the app was added to (their Teams user ids: a
        card's `refresh.userIds`); without a roster, of the person who added it."""
        try:
            roster = await ctx.api.conversations.get_members(conversation.id)
        except Exception as exc:  # the SDK's HTTP errors
            log.warning("Teams: no roster of %s (%s): only who added the app is known", conversation.id,
                        type(exc).__name__)
            roster = []
        members = [rostered(listed, conversation.tenant_id) for listed in roster] or [await self.member(ctx)]
        for member in members:
            await self.people.learn(member, conversation)

    # what Teams tells the app ---------------------------------------------------------------------------
    async def _our_tenant(self, ctx: ActivityContext[ActivityBase]) -> None:
        """Only the company's tenant is heard; another's activity (but a card's invoke, which the invoke handler
        answers with its refusal) is refused and audited."""
        activity = ctx.activity
        if activity.type == "invoke" or tenant_of(activity) == self.tenant_id:
            await ctx.next()
            return
        member = member_of(activity.from_, tenant_of(activity))
        try:
            await self.store.audit.append("refused", by=who(member), surface="teams", tenant=tenant_of(activity)[:64],
                                          reason=f"another tenant's {activity.type}: only {self.tenant_id}'s people")
        except StoreUnavailable as exc:  # refused all the same
            log.error("Teams: another tenant's %s refused, not audited: Redis unreachable (%s)", activity.type, exc)

    async def _conversation_update(self, ctx: ActivityContext[ConversationUpdateActivity]) -> None:
        activity, bot = ctx.activity, ctx.activity.recipient.id
        if any(member.id == bot for member in activity.members_added or ()):
            await self._keep(ctx)
        elif any(member.id == bot for member in activity.members_removed or ()):
            await self._forget(activity)

    async def _installed(self, ctx: ActivityContext[Any]) -> None:
        await self._keep(ctx)

    async def _uninstalled(self, ctx: ActivityContext[Any]) -> None:
        await self._forget(ctx.activity)

    async def _keep(self, ctx: ActivityContext[Any]) -> None:
        conversation = conversation_of(ctx.activity)
        try:
            await self.store.msteams.keep_conversation(conversation)
            log.info("Teams: added to %s %s", conversation.kind, conversation.id)
            await self._learn_roster(ctx, conversation)
        except StoreUnavailable as exc:  # answered (never the SDK's 500); the next install event keeps it
            log.error("Teams: the app's addition to %s was not kept: Redis unreachable (%s)", conversation.id, exc)

    async def _forget(self, activity: ActivityBase) -> None:
        conversation = conversation_of(activity)
        try:
            await self.store.msteams.forget_conversation(conversation.id)
        except StoreUnavailable as exc:  # answered; its cards fail to post there until it is forgotten
            log.error("Teams: the app's removal from %s was not kept: Redis unreachable (%s)", conversation.id, exc)
            return
        log.info("Teams: removed from %s %s", conversation.kind, conversation.id)


def card_activity(card: dict[str, Any]) -> MessageActivityInput:
    """A message carrying one Adaptive Card."""
    return MessageActivityInput(attachments=[Attachment(content_type=CARD, content=card)])

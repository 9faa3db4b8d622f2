"""Slack's OAuth install, through Bolt's `AsyncOAuthSettings` / `AsyncOAuthFlow`: `GET /slack/install` (the "Add
to Slack" page, with a state kept in Redis and in a cookie) and `GET /slack/oauth_redirect` (Slack sends the person
back with a code; Bolt trades it with `oauth.v2.access` and keeps the installation in our Redis store, its tokens
sealed). Served when SLACK_CLIENT_ID and SLACK_CLIENT_SECRET are set (and SLACK_TOKENS_KEY, which seals them).

Each install and each refused redirect is audited. The uninstall events (`app_uninstalled`, `tokens_revoked`) are
the listener `bot/slackapp/listeners/installs.py`."""

from __future__ import annotations

import logging

from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.oauth.async_callback_options import AsyncCallbackOptions, AsyncFailureArgs, AsyncSuccessArgs
from slack_bolt.oauth.async_oauth_flow import AsyncOAuthFlow
from slack_bolt.oauth.async_oauth_settings import AsyncOAuthSettings
from slack_bolt.response import BoltResponse
from slack_sdk.web.async_client import AsyncWebClient

from bot.core.settings import Settings
from bot.services import Services
from bot.slack.installations import RedisStateStore, installation_id
from bot.slack.workspaces import Workspaces

log = logging.getLogger(__name__)

INSTALL_PATH = "/slack/install"
REDIRECT_PATH = "/slack/oauth_redirect"
# what the app asks for at install: manifest.yml's bot scopes (tests/slackapp/test_oauth.py checks they agree)
BOT_SCOPES = (
    "commands", "chat:write", "chat:write.public", "files:write", "users:read", "users:read.email", "usergroups:read",
    "channels:read", "groups:read", "im:write", "channels:history", "groups:history", "im:history", "mcp:connect",
    "assistant:write",
)


def authorize_url(api_url: str) -> str:
    """Slack's authorize page beside its Web API: `https://slack.com/api/` -> `https://slack.com/oauth/v2/authorize`
    (the local Slack's, in dev mode and tests)."""
    return api_url.rstrip("/").removesuffix("/api") + "/oauth/v2/authorize"


def create_oauth_flow(settings: Settings, services: Services, workspaces: Workspaces) -> AsyncOAuthFlow:
    """Bolt's OAuth flow over our Redis stores (`workspaces.installations`, `RedisStateStore`)."""
    assert settings.slack_client_id is not None and settings.slack_client_secret is not None
    assert workspaces.installations is not None  # SLACK_TOKENS_KEY: the settings refuse OAuth without it

    async def installed(args: AsyncSuccessArgs) -> BoltResponse:
        made = args.installation
        key = installation_id(enterprise_id=made.enterprise_id, team_id=made.team_id,
                              is_enterprise_install=made.is_enterprise_install)
        await services.store.audit.append("installed", by=made.user_id or "", team=key,
                                          reason="org-wide" if made.is_enterprise_install else "workspace")
        log.info("installed in %s (%s)", key, "org-wide" if made.is_enterprise_install else "workspace")
        return await args.default.success(args)

    async def refused(args: AsyncFailureArgs) -> BoltResponse:
        await services.store.audit.append("refused", reason=f"install: {args.reason}"[:200])
        log.warning("an install was refused: %s", args.reason)
        return await args.default.failure(args)

    oauth_settings = AsyncOAuthSettings(
        client_id=settings.slack_client_id,
        client_secret=settings.slack_client_secret.get_secret_value(),
        scopes=list(BOT_SCOPES),
        redirect_uri=settings.slack_redirect_uri or None,
        install_path=INSTALL_PATH,
        redirect_uri_path=REDIRECT_PATH,
        authorization_url=authorize_url(settings.slack_api_url),
        installation_store=workspaces.installations,
        installation_store_bot_only=True,
        token_rotation_expiration_minutes=workspaces.rotation_minutes,
        state_store=RedisStateStore(services.store.installations),
        callback_options=AsyncCallbackOptions(success=installed, failure=refused),
        logger=logging.getLogger("slack_bolt.oauth"),
    )
    return AsyncOAuthFlow(client=AsyncWebClient(base_url=settings.slack_api_url), settings=oauth_settings)


def add_oauth_routes(web_app: web.Application, flow: AsyncOAuthFlow) -> None:
    """`GET /slack/install` and `GET /slack/oauth_redirect`, answered by Bolt's flow."""

    async def install(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await flow.handle_installation(await to_bolt_request(request)))

    async def redirect(request: web.Request) -> web.Response:
        return await to_aiohttp_response(await flow.handle_callback(await to_bolt_request(request)))

    web_app.router.add_get(INSTALL_PATH, install)
    web_app.router.add_get(REDIRECT_PATH, redirect)

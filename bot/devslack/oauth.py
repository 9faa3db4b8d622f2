"""Slack's OAuth v2, as the stand-in plays it: the authorize page (``GET /oauth/v2/authorize``, where a person of a
workspace picks the workspace, or its whole Grid organisation, and clicks Allow), ``oauth.v2.access`` (a code for a
bot token; with token rotation, an expiring token and a refresh token, and ``grant_type=refresh_token``), and
``apps.uninstall``, after which the app's tokens there are revoked and the bot is sent ``app_uninstalled`` and
``tokens_revoked``, as Slack sends them."""

from __future__ import annotations

import asyncio
import html
import logging
import secrets
import time
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp
from aiohttp import web

from bot.devslack.delivery import Delivery
from bot.devslack.model import APP_ID, APP_NAME, ApiError, Grant, OAuthCode, web_api
from bot.devslack.workspace import CALLING, Workspace

_log = logging.getLogger(__name__)

CODE_TTL: Final = 600.0  # seconds a code can be traded (Slack's: 10 minutes)
SCOPES: Final = "commands,chat:write,chat:write.public,users:read,usergroups:read,channels:read,im:write"
_PAGE_CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; base-uri 'none'"


class OAuth:
    """The authorize page, ``oauth.v2.access``, ``apps.uninstall`` and uninstalling from the stand-in itself."""

    def __init__(self, ws: Workspace, delivery: Delivery) -> None:
        self.ws = ws
        self.delivery = delivery
        self._sending: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------------------------------- the page

    async def handle_authorize(self, request: web.Request) -> web.Response:
        """The page a person sees after "Add to Slack": one choice per workspace (and one per Grid organisation,
        org-wide), Allow and Cancel. ``client_id`` must be the app's; ``state`` and ``redirect_uri`` travel on."""
        self.ws.remember_base(request)
        query = request.query
        if query.get("client_id") != self.ws.client_id:
            return web.Response(status=400, text="invalid_client_id: this app is not known here")
        redirect = self.ws.redirect_url or query.get("redirect_uri")
        if not redirect or not redirect.startswith(("http://", "https://")):
            return web.Response(status=400, text="bad_redirect_uri: the app has no Redirect URL")
        choices = [
            f'<option value="team:{html.escape(t.id)}">{html.escape(t.name)} ({html.escape(t.id)})</option>'
            for t in self.ws.teams.values()
        ]
        orgs = {t.enterprise_id: t.enterprise_name for t in self.ws.teams.values() if t.enterprise_id}
        choices += [
            f'<option value="org:{html.escape(e)}">{html.escape(n or e)}: every workspace ({html.escape(e)})</option>'
            for e, n in orgs.items()
        ]
        hidden = "".join(
            f'<input type="hidden" name="{name}" value="{html.escape(query.get(name, ""))}">'
            for name in ("client_id", "state", "redirect_uri", "scope")
        )
        page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Install {APP_NAME}</title></head><body>
<h1 data-testid="oauth-title">{APP_NAME} is requesting permission to access a Slack workspace</h1>
<form method="post" action="/oauth/v2/authorize">{hidden}
<label>Workspace <select name="target" data-testid="oauth-workspace">{"".join(choices)}</select></label>
<p>Scopes: {html.escape(query.get("scope", ""))}</p>
<button type="submit" name="answer" value="allow" data-testid="oauth-allow">Allow</button>
<button type="submit" name="answer" value="cancel" data-testid="oauth-cancel">Cancel</button>
</form></body></html>"""
        return web.Response(text=page, content_type="text/html", headers={"Content-Security-Policy": _PAGE_CSP})

    async def handle_allow(self, request: web.Request) -> web.Response:
        """The page's answer: a code (Allow) or ``error=access_denied`` (Cancel), sent to the Redirect URL with the
        ``state`` it came with."""
        form = await request.post()
        if form.get("client_id") != self.ws.client_id:
            return web.Response(status=400, text="invalid_client_id")
        given = str(form.get("redirect_uri") or "") or None
        redirect = self.ws.redirect_url or given
        if not redirect:
            return web.Response(status=400, text="bad_redirect_uri")
        state = str(form.get("state") or "")
        if form.get("answer") != "allow":
            raise web.HTTPFound(f"{redirect}?{urlencode({'error': 'access_denied', 'state': state})}")
        kind, _, target = str(form.get("target") or "").partition(":")
        team = next((t for t in self.ws.teams.values() if (t.enterprise_id if kind == "org" else t.id) == target), None)
        if team is None:
            return web.Response(status=400, text="no such workspace")
        code = self.issue_code(team=team.id, org=kind == "org", redirect_uri=given)
        raise web.HTTPFound(f"{redirect}?{urlencode({'code': code, 'state': state})}")

    def issue_code(self, *, team: str, org: bool = False, redirect_uri: str | None = None) -> str:
        """A code as the page gives it (tests may skip the page): for team, or with ``org`` its organisation."""
        code = f"{int(time.time())}.{secrets.token_hex(16)}"
        self.ws.codes[code] = OAuthCode(
            code=code, team=team, org=org, user="", redirect_uri=redirect_uri, issued=time.monotonic()
        )
        return code

    # ------------------------------------------------------------------------------------------- Web API

    @web_api("oauth.v2.access")
    def oauth_v2_access(self, args: dict[str, Any]) -> dict[str, Any]:
        """A code (once, within 10 minutes, with the redirect_uri it was given for) for a bot token; or, with
        ``grant_type=refresh_token``, a refresh token for the next token (rotation)."""
        if args.get("grant_type") == "refresh_token":
            return self._refresh(str(args.pop("refresh_token", "")))
        code = self.ws.codes.get(str(args.get("code") or ""))
        if code is None or code.used or time.monotonic() - code.issued > CODE_TTL:
            raise ApiError("invalid_code")
        if code.redirect_uri is not None and args.get("redirect_uri") not in (None, code.redirect_uri):
            raise ApiError("bad_redirect_uri")
        code.used = True
        team = self.ws.teams[code.team]
        enterprise = team.enterprise_id
        for old in self.ws.grants.values():  # a new install replaces the app's tokens there
            if old.key == (enterprise if code.org else team.id):
                old.revoked = True
        grant = self._issue(team=None if code.org else team.id, enterprise=enterprise)
        answer: dict[str, Any] = {
            "app_id": APP_ID,
            "authed_user": {"id": code.user or None},
            "scope": SCOPES,
            "token_type": "bot",
            "access_token": grant.token,
            "bot_user_id": team.bot_user_id,
            "team": None if code.org else {"id": team.id, "name": team.name},
            "enterprise": {"id": enterprise, "name": team.enterprise_name} if enterprise else None,
            "is_enterprise_install": code.org,
        }
        if grant.refresh_token is not None:
            answer.update(refresh_token=grant.refresh_token, expires_in=int(self.ws.token_lifetime))
        return answer

    def _issue(self, *, team: str | None, enterprise: str | None) -> Grant:
        rotating = self.ws.token_rotation
        token = ("xoxe.xoxb-1-" if rotating else "xoxb-") + f"{team or enterprise}-{secrets.token_hex(12)}"
        grant = Grant(token=token, team=team, enterprise=enterprise)
        if rotating:
            grant.expires_at = time.time() + self.ws.token_lifetime
            grant.refresh_token = f"xoxe-1-{secrets.token_hex(16)}"
            self.ws.refresh_tokens[grant.refresh_token] = grant
        self.ws.grants[token] = grant
        return grant

    def _refresh(self, refresh_token: str) -> dict[str, Any]:
        old = self.ws.refresh_tokens.pop(refresh_token, None)
        if old is None or old.revoked:
            raise ApiError("invalid_refresh_token")
        grant = self._issue(team=old.team, enterprise=old.enterprise)  # the old token lives on until it expires
        team = self.ws.team_info(old.team or next(iter(self.ws.teams_of(old)), self.ws.home))
        return {
            "app_id": APP_ID,
            "scope": SCOPES,
            "token_type": "bot",
            "access_token": grant.token,
            "refresh_token": grant.refresh_token,
            "expires_in": int(self.ws.token_lifetime),
            "bot_user_id": team.bot_user_id,
            "team": {"id": old.team} if old.team else None,
            "enterprise": {"id": old.enterprise} if old.enterprise else None,
            "is_enterprise_install": old.team is None,
        }

    @web_api("apps.uninstall")
    def apps_uninstall(self, args: dict[str, Any]) -> dict[str, Any]:
        """The app removes itself (with its token there, and its client id and secret)."""
        if args.pop("client_secret", None) != self.ws.client_secret or args.get("client_id") != self.ws.client_id:
            raise ApiError("invalid_client_id")
        grant = CALLING.get()
        if grant is None:
            raise ApiError("invalid_auth")
        self.uninstall(grant.team or grant.enterprise or "")
        return {}

    # ------------------------------------------------------------------------------------------- uninstalling

    def uninstall(self, key: str) -> None:
        """The app is removed from a workspace (or, an organisation's id, from the organisation): its tokens there
        stop working, and ``tokens_revoked`` then ``app_uninstalled`` are sent to the bot (in the background)."""
        grants = [g for g in self.ws.grants.values() if g.key == key and not g.revoked]
        if key == self.ws.home and self.ws.bot_token not in self.ws.revoked:
            self.ws.revoked.add(self.ws.bot_token)
            grants.append(Grant(token=self.ws.bot_token, team=key))
        if not grants:
            raise ValueError(f"the app is not installed in {key!r} (installed: {self._installed()})")
        for grant in grants:
            grant.revoked = True
        self.ws.touch()
        first = grants[0]
        task = asyncio.get_running_loop().create_task(self._tell(first))
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)

    def _installed(self) -> list[str]:
        return sorted({g.key for g in self.ws.grants.values() if not g.revoked} | ({self.ws.home} - {
            self.ws.home for _ in [0] if self.ws.bot_token in self.ws.revoked}))

    async def _tell(self, grant: Grant) -> None:
        for event in ({"type": "tokens_revoked", "tokens": {"bot": [self.ws.team_info(grant.team or "").bot_user_id]}},
                      {"type": "app_uninstalled"}):
            try:
                await self.delivery.deliver_event(self.callback(grant, event))
            except (aiohttp.ClientError, RuntimeError, TimeoutError):  # a bot that is down misses it, as with Slack
                _log.warning("the bot was not told of %s", event["type"], exc_info=True)

    def callback(self, grant: Grant, event: dict[str, Any]) -> dict[str, Any]:
        """An Events API callback about an installation (its team, or its organisation when org-wide)."""
        org = grant.team is None
        event_id = self.ws.new_id("Ev")
        callback: dict[str, Any] = {
            "token": "deprecated-verification-token",
            "team_id": grant.enterprise if org else grant.team,
            "api_app_id": APP_ID,
            "event": {**event, "event_ts": self.ws.next_ts()},
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {"enterprise_id": grant.enterprise, "team_id": None if org else grant.team, "user_id": "",
                 "is_bot": True, "is_enterprise_install": org}
            ],
            "is_enterprise_install": org,
            "event_context": f"4-{event_id}",
        }
        if grant.enterprise is not None:  # as Slack: only on Grid
            callback["enterprise_id"] = grant.enterprise
        return callback

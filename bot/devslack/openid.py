"""Sign in with Slack (OpenID Connect), as the stand-in plays it: the discovery document
(``GET /.well-known/openid-configuration``), Slack's keys (``GET /openid/connect/keys``, a JWKS), the authorize page
(``GET /openid/connect/authorize``, where a person picks who they are and clicks Continue), ``openid.connect.token``
(a code, once, within 10 minutes, for a user token and an ``id_token`` signed RS256 by the stand-in's key, with
Slack's claims: ``https://slack.com/user_id``, ``https://slack.com/team_id``, the nonce, a verified email) and
``openid.connect.userInfo`` (the same claims for that user token, without the nonce)."""

from __future__ import annotations

import html
import secrets
import time
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

from aiohttp import web
from joserfc import jwt
from joserfc.jwk import RSAKey

from bot.devslack.model import ApiError, DevUser, web_api
from bot.devslack.workspace import Workspace

CODE_TTL: Final = 600.0  # seconds a code can be traded (as oauth.v2.access's)
TOKEN_TTL: Final = 3600  # seconds an id_token is valid
USER_CLAIM: Final = "https://slack.com/user_id"
TEAM_CLAIM: Final = "https://slack.com/team_id"
ENTERPRISE_CLAIM: Final = "https://slack.com/enterprise_id"
_PAGE_CSP: Final = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self' http: https:; base-uri 'none'"


@dataclass
class _Code:
    user: str
    nonce: str
    redirect_uri: str
    issued: float
    used: bool = False


class OpenId:
    """The OpenID Connect endpoints of the stand-in; its signing key is made when first needed (one per stand-in:
    an RSA key takes a tenth of a second of CPU, which most stand-ins, never signing anyone in, would spend for
    nothing)."""

    def __init__(self, ws: Workspace) -> None:
        self.ws = ws
        self._key: RSAKey | None = None
        self._codes: dict[str, _Code] = {}
        self._tokens: dict[str, str] = {}  # user token -> user id (openid.connect.userInfo)

    @property
    def key(self) -> RSAKey:
        """The stand-in's signing key (its public half at /openid/connect/keys), made at the first use."""
        if self._key is None:
            self._key = RSAKey.generate_key(2048, parameters={"kid": f"dev-{secrets.token_hex(4)}", "use": "sig",
                                                              "alg": "RS256"}, private=True)
        return self._key

    # ------------------------------------------------------------------------------------------- documents

    async def handle_discovery(self, request: web.Request) -> web.Response:
        self.ws.remember_base(request)
        base = self.ws.base_url
        return web.json_response({
            "issuer": base,
            "authorization_endpoint": f"{base}/openid/connect/authorize",
            "token_endpoint": f"{base}/api/openid.connect.token",
            "userinfo_endpoint": f"{base}/api/openid.connect.userInfo",
            "jwks_uri": f"{base}/openid/connect/keys",
            "scopes_supported": ["openid", "profile", "email"],
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": ["authorization_code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
        })

    async def handle_keys(self, request: web.Request) -> web.Response:
        return web.json_response({"keys": [self.key.as_dict(private=False)]})

    # ------------------------------------------------------------------------------------------- the page

    async def handle_authorize(self, request: web.Request) -> web.Response:
        """Who signs in: one choice per person of every workspace (``login_hint``, a user id, chosen first),
        Continue and Cancel. ``client_id`` must be the app's, ``scope`` include ``openid``, ``response_type`` be
        ``code``; ``state``, ``nonce`` and ``redirect_uri`` travel on."""
        self.ws.remember_base(request)
        query = request.query
        refused = self._refusal(query.get("client_id"), query.get("redirect_uri"))
        if refused is None and "openid" not in query.get("scope", "").split():
            refused = "invalid_scope: openid is required"
        if refused is None and query.get("response_type") != "code":
            refused = "unsupported_response_type: code"
        if refused is not None:
            return web.Response(status=400, text=refused)
        hint = query.get("login_hint", "")
        choices = "".join(
            f'<option value="{html.escape(u.id)}"{" selected" if u.id == hint else ""}>{html.escape(u.real_name)}'
            f" (@{html.escape(u.name)}, {html.escape(self.ws.team_info(u.team_id).name)})</option>"
            for u in self.ws.users.values() if not u.deleted
        )
        hidden = "".join(f'<input type="hidden" name="{name}" value="{html.escape(query.get(name, ""))}">'
                         for name in ("client_id", "state", "nonce", "redirect_uri"))
        page = f"""<!doctype html><html><head><meta charset="utf-8"><title>Sign in with Slack</title></head><body>
<h1 data-testid="signin-title">Sign in with Slack</h1>
<form method="post" action="/openid/connect/authorize">{hidden}
<label>You are <select name="user" data-testid="signin-person">{choices}</select></label>
<p>The app will see your name, your email and your workspace.</p>
<button type="submit" name="answer" value="allow" data-testid="signin-continue">Continue</button>
<button type="submit" name="answer" value="cancel" data-testid="signin-cancel">Cancel</button>
</form></body></html>"""
        return web.Response(text=page, content_type="text/html", headers={"Content-Security-Policy": _PAGE_CSP})

    async def handle_allow(self, request: web.Request) -> web.Response:
        """The page's answer: a code for the person chosen (Continue) or ``error=access_denied`` (Cancel), sent to
        the redirect URI with the ``state`` it came with."""
        form = await request.post()
        redirect = str(form.get("redirect_uri") or "")
        refused = self._refusal(str(form.get("client_id") or ""), redirect)
        if refused is not None:
            return web.Response(status=400, text=refused)
        state = str(form.get("state") or "")
        if form.get("answer") != "allow":
            raise web.HTTPFound(f"{redirect}?{urlencode({'error': 'access_denied', 'state': state})}")
        user = self.ws.users.get(str(form.get("user") or ""))
        if user is None or user.deleted:
            return web.Response(status=400, text="no such person")
        code = self.issue_code(user.id, nonce=str(form.get("nonce") or ""), redirect_uri=redirect)
        raise web.HTTPFound(f"{redirect}?{urlencode({'code': code, 'state': state})}")

    def issue_code(self, user: str, *, nonce: str, redirect_uri: str) -> str:
        """A code as the page gives it after Continue (for tests that skip the page)."""
        code = f"oidc.{secrets.token_hex(16)}"
        self._codes[code] = _Code(user=user, nonce=nonce, redirect_uri=redirect_uri, issued=time.monotonic())
        return code

    def _refusal(self, client_id: str | None, redirect: str | None) -> str | None:
        if client_id != self.ws.client_id:
            return "invalid_client_id: this app is not known here"
        if not redirect or not redirect.startswith(("http://", "https://")):
            return "bad_redirect_uri: an http(s) redirect_uri is required"
        return None

    # ------------------------------------------------------------------------------------------- Web API

    @web_api("openid.connect.token")
    def token(self, args: dict[str, Any]) -> dict[str, Any]:
        """A code (once, within 10 minutes, with its redirect_uri) for a user token and an id_token."""
        code = self._codes.get(str(args.get("code") or ""))
        if code is None or code.used or time.monotonic() - code.issued > CODE_TTL:
            raise ApiError("invalid_code")
        if args.get("redirect_uri") != code.redirect_uri:
            raise ApiError("bad_redirect_uri")
        code.used = True
        user = self.ws.users[code.user]
        access = f"xoxp-{user.team_id}-{secrets.token_hex(12)}"
        self._tokens[access] = user.id
        now = int(time.time())
        claims = {**self._claims(user), "iss": self.ws.base_url, "aud": self.ws.client_id, "exp": now + TOKEN_TTL,
                  "iat": now, "auth_time": now, "nonce": code.nonce}
        id_token = jwt.encode({"alg": "RS256", "kid": self.key.kid, "typ": "JWT"}, claims, self.key)
        return {"access_token": access, "token_type": "Bearer", "id_token": id_token}

    @web_api("openid.connect.userInfo")
    def user_info(self, args: dict[str, Any]) -> dict[str, Any]:
        """The claims of the user token's person."""
        user = self.ws.users.get(self._tokens.get(str(args.get("token") or ""), ""))
        if user is None:
            raise ApiError("invalid_auth")
        return self._claims(user)

    def _claims(self, user: DevUser) -> dict[str, Any]:
        team = self.ws.team_info(user.team_id)
        claims: dict[str, Any] = {
            "sub": user.id, USER_CLAIM: user.id, TEAM_CLAIM: user.team_id, "email": user.email,
            "email_verified": True, "name": user.real_name, "https://slack.com/team_name": team.name,
            "https://slack.com/team_domain": team.domain,
        }
        if team.enterprise_id:
            claims[ENTERPRISE_CLAIM] = team.enterprise_id
        return claims

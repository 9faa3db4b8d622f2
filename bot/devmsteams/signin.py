"""The stand-in's sign-in, as Microsoft's plays it for a bot: the Bot Framework's OpenID metadata and keys (what a bot
checks the Bot Connector's tokens against) and the Azure AD client-credentials token endpoint (where a bot trades
its app id and secret for the token it calls the Bot Connector with).

URL layout (B is the stand-in's URL, `TEAMS_CONNECTOR_URL`), Microsoft's paths on another host:

    GET  B/v1/.well-known/openidconfiguration   the OpenID metadata (its `jwks_uri` is B/v1/.well-known/keys)
    GET  B/v1/.well-known/keys, B/v1/keys       the keys (a JWKS; each key endorsed for `msteams`)
    POST B/{tenant}/oauth2/v2.0/token           client credentials -> an RS256 access token (an hour)

The Teams SDK derives its keys URL from the metadata URL (`/openidconfiguration` -> `/keys`, see
microsoft_teams/apps/auth/token_validator.py), so B/v1/.well-known/keys is the one it reads; B/v1/keys answers the
same keys.

Tokens the stand-in signs for the bot (`bot_token`): RS256 with its key, `iss` https://api.botframework.com, `aud`
the app id, `serviceurl` B, an hour of life: what the Bot Connector sends and the SDK's `TokenValidator.for_service`
accepts. Access tokens it issues (`issue_access_token`): RS256, `iss` B/{tenant}/v2.0, `aud`
https://api.botframework.com, `appid`/`azp` the app id, `tid`; the Bot Connector routes accept only those
(`check_access_token`). Forgeries for tests (`forge`): no token, another key (same `kid`), the wrong audience,
expired, another service URL."""

from __future__ import annotations

import functools
import secrets
import time
from typing import Any, Final, Literal

from aiohttp import web
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import RSAKey

ISSUER: Final = "https://api.botframework.com"  # the Bot Connector's tokens (the SDK's PUBLIC.token_issuer)
BOT_SCOPE: Final = "https://api.botframework.com/.default"  # what a bot asks a token for
BOT_AUDIENCE: Final = "https://api.botframework.com"  # the audience of the bot's access token
DEFAULT_TENANT: Final = "botframework.com"  # the multi-tenant login tenant (the SDK's PUBLIC.login_tenant)
TOKEN_TTL: Final = 3600
EXPIRED_BY: Final = 3600  # a forged "expired" token ended this long ago (beyond the SDK's five minutes' leeway)
Forgery = Literal["none", "other_key", "wrong_audience", "expired", "other_service_url", "no_exp"]
# the SDK's validator refuses each of these; "no_exp" (a token that never ends) only the worker's adapter refuses
FORGERIES: Final[tuple[Forgery, ...]] = ("none", "other_key", "wrong_audience", "expired", "other_service_url")


class TokenRefused(Exception):
    """A bearer token the Bot Connector refuses (401)."""


def _rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "use": "sig", "alg": "RS256"}, private=True)


@functools.cache
def _process_keys() -> tuple[RSAKey, RSAKey]:
    """The published key and a forger's (another key, the same `kid`), made once a process: a 2048-bit key takes
    30 to 100 ms of CPU (as long to load as to make), which each stand-in (one per test of the fast loop that speaks
    Teams) would spend again. The stand-ins of one process share them, as they share the local machine."""
    kid = f"teams-dev-{secrets.token_hex(4)}"
    return _rsa_key(kid), _rsa_key(kid)


def _aad_error(status: int, error: str, code: str, words: str) -> web.Response:
    """An Azure AD token endpoint's refusal: `error`, an `AADSTS` code and its description."""
    return web.json_response({"error": error, "error_description": f"{code}: {words}", "error_codes": [
        int(code.removeprefix("AADSTS"))]}, status=status)


class SignIn:
    """The keys, the metadata and the token endpoint of one stand-in (one app id, its secret, its tenants)."""

    def __init__(self, *, app_id: str, app_password: str, tenants: set[str]) -> None:
        self.app_id = app_id
        self.app_password = app_password
        self.tenants = tenants  # the tenants a token may be asked of (with botframework.com)
        self.base_url = ""  # set when the server listens
        self.key = _process_keys()[0]

    @property
    def other_key(self) -> RSAKey:
        """A key nobody published, with the published key's `kid` (a forger's signature)."""
        return _process_keys()[1]

    # ------------------------------------------------------------------------------------------- tokens

    def bot_token(self, *, forgery: Forgery | None = None) -> str | None:
        """A token as the Bot Connector sends the bot one (or a `forgery` of it; "none": no token at all)."""
        if forgery == "none":
            return None
        now = int(time.time())
        claims: dict[str, Any] = {
            "iss": ISSUER, "aud": self.app_id, "serviceurl": self.base_url,
            "nbf": now, "iat": now, "exp": now + TOKEN_TTL,
        }
        if forgery == "wrong_audience":
            claims["aud"] = "00000000-0000-0000-0000-00000000f0e1"
        elif forgery == "expired":
            claims.update(nbf=now - 2 * EXPIRED_BY, iat=now - 2 * EXPIRED_BY, exp=now - EXPIRED_BY)
        elif forgery == "no_exp":  # signed with the published key: only its lack of an end is wrong
            del claims["exp"]
        elif forgery == "other_service_url":
            claims["serviceurl"] = "https://smba.trafficmanager.net/teams"
        key = self.other_key if forgery == "other_key" else self.key
        return jwt.encode({"alg": "RS256", "kid": key.kid, "typ": "JWT"}, claims, key)

    def issue_access_token(self, tenant: str) -> str:
        """The access token the token endpoint gives the bot (the bearer of its Bot Connector calls)."""
        now = int(time.time())
        claims = {"iss": f"{self.base_url}/{tenant}/v2.0", "aud": BOT_AUDIENCE, "appid": self.app_id,
                  "azp": self.app_id, "tid": tenant, "nbf": now, "iat": now, "exp": now + TOKEN_TTL}
        return jwt.encode({"alg": "RS256", "kid": self.key.kid, "typ": "JWT"}, claims, self.key)

    def check_access_token(self, authorization: str) -> dict[str, Any]:
        """The claims of a Bot Connector call's bearer token; `TokenRefused` unless this stand-in issued it to its app
        and it is still valid."""
        if not authorization.startswith("Bearer "):
            raise TokenRefused("no bearer token")
        try:
            token = jwt.decode(authorization.removeprefix("Bearer ").strip(), self.key, algorithms=["RS256"])
            jwt.JWTClaimsRegistry(
                aud={"essential": True, "value": BOT_AUDIENCE},
                appid={"essential": True, "value": self.app_id},
                exp={"essential": True},
            ).validate(token.claims)
        except (JoseError, ValueError) as exc:
            raise TokenRefused(str(exc)) from exc
        if not str(token.claims.get("iss", "")).startswith(f"{self.base_url}/"):
            raise TokenRefused("issued elsewhere")
        return dict(token.claims)

    # ------------------------------------------------------------------------------------------- routes

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get("/v1/.well-known/openidconfiguration", self.handle_metadata)
        app.router.add_get("/v1/.well-known/keys", self.handle_keys)
        app.router.add_get("/v1/keys", self.handle_keys)
        app.router.add_post("/{tenant}/oauth2/v2.0/token", self.handle_token)

    async def handle_metadata(self, request: web.Request) -> web.Response:
        return web.json_response({
            "issuer": ISSUER,
            "authorization_endpoint": f"{self.base_url}/v1/authorize",
            "jwks_uri": f"{self.base_url}/v1/.well-known/keys",
            "id_token_signing_alg_values_supported": ["RS256"],
            "token_endpoint_auth_methods_supported": ["private_key_jwt"],
        })

    async def handle_keys(self, request: web.Request) -> web.Response:
        public = self.key.as_dict(private=False)
        return web.json_response({"keys": [{**public, "endorsements": ["msteams"]}]})

    async def handle_token(self, request: web.Request) -> web.Response:
        tenant = request.match_info["tenant"]
        form = {k: v for k, v in (await request.post()).items() if isinstance(v, str)}
        if tenant not in self.tenants | {DEFAULT_TENANT}:
            return _aad_error(400, "invalid_request", "AADSTS90002", f"Tenant '{tenant}' not found.")
        if form.get("grant_type") != "client_credentials":
            return _aad_error(400, "unsupported_grant_type", "AADSTS70003",
                              "The app requested an unsupported grant type.")
        if form.get("client_id") != self.app_id:
            return _aad_error(400, "unauthorized_client", "AADSTS700016",
                              f"Application with identifier '{form.get('client_id')}' was not found.")
        if not secrets.compare_digest(form.get("client_secret", "").encode(), self.app_password.encode()):
            return _aad_error(401, "invalid_client", "AADSTS7000215", "Invalid client secret provided.")
        if form.get("scope") != BOT_SCOPE:
            return _aad_error(400, "invalid_scope", "AADSTS70011",
                              f"The provided value for the input parameter 'scope' is not valid: {form.get('scope')}")
        return web.json_response({"token_type": "Bearer", "expires_in": TOKEN_TTL - 1, "ext_expires_in": TOKEN_TTL - 1,
                                  "access_token": self.issue_access_token(tenant)})

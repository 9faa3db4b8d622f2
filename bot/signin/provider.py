"""The OpenID Connect provider the bot's pages sign in with: Slack (Sign in with Slack: its discovery document beside
the Web API, `https://slack.com/.well-known/openid-configuration`) or a company's own (`OIDC_ISSUER`).

One code path for both: the discovery document gives the authorize, token, userinfo and keys endpoints; the code is
traded at the token endpoint (`openid.connect.token` on Slack), the `id_token` verified by joserfc against the
provider's keys (its algorithm, issuer, audience, expiry and the login's nonce), and the userinfo endpoint
(`openid.connect.userInfo`) asked with the access token, its `sub` the id_token's. A Slack identity names its user
and team in Slack's claims; another provider's is matched to a Slack user by its verified email
(`users.lookupByEmail`).

Example:
    `provider = Provider(issuer="https://slack.com", client=("123.456", "secret"), slack=True, by_email=lookup)`
"""

from __future__ import annotations

import base64
import json
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import urlencode

import aiohttp
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

log = logging.getLogger(__name__)

USER_CLAIM: Final = "https://slack.com/user_id"
TEAM_CLAIM: Final = "https://slack.com/team_id"
ENTERPRISE_CLAIM: Final = "https://slack.com/enterprise_id"
ALGORITHMS: Final = ["RS256", "ES256", "PS256"]  # what an id_token may be signed with (never `none`, never HMAC)
DOCUMENT_SECONDS: Final = 3600.0  # how long a discovery document and its keys are kept
HTTP_TIMEOUT: Final = 10.0
MAX_DOCUMENT: Final = 256 * 1024


class SignInError(Exception):
    """A sign-in that did not succeed: its HTTP status and what the person is told (never a token)."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True)
class Identity:
    """Who signed in: their Slack user id, and their team and organisation when the provider says (Slack does)."""

    user: str
    team: str = ""
    enterprise: str = ""
    name: str = ""


def slack_issuer(api_url: str) -> str:
    """Slack's issuer beside its Web API: `https://slack.com/api/` -> `https://slack.com` (the local Slack's, in
    dev mode and tests)."""
    return api_url.rstrip("/").removesuffix("/api")


class Provider:
    """Discovery, authorize URL, code exchange and id_token verification for one issuer and client."""

    def __init__(self, *, issuer: str, client: tuple[str, str], slack: bool,
                 by_email: Callable[[str], Awaitable[str | None]]) -> None:
        self.issuer = issuer.rstrip("/")
        self.client_id, self._secret = client
        self.slack = slack
        self._by_email = by_email
        self._document: tuple[float, dict[str, Any]] | None = None
        self._keys: tuple[float, KeySet] | None = None
        self._session: aiohttp.ClientSession | None = None

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def authorize_url(self, *, state: str, nonce: str, redirect_uri: str, login_hint: str = "") -> str:
        """Where the browser goes to sign in (`openid` `email` `profile`, the code flow)."""
        query = {"response_type": "code", "scope": "openid email profile", "client_id": self.client_id,
                 "state": state, "nonce": nonce, "redirect_uri": redirect_uri}
        if login_hint:
            query["login_hint"] = login_hint
        return f"{await self._endpoint('authorization_endpoint')}?{urlencode(query)}"

    async def identify(self, code: str, *, redirect_uri: str, nonce: str) -> Identity:
        """The person a code is for: traded, its id_token verified (nonce included), userinfo asked."""
        tokens = await self._post(await self._endpoint("token_endpoint"), {
            "grant_type": "authorization_code", "code": code, "redirect_uri": redirect_uri,
            "client_id": self.client_id, "client_secret": self._secret})
        claims = await self._verified(str(tokens.get("id_token") or ""), nonce=nonce)
        info = await self._user_info(str(tokens.get("access_token") or ""))
        if str(info.get("sub") or "") != str(claims.get("sub") or ""):
            raise SignInError(502, "The sign-in provider's answers disagree on who you are: nothing was done.")
        return await self._identity({**info, **claims})

    async def _identity(self, claims: dict[str, Any]) -> Identity:
        name = str(claims.get("name") or "")
        if self.slack:
            user = str(claims.get(USER_CLAIM) or claims.get("sub") or "")
            return Identity(user=user, team=str(claims.get(TEAM_CLAIM) or ""),
                            enterprise=str(claims.get(ENTERPRISE_CLAIM) or ""), name=name)
        email = str(claims.get("email") or "")
        if not email or claims.get("email_verified") is not True:
            raise SignInError(403, "Your sign-in gave no verified email, so the bot cannot tell who you are in Slack.")
        found = await self._by_email(email)
        if found is None:
            raise SignInError(403, "No Slack account of this workspace has your sign-in's email.")
        return Identity(user=found, name=name)

    async def _verified(self, id_token: str, *, nonce: str) -> dict[str, Any]:
        """The id_token's claims, verified: signature by a key of the provider, `iss`, `aud`, `exp`, `nonce`."""
        try:
            token = jwt.decode(id_token, await self._key_set(id_token), algorithms=ALGORITHMS)
            JWTClaimsRegistry(
                iss={"essential": True, "value": self.issuer}, aud={"essential": True, "value": self.client_id},
                exp={"essential": True}, sub={"essential": True}, nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except (JoseError, ValueError, TypeError, KeyError) as exc:
            log.warning("an id_token was refused: %s", type(exc).__name__)
            raise SignInError(403, "The sign-in could not be verified (its token is not valid for this bot): sign in"
                              " again.") from None
        return dict(token.claims)

    async def _key_set(self, id_token: str) -> KeySet:
        """The provider's keys; fetched again once when the token names a key not among them (a rotation)."""
        keys = await self._keys_now(fresh=False)
        try:
            header = json.loads(_b64(id_token.split(".")[0]))
        except (ValueError, IndexError):
            raise ValueError("not a JWT") from None
        kid = header.get("kid") if isinstance(header, dict) else None
        if kid and all(key.kid != kid for key in keys.keys):
            keys = await self._keys_now(fresh=True)
        return keys

    async def _keys_now(self, *, fresh: bool) -> KeySet:
        if self._keys is None or fresh or self._keys[0] < time.monotonic():
            found = await self._get(await self._endpoint("jwks_uri"))
            self._keys = (time.monotonic() + DOCUMENT_SECONDS, KeySet.import_key_set(found))  # type: ignore[arg-type]
        return self._keys[1]

    async def _endpoint(self, name: str) -> str:
        if self._document is None or self._document[0] < time.monotonic():
            document = await self._get(self.issuer + "/.well-known/openid-configuration")
            if str(document.get("issuer") or "").rstrip("/") != self.issuer:
                log.error("the discovery document of %s names another issuer", self.issuer)
                raise SignInError(502, "The sign-in provider is misconfigured (its issuer is not the one set): tell"
                                  " the bot's operator.")
            self._document = (time.monotonic() + DOCUMENT_SECONDS, document)
        url = self._document[1].get(name)
        if not isinstance(url, str) or not url.startswith(("https://", "http://")):
            raise SignInError(502, f"The sign-in provider gives no {name}: tell the bot's operator.")
        return url

    async def _user_info(self, access_token: str) -> dict[str, Any]:
        return await self._get(await self._endpoint("userinfo_endpoint"),
                               headers={"Authorization": f"Bearer {access_token}"})

    async def _get(self, url: str, *, headers: dict[str, str] | None = None) -> dict[str, Any]:
        return await self._call("GET", url, headers=headers)

    async def _post(self, url: str, form: dict[str, str]) -> dict[str, Any]:
        return await self._call("POST", url, data=form)

    async def _call(self, method: str, url: str, **kwargs: Any) -> dict[str, Any]:
        """A JSON object from the provider; a 502 saying so when it cannot be had (Slack's `ok: false` too)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=HTTP_TIMEOUT))
        try:
            async with self._session.request(method, url, allow_redirects=False, **kwargs) as answer:
                raw = await answer.content.read(MAX_DOCUMENT + 1)
                status = answer.status
            said = json.loads(raw) if len(raw) <= MAX_DOCUMENT else None
        except (aiohttp.ClientError, TimeoutError, ValueError, RecursionError) as exc:
            log.warning("the sign-in provider did not answer %s: %s", _route(url), type(exc).__name__)
            raise SignInError(502, "The sign-in provider did not answer: try again in a minute.") from None
        if status != 200 or not isinstance(said, dict) or said.get("ok") is False:
            error = said.get("error") if isinstance(said, dict) else None
            log.warning("the sign-in provider refused %s: %s %s", _route(url), status, str(error)[:80])
            raise SignInError(502, "The sign-in provider refused the sign-in: open the link again.")
        return said


def _route(url: str) -> str:
    """A URL as logged: without its query (a code travels in none, but say so once)."""
    return url.split("?", 1)[0]


def _b64(part: str) -> bytes:
    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))

"""Sign in with Slack (OpenID Connect) on every page the bot serves: the person a page is for signs in, is the one
signed in, and passes the same "only our own people" check as a click. A company's own provider (`OIDC_ISSUER`)
may stand in for Slack; its people are matched to Slack users by verified email.

    provider.py   `Provider`: discovery, the authorize URL, the code traded, the id_token verified (joserfc) against
                  the provider's keys, userinfo; `Identity`, `SignInError`
    cookies.py    `Cookies`: the session and login cookies, sealed (AES-256-GCM), short lived
    gate.py       `SignIn`: `require(request, person=..., page=...)` where a page is used; `/signin/start`,
                  `/signin/callback`, `/signin/logout` (`LOGOUT`: where the sign-out form on
                  every page posts, bot/templates/sign_out.html)

May import: `bot.core`, `bot.store` (the audit log), `bot.approvals` (a refusal's words). The worker's HTTP server
(`bot/server.py`) makes it (`create_sign_in`) and mounts its routes; the pages (`bot.stepup`) call it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from bot.core.settings import Settings
from bot.signin.cookies import Cookies, Session
from bot.signin.gate import LOGOUT, Names, People, SignIn
from bot.signin.provider import Identity, Provider, SignInError, slack_issuer
from bot.store.audit import AuditLog

__all__ = ["LOGOUT", "Cookies", "Identity", "Provider", "Session", "SignIn", "SignInError", "create_sign_in"]


def create_sign_in(settings: Settings, *, people: People, names: Names,
                   by_email: Callable[[str], Awaitable[str | None]], audit: AuditLog) -> SignIn:
    """The pages' sign-in for these settings: Slack's provider (or OIDC_ISSUER's) with the sign-in client, the
    pages' base URL (STEP_UP_URL, else PUBLIC_URL) for the redirect; without a client, one that refuses."""
    base = settings.step_up_url or settings.public_url
    client = client_of(settings)
    provider = None
    if client is not None:
        issuer = settings.oidc_issuer or slack_issuer(settings.slack_api_url)
        provider = Provider(issuer=issuer, client=client, slack=not settings.oidc_issuer, by_email=by_email)
    cookies = Cookies(settings.slack_signing_secret.get_secret_value(), secure=base.startswith("https://"))
    return SignIn(provider=provider, cookies=cookies, base_url=base, people=people, names=names, audit=audit)


def client_of(settings: Settings) -> tuple[str, str] | None:
    """(client id, secret) the pages sign in with: OIDC_*, else the app's SLACK_CLIENT_*; None when neither."""
    if settings.oidc_client_id is not None and settings.oidc_client_secret is not None:
        return settings.oidc_client_id, settings.oidc_client_secret.get_secret_value()
    if settings.slack_client_id is not None and settings.slack_client_secret is not None:
        return settings.slack_client_id, settings.slack_client_secret.get_secret_value()
    return None

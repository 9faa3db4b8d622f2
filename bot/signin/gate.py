"""Sign in with Slack in front of every page the bot serves. A page asks `SignIn.require(request, person=...,
page=...)` once it knows whose it is (a link unknown or used is answered before, as it was):

- nobody signed in: a page (GET) is sent to the provider's authorize page (the login's state, nonce and the page to
  return to sealed in a short cookie); a page's script (POST) gets a 401 `{"error", "sign_in"}`;
- someone else signed in: a 403 saying whose page it is, with a link to sign in as them; audited (`refused`, by the
  signed-in person, reason `sign-in: ...`);
- the person, but not one of ours (another organisation, a guest, deactivated: the same check as a click,
  `bot.slackapp.members.why_not`): a 403 saying so, audited (`refused`, reason `outsider: ...`); Slack unable to say,
  a 503 (never open);
- no sign-in configured (no client id and secret): a 503 saying what to set (never open).

`GET /signin/callback` is where the provider sends the person back: the state must be the one this browser's login
cookie holds, the code is traded and the id_token verified (`provider.py`), and the session cookie (`cookies.py`) is
set for `SESSION_SECONDS` before the person is sent on to their page. `GET /signin/start?page=/...` starts a login
for a page (the link a refusal gives). `POST /signin/logout` clears the cookies (the form every page
carries, bot/templates/sign_out.html, posts to `LOGOUT`). Every answer is `no-store` and never sent as a referrer."""

from __future__ import annotations

import json
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from typing import Any, Final, NoReturn
from urllib.parse import urlencode, urlsplit

from aiohttp import web

from bot.approvals.refusals import CANNOT_CHECK
from bot.core.records import SLACK_ID
from bot.core.templates import PAGE_HEADERS, render
from bot.signin.cookies import LOGIN_SECONDS, SESSION_SECONDS, Cookies, Login, Session
from bot.signin.provider import Identity, Provider, SignInError
from bot.store import StoreUnavailable
from bot.store.audit import AuditLog

log = logging.getLogger(__name__)

CALLBACK: Final = "/signin/callback"
START: Final = "/signin/start"
LOGOUT: Final = "/signin/logout"
NOT_SET_UP: Final = ("The bot's pages need Sign in with Slack, which is not set up on this bot: its operator sets"
                     " SLACK_CLIENT_ID and SLACK_CLIENT_SECRET (or OIDC_CLIENT_ID and OIDC_CLIENT_SECRET).")
People = Callable[..., Awaitable[tuple[str, str] | None]]  # (user, said_team=...) -> None, or (why, what to tell)
Names = Callable[[str], Awaitable[str | None]]


class SignIn:
    """The pages' sign-in: sessions checked where a page is used, logins started and finished."""

    def __init__(self, *, provider: Provider | None, cookies: Cookies, base_url: str, people: People,
                 names: Names, audit: AuditLog) -> None:
        self.provider = provider
        self.cookies = cookies
        self.redirect_uri = base_url.rstrip("/") + CALLBACK
        self.people = people
        self._names = names
        self._audit = audit

    async def require(self, request: web.Request, *, person: str, page: str, approval: str = "") -> Session:
        """The session of `person` on this request, checked as a click is; else the answer to send, raised (an
        aiohttp HTTPException: a redirect to sign in, a 401, 403 or 503). `page` is the page's path (GET) to come
        back to after signing in; `approval`, the approval the page is about (named in a refusal's audit entry).
        `person` "": a page for whoever signs in (one of our own people, as ever), which then checks what they may
        see (a brief's page; the whole change of an approval, bot/stepup/changes_page.py)."""
        if self.provider is None:
            raise _refusal(request, 503, NOT_SET_UP)
        session = self.cookies.open_session(request.cookies.get(self.cookies.session_name))
        if session is None:
            if request.method == "GET":
                raise await self._login(page=page, hint=person)
            raise _json(401, {"error": "Sign in first: open this page again from its link.",
                              "sign_in": _start(page, person)})
        if person and session.user != person:
            await self._refused(session, f"sign-in: the page is for {person}, signed in as {session.user}",
                                approval=approval)
            whose = await self._names(person) or person
            who = await self._names(session.user) or session.name or session.user
            raise _refusal(request, 403, f"This page is for {whose}, and you are signed in as {who}: nothing was"
                           " shown or done.", sign_in=_start(page, person))
        refused = await self.people(session.user, said_team=session.team)
        if refused is not None:
            why, text = refused
            await self._refused(session, f"outsider: {why}", approval=approval)
            raise _refusal(request, 503 if text == CANNOT_CHECK else 403, text)
        return session

    async def _refused(self, session: Session, reason: str, *, approval: str) -> None:
        log.warning("a page refused %s: %s", session.user, reason)
        about = {"approval": approval} if approval else {}
        try:
            await self._audit.append("refused", by=session.user, team=session.team, reason=reason[:300], **about)
        except StoreUnavailable:
            raise _json(503, {"error": "The bot cannot reach its storage right now: try again in a minute."}) from None

    async def _login(self, *, page: str, hint: str = "") -> web.HTTPFound:
        """The redirect to the provider, with this login's cookie."""
        assert self.provider is not None
        state, nonce = secrets.token_urlsafe(24), secrets.token_urlsafe(24)
        try:
            url = await self.provider.authorize_url(state=state, nonce=nonce, redirect_uri=self.redirect_uri,
                                                    login_hint=hint)
        except SignInError as exc:
            raise _page(exc.status, "Sign in", exc.message) from None
        found = web.HTTPFound(url, headers=PAGE_HEADERS)
        login = Login(state=state, nonce=nonce, page=page, expires=time.time() + LOGIN_SECONDS)
        found.set_cookie(self.cookies.login_name, self.cookies.seal_login(login),
                         **self.cookies.attributes(max_age=LOGIN_SECONDS))  # type: ignore[arg-type]
        return found

    def add_routes(self, app: web.Application) -> None:
        app.router.add_get(START, self.start)
        app.router.add_get(CALLBACK, self.callback)
        app.router.add_post(LOGOUT, self.logout)

    async def logout(self, request: web.Request) -> web.StreamResponse:
        """`POST /signin/logout`: the session and login cookies cleared, "Signed out" said. Refused (403) from
        another site's page (`Sec-Fetch-Site` other than `same-origin`; without it, an `Origin` not the pages')."""
        if not self.from_our_pages(request):
            raise _page(403, "Sign out", "This sign-out did not come from one of this bot's pages: nothing changed.")
        session = self.cookies.open_session(request.cookies.get(self.cookies.session_name))
        if session is not None:
            log.info("%s signed out of the pages", session.user)
        done = _page(200, "Signed out", "You are signed out of this bot's pages. A page's link signs you in again.",
                     sign_out=False)
        for name in (self.cookies.session_name, self.cookies.login_name):
            done.del_cookie(name, path="/", secure=self.cookies.secure, httponly=True, samesite="Lax")
        raise done

    def from_our_pages(self, request: web.Request) -> bool:
        """Whether a form's POST came from one of this bot's pages (`Sec-Fetch-Site` `same-origin`; without it, an
        `Origin` that is the pages'): another site's page cannot make a signed-in browser post it."""
        site = request.headers.get("Sec-Fetch-Site")  # (the pages send no referrer: a browser's Origin is "null")
        return site in ("same-origin", "none") if site is not None else _same_origin(request, self.redirect_uri)

    async def start(self, request: web.Request) -> web.StreamResponse:
        """A login for the page `page` (a local path), as a refusal's link starts it."""
        if self.provider is None:
            raise _page(503, "Sign in", NOT_SET_UP)
        page = request.query.get("page", "")
        if not _local(page):
            raise _page(400, "Sign in", "This sign-in link names no page of this bot: open the page's link again.")
        hint = request.query.get("login_hint", "")
        raise await self._login(page=page, hint=hint if SLACK_ID.fullmatch(hint) else "")

    async def callback(self, request: web.Request) -> web.StreamResponse:
        """The provider's answer: state checked against this browser's login, code traded, session set."""
        login = self.cookies.open_login(request.cookies.get(self.cookies.login_name))
        state = request.query.get("state", "")
        if login is None or not secrets.compare_digest(state.encode(), login.state.encode()):
            raise _page(400, "Sign in", "This sign-in is not the one this browser started, or it took more than 10"
                         " minutes: open the page's link again.")
        if request.query.get("error"):
            raise _page(403, "Sign in", "The sign-in was cancelled: nothing was shown. Open the page's link again"
                         " to sign in.")
        if not request.query.get("code"):
            raise _page(400, "Sign in", "The sign-in came back without its code: open the page's link again.")
        assert self.provider is not None
        try:
            identity = await self.provider.identify(request.query.get("code", ""), redirect_uri=self.redirect_uri,
                                                    nonce=login.nonce)
        except SignInError as exc:
            await self._failed(exc.message)
            raise _page(exc.status, "Sign in", exc.message) from None
        self._signed_in(identity, login)

    def _signed_in(self, identity: Identity, login: Login) -> NoReturn:
        session = Session(user=identity.user, team=identity.team, name=identity.name,
                          expires=time.time() + SESSION_SECONDS)
        log.info("%s signed in to the pages", identity.user)
        back = web.HTTPFound(login.page, headers=PAGE_HEADERS)
        back.set_cookie(self.cookies.session_name, self.cookies.seal_session(session),
                        **self.cookies.attributes(max_age=SESSION_SECONDS))  # type: ignore[arg-type]
        back.del_cookie(self.cookies.login_name, path="/", secure=self.cookies.secure, httponly=True,
                        samesite="Lax")
        raise back

    async def _failed(self, message: str) -> None:
        try:
            await self._audit.append("refused", by="", reason=f"sign-in: {message}"[:300])
        except StoreUnavailable:
            log.warning("a failed sign-in was not audited: Redis is out of reach")


def _same_origin(request: web.Request, pages: str) -> bool:
    """Whether the request's `Origin` (when a browser sends one) is the pages' (STEP_UP_URL's or PUBLIC_URL's, as
    people open them, behind a proxy too) or the host it was sent to."""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return urlsplit(origin).netloc in (urlsplit(pages).netloc, request.host)


def _local(page: str) -> bool:
    """Whether `page` is a path of this bot (never another site: `//host`, `/\\host`, a scheme)."""
    return page.startswith("/") and not page.startswith(("//", "/\\")) and page.isascii() and \
        all(c.isprintable() and not c.isspace() for c in page) and len(page) <= 300


def _start(page: str, person: str) -> str:
    """The link that starts a login for `page`, hinting its person (the local Slack and some providers preselect
    them)."""
    return f"{START}?{urlencode({'page': page, 'login_hint': person})}"


def _refusal(request: web.Request, status: int, message: str, *, sign_in: str = "") -> web.HTTPException:
    """A refusal in the form the request expects: a page for a GET, JSON otherwise."""
    if request.method == "GET":
        return _page(status, "Sign in", message, link=sign_in)
    body: dict[str, Any] = {"error": message}
    if sign_in:
        body["sign_in"] = sign_in
    return _json(status, body)


def _json(status: int, body: dict[str, Any]) -> web.HTTPException:
    exc = web.HTTPException(text=json.dumps(body), content_type="application/json", headers=PAGE_HEADERS)
    exc.set_status(status)
    return exc


def _page(status: int, title: str, message: str, *, link: str = "", sign_out: bool = True) -> web.HTTPException:
    template, context = refusal_page(title, message, link=link, sign_out=sign_out)
    text = render(template, **context)
    exc = web.HTTPException(text=text, content_type="text/html", headers={
        **PAGE_HEADERS, "Content-Security-Policy": "default-src 'none'; base-uri 'none'; form-action 'self';"
                                              " frame-ancestors 'none'"})
    exc.set_status(status)
    return exc


def refusal_page(title: str, message: str, *, link: str = "", sign_out: bool = True) -> tuple[str, dict[str, object]]:
    """A sign-in page: its template (bot/templates/signin/refusal.html) and what it shows (every text escaped)."""
    return "signin/refusal.html", {"title": title, "message": message, "link": link,
                                   "sign_out": LOGOUT if sign_out else ""}

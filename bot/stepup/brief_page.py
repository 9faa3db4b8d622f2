"""A brief's page (fit to decide, bot/approvals/attesting.py), on the worker's HTTP server (mounted by
`bot/server.py`), behind Sign in with Slack (any of our own people, as a click is judged):

    GET /attest/{scope}    the brief its owner wrote (`policy:NAME`, `channel:C…`), escaped (a template,
                           bot/templates/attest/), and the person's attestation to it, if any; a form to attest
    POST /attest/{scope}   the person attests (audited `attested`): from this bot's pages only

A scope that is none, or a brief not written, is a 404; Redis out of reach, a 503. Never cached, no referrer."""

from __future__ import annotations

import secrets
import time
from collections.abc import Awaitable, Callable

from aiohttp import web

import bot.approvals.attesting as attesting
from bot.core.attestations import SCOPE, shown
from bot.core.durations import format_duration
from bot.core.writing import PlainWriting
from bot.signin import SignIn
from bot.stepup.pages import STORAGE_DOWN, Page, page_response
from bot.store import Store, StoreUnavailable

StoreOf = Callable[[str], Awaitable[Store]]  # the store of a signed-in person's workspace (their team)

PLAIN = PlainWriting()  # the page's words: plain text (the template escapes it), dates in UTC


def add_brief_routes(app: web.Application, store: Store, signin: SignIn, *, store_of: StoreOf | None = None) -> None:
    """`GET` and `POST /attest/{scope}`. `store_of`: the store of the person's workspace (`bot.tenancy`); None:
    `store` serves all."""

    async def brief_page(request: web.Request) -> web.Response:
        scope = request.match_info["scope"]
        nonce = secrets.token_urlsafe(16)
        if not SCOPE.fullmatch(scope):
            return page_response(_message(f"{scope[:60]!r} names no brief."), nonce=nonce, status=404)
        session = await signin.require(request, person="", page=f"/attest/{scope}")
        try:
            theirs = await (store_of(session.team) if store_of is not None else _home())
            brief = await theirs.attestations.brief(scope)
            if brief is None:
                return page_response(_message(attesting.no_brief(scope, PLAIN)), nonce=nonce, status=404)
            until = (await theirs.attestations.held(session.user)).get(scope, 0.0)
        except StoreUnavailable:
            return page_response(_message(STORAGE_DOWN), nonce=nonce, status=503)
        names = {"by": brief.by, "valid": format_duration(brief.valid)}
        held = PLAIN.date(until) if until > time.time() else ""
        return page_response(("attest/brief.html", {"scope": scope, "scope_shown": shown(scope), "text": brief.text,
                                                     "until": held, **names}), nonce=nonce)

    async def attested(request: web.Request) -> web.Response:
        scope = request.match_info["scope"]
        nonce = secrets.token_urlsafe(16)
        if not SCOPE.fullmatch(scope):
            return page_response(_message(f"{scope[:60]!r} names no brief."), nonce=nonce, status=404)
        if not signin.from_our_pages(request):
            return page_response(_message("This did not come from the brief's page: nothing changed."), nonce=nonce,
                                 status=403)
        session = await signin.require(request, person="", page=f"/attest/{scope}")
        try:
            theirs = await (store_of(session.team) if store_of is not None else _home())
            said = await attesting.attest(theirs, session.user, scope, writing=PLAIN)
            until = (await theirs.attestations.held(session.user)).get(scope, 0.0)
        except StoreUnavailable:
            return page_response(_message(STORAGE_DOWN), nonce=nonce, status=503)
        if until <= time.time():
            return page_response(_message(said), nonce=nonce, status=404)
        return page_response(_message(f"You attested to the brief of {shown(scope)}: you may decide its approvals"
                                      f" until {PLAIN.date(until)}. Audited."), nonce=nonce)

    async def _home() -> Store:
        return store

    app.router.add_get("/attest/{scope}", brief_page)
    app.router.add_post("/attest/{scope}", attested)


def _message(message: str) -> Page:
    return "attest/message.html", {"message": message}



"""Sign in with Slack from a test, without a browser: the local Slack's authorize page answered for a person (its
form posted as the page posts it), the bot's callback followed, the session cookie kept in the client's jar.

`signing_in(worker_url)` is an aiohttp client middleware for tests of the pages themselves: a page that asks its
person to sign in (a redirect to the authorize page, or a 401/403 naming `sign_in`) is signed in to as the person it
is for (the `login_hint` the bot gives) and asked again, so those tests read as before."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from aiohttp import ClientHandlerType, ClientRequest, ClientResponse

AUTHORIZE = "/openid/connect/authorize"


async def sign_in(http: aiohttp.ClientSession, worker_url: str, page: str, *, person: str | None = None,
                  answer: str = "allow") -> ClientResponse:
    """Open `page` (a path of the worker) signed out, sign in on the local Slack as `person` (default: the one the
    bot hints, the page's), and follow the callback; the callback's answer (a 302 to the page once signed in)."""
    async with http.get(worker_url + page, allow_redirects=False, middlewares=()) as opened:
        assert opened.status == 302, (opened.status, await opened.text())
        location = opened.headers["Location"]
    return await answer_authorize(http, worker_url, location, person=person, answer=answer)


def browser() -> aiohttp.ClientSession:
    """One browser: its own cookies (IP hosts allowed)."""
    return aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))


async def signed_in(http: aiohttp.ClientSession, worker_url: str, path: str, *, person: str) -> None:
    """The page at `path` opened signed out (sent to the provider), signed in as `person`, and sent back to it."""
    called = await sign_in(http, worker_url, path, person=person)
    assert called.status == 302 and called.headers["Location"] == path, (called.status, called.headers)


async def answer_authorize(http: aiohttp.ClientSession, worker_url: str, location: str, *, person: str | None = None,
                           answer: str = "allow") -> ClientResponse:
    """The authorize page at `location` answered as `person`, and the bot's callback followed (on `worker_url`)."""
    url = urlsplit(location)
    assert url.path == AUTHORIZE, location
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    form = {name: query.get(name, "") for name in ("client_id", "state", "nonce", "redirect_uri")}
    form.update(user=person or query.get("login_hint", ""), answer=answer)
    async with http.post(f"{url.scheme}://{url.netloc}{AUTHORIZE}", data=form, allow_redirects=False,
                         middlewares=()) as chosen:
        assert chosen.status == 302, (chosen.status, await chosen.text())
        back = urlsplit(chosen.headers["Location"])
    async with http.get(f"{worker_url}{back.path}?{back.query}", allow_redirects=False, middlewares=()) as called:
        await called.read()
        return called


def signing_in() -> Any:
    """A client middleware signing in as the page's person whenever a page asks to (see the module)."""

    async def middleware(request: ClientRequest, handler: ClientHandlerType) -> ClientResponse:
        answer = await handler(request)
        worker_url = f"{request.url.scheme}://{request.url.host}:{request.url.port}"
        location = await _login_asked(answer, request.session)
        if location is None:
            return answer
        request.session.cookie_jar.update_cookies(answer.cookies, answer.url)  # the login's, before the session would
        called = await answer_authorize(request.session, worker_url, location)
        assert called.status == 302, called.status
        return await request.session.request(request.method, str(request.url), data=request.body,
                                              headers={"Content-Type": request.headers.get("Content-Type", "")},
                                              allow_redirects=False, middlewares=())

    return middleware


async def _login_asked(answer: ClientResponse, http: aiohttp.ClientSession) -> str | None:
    """The authorize page's URL when `answer` asks to sign in, else None."""
    if answer.status == 302 and AUTHORIZE in answer.headers.get("Location", ""):
        return answer.headers["Location"]
    if answer.status in (401, 403) and answer.content_type == "application/json":
        said = await answer.json()
        start = said.get("sign_in") if isinstance(said, dict) else None
        if start:
            base = f"{answer.url.scheme}://{answer.url.host}:{answer.url.port}"
            async with http.get(base + start, allow_redirects=False, middlewares=()) as started:
                return started.headers.get("Location") if started.status == 302 else None
    return None


@asynccontextmanager
async def pages_client() -> AsyncIterator[aiohttp.ClientSession]:
    """A client of the worker's pages that signs in as each page's person (its own cookie jar: IP hosts allowed)."""
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True),
                                     middlewares=(signing_in(),)) as http:
        yield http

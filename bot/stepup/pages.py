"""The step-up pages on the worker's HTTP server (mounted by `bot/server.py`):

    GET  /step-up/enrol/{token}           a small page: whose link it is, a field to name the passkey, a button
                                          (first, for a person who has a passkey: a button to confirm with it)
    POST /step-up/enrol/{token}/confirm/options   the authentication options one of the person's passkeys answers
    POST /step-up/enrol/{token}/confirm   {"credential"}: that assertion verified, the link confirmed (`vouched`)
    POST /step-up/enrol/{token}/options   the registration options (JSON), their challenge kept with the link
    POST /step-up/enrol/{token}           {"name", "credential"}: the passkey verified and stored, the link taken
    GET  /step-up/vote/{token}            the exact action a step-up Approve confirms, and a button
    POST /step-up/vote/{token}/options    the authentication options (JSON): the vote's challenge
    POST /step-up/vote/{token}            {"credential"}: the assertion verified, the Approve counted, the link taken

Each is used only by its link's person, signed in with Slack (`bot.signin`: a page not signed in is sent to sign
in, another person or an outsider is refused, audited); a link unknown, expired or used is answered first (410).
No external asset: the pages are templates (bot/templates/stepup/, rendered by `bot.core.templates`: every text they
show is escaped), the page's script is inline (allowed by its nonce in the Content-Security-Policy), and a page is
never cached nor sent as a referrer (the token is in its URL). Bad input
is a 400 with a JSON `{"error": ...}` saying what is wrong; a link unknown, expired or used is a 410; a vote whose
approval no longer waits for it, a 409; Redis out of reach, a 503 (try again). Every body is read by one helper
(`_read_json`: JSON, at most 64 KiB, nested at most `MAX_DEPTH` deep), and a catch-all (`page_errors`, mounted with
the routes) answers an error no check foresaw while reading a request (ValueError, TypeError, KeyError,
RecursionError...) as a 400 too: a parser never makes a 500 of bad input. Another fault of the bot is a 500 that says
so in JSON (logged, never its trace)."""

from __future__ import annotations

import json
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from agent_approvals.schemas import depth_of
from aiohttp import web
from aiohttp.typedefs import Handler

from bot.core.templates import PAGE_HEADERS, render
from bot.signin import LOGOUT, SignIn
from bot.stepup.enrolment import Enrolment, StepUpError
from bot.stepup.votes import Action, Confirmation
from bot.store import StoreUnavailable

log = logging.getLogger(__name__)
MAX_BODY = 64 * 1024  # a registration's JSON is a few kilobytes
MAX_DEPTH = 16  # objects and arrays within each other in a body (a browser's answer: 4)
PAGES = "/step-up/"
UNREAD = "The request could not be read ({what}): send the JSON this page sends."
FAULT = "The bot failed to answer this request (its log says why): try again, or tell its operator."
STORAGE_DOWN = "The bot cannot reach its storage right now: try again in a minute (the link still works)."


Parts = Callable[[str], Awaitable[tuple[Enrolment, Confirmation]]]
Page = tuple[str, dict[str, object]]  # a page: its template (under bot/templates/) and what it shows


def add_stepup_routes(app: web.Application, enrolment: Enrolment, confirmation: Confirmation,
                      signin: SignIn, *, parts_for: Parts | None = None) -> None:
    """The pages and endpoints; each is used only by its link's person, signed in (`bot.signin`). `parts_for`: the
    enrolment and votes of a link's tenant (`bot.tenancy`: a link minted in another workspace resolves its person and
    approval in that workspace's data); None: these serve every link."""
    app.middlewares.append(page_errors)

    async def enrolment_of(request: web.Request) -> Enrolment:
        return enrolment if parts_for is None else (await parts_for(request.match_info["token"]))[0]

    async def confirmation_of(request: web.Request) -> Confirmation:
        return confirmation if parts_for is None else (await parts_for(request.match_info["token"]))[1]

    async def enrolling(request: web.Request) -> str:
        """The enrolment link's token, once its person is the one signed in (else the answer, raised)."""
        token = request.match_info["token"]
        found = await (await enrolment_of(request)).usable(token)
        await signin.require(request, person=found.user, page=f"/step-up/enrol/{token}")
        return token

    async def voting(request: web.Request) -> str:
        token = request.match_info["token"]
        found = await (await confirmation_of(request)).usable(token)
        await signin.require(request, person=found.user, page=f"/step-up/vote/{token}", approval=found.approval)
        return token

    @_html
    async def enrol_page(request: web.Request) -> Page:
        _, name, confirm_first = await (await enrolment_of(request)).person(await enrolling(request))
        return _enrol_page(name, confirm_first=confirm_first)

    @_answer
    async def enrol_options(request: web.Request) -> dict[str, Any]:
        return await (await enrolment_of(request)).options(await enrolling(request))

    @_answer
    async def confirm_options(request: web.Request) -> dict[str, Any]:
        return await (await enrolment_of(request)).confirm_options(await enrolling(request))

    @_answer
    async def confirm(request: web.Request) -> dict[str, object]:
        body = await _read_json(request)  # bad input is a 400 before any link or sign-in is looked at
        name = await (await enrolment_of(request)).confirm(await enrolling(request), body)
        return {"ok": True, "message": f"Confirmed with your passkey “{name}”. Now name the new one."}

    @_answer
    async def enrol_finish(request: web.Request) -> dict[str, object]:
        # the passkey is stored and the link taken in one step: neither happened, or both
        body = await _read_json(request)
        passkey = await (await enrolment_of(request)).finish(await enrolling(request), body)
        return {"ok": True, "name": passkey.name}

    @_html
    async def vote_page(request: web.Request) -> Page:
        return _vote_page(await (await confirmation_of(request)).action(await voting(request)))

    @_answer
    async def vote_options(request: web.Request) -> dict[str, Any]:
        return await (await confirmation_of(request)).options(await voting(request))

    @_answer
    async def vote_finish(request: web.Request) -> dict[str, object]:
        body = await _read_json(request)
        result = await (await confirmation_of(request)).finish(await voting(request), body)
        approval = result.approval
        if result.status == "vote" and approval is not None:
            said = (f"Your approval counts: {len(approval.voters)} of {approval.required_approvals}. You can close"
                    " this page.")
        else:
            said = "Approved. You can close this page."
        return {"ok": True, "status": result.status, "message": said}

    app.router.add_get("/step-up/enrol/{token}", enrol_page)
    app.router.add_post("/step-up/enrol/{token}/options", enrol_options)
    app.router.add_post("/step-up/enrol/{token}/confirm/options", confirm_options)
    app.router.add_post("/step-up/enrol/{token}/confirm", confirm)
    app.router.add_post("/step-up/enrol/{token}", enrol_finish)
    app.router.add_get("/step-up/vote/{token}", vote_page)
    app.router.add_post("/step-up/vote/{token}/options", vote_options)
    app.router.add_post("/step-up/vote/{token}", vote_finish)


def _html(body: Callable[[web.Request], Awaitable[Page]]) -> Handler:
    """The handler answering with the page `body` makes; a refusal or Redis out of reach is a page saying so, with
    its status."""

    async def handler(request: web.Request) -> web.Response:
        nonce = secrets.token_urlsafe(16)
        try:
            return page_response(await body(request), nonce=nonce, scripts=True)
        except StepUpError as exc:
            return page_response(_message_page(exc.message), nonce=nonce, status=exc.status, scripts=True)
        except StoreUnavailable:
            return page_response(_message_page(STORAGE_DOWN), nonce=nonce, status=503, scripts=True)

    return handler


def _answer(work: Callable[[web.Request], Awaitable[object]]) -> Handler:
    """The handler answering with `work`'s JSON; a refusal is its status and `{"error": ...}`, Redis out of reach a
    503."""

    async def handler(request: web.Request) -> web.Response:
        try:
            return _json(await work(request))
        except StepUpError as exc:
            return _error(exc)
        except StoreUnavailable:
            return _error(StepUpError(503, STORAGE_DOWN))

    return handler


async def _read_json(request: web.Request) -> object:
    if request.content_type != "application/json":
        raise StepUpError(400, "Send JSON (Content-Type: application/json).")
    if request.content_length is not None and request.content_length > MAX_BODY:
        raise StepUpError(400, f"The request is too large (at most {MAX_BODY // 1024} KiB).")
    raw = await request.content.read(MAX_BODY + 1)
    if len(raw) > MAX_BODY:
        raise StepUpError(400, f"The request is too large (at most {MAX_BODY // 1024} KiB).")
    nested = StepUpError(400, f"The request is nested too deep (objects and arrays at most {MAX_DEPTH} levels).")
    try:
        data = json.loads(raw)
    except RecursionError:  # not a ValueError: the parser gave up a thousand levels down
        raise nested from None
    except (ValueError, TypeError):  # UnicodeDecodeError is a ValueError
        raise StepUpError(400, "The request is not valid JSON.") from None
    if depth_of(data) > MAX_DEPTH:
        raise nested
    return data


@web.middleware
async def page_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The pages' catch-all: an error no check foresaw while reading a request is a 400 saying so, another fault a
    500 saying so (logged); never aiohttp's bare 500. Other paths than the pages' pass untouched."""
    if not request.path.startswith(PAGES):
        return await handler(request)
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except (ValueError, TypeError, KeyError, IndexError, AttributeError, RecursionError) as exc:
        log.warning("%s %s could not be read: %s", request.method, _route(request), type(exc).__name__)
        return _caught(request, StepUpError(400, UNREAD.format(what=type(exc).__name__)))
    except Exception:
        log.exception("%s %s failed", request.method, _route(request))
        return _caught(request, StepUpError(500, FAULT))


def _route(request: web.Request) -> str:
    """The request's route, never its path (a link's token is in it)."""
    return request.match_info.route.resource.canonical if request.match_info.route.resource else PAGES


def _caught(request: web.Request, exc: StepUpError) -> web.Response:
    """A caught error's answer in the form the request expects: a page for a GET, JSON otherwise."""
    if request.method == "GET":
        return page_response(_message_page(exc.message), nonce=secrets.token_urlsafe(16), status=exc.status,
                             scripts=True)
    return _error(exc)


def _json(data: object, *, status: int = 200) -> web.Response:
    return web.json_response(data, status=status, headers=PAGE_HEADERS)


def _error(exc: StepUpError) -> web.Response:
    return _json({"error": exc.message}, status=exc.status)


def page_response(page: Page, *, nonce: str, status: int = 200, scripts: bool = False,
                  headers: Mapping[str, str] | None = None) -> web.Response:
    """A page of these pages' as its answer (`page_text`), never kept (PAGE_HEADERS), with their
    Content-Security-Policy: styles only by the page's nonce, no form posted elsewhere, never framed; with `scripts`,
    its scripts by the same nonce and their calls to this origin. `headers`: more of them (a page of secrets:
    `Pragma`, `Expires`)."""
    scripted = (f"script-src 'nonce-{nonce}'; ", "connect-src 'self'; ") if scripts else ("", "")
    policy = (f"default-src 'none'; {scripted[0]}style-src 'nonce-{nonce}'; {scripted[1]}base-uri 'none';"
              " form-action 'self'; frame-ancestors 'none'")
    return web.Response(text=page_text(page, nonce=nonce), status=status, content_type="text/html",
                        headers={**PAGE_HEADERS, "Content-Security-Policy": policy, **(headers or {})})


def page_text(page: Page, *, nonce: str) -> str:
    """A page's HTML: its template rendered (every text escaped), with the page's nonce and the sign-out form."""
    template, context = page
    return render(template, **context, nonce=nonce, sign_out=LOGOUT)


def _message_page(message: str) -> Page:
    return "stepup/message.html", {"message": message}


def _enrol_page(name: str, *, confirm_first: bool = False) -> Page:
    """The enrolment page; with `confirm_first`, a passkey the person has confirms the link before the form that
    makes the new one shows."""
    return "stepup/enrol.html", {"name": name, "confirm_first": confirm_first}


def _vote_page(action: Action) -> Page:
    """The exact action a step-up Approve confirms (its title, arguments, digest, amounts), and the button."""
    return "stepup/vote.html", {"action": action}

"""The page a signed decide link opens (issue 88; e-mail's Review-and-decide link, push's Approve / Reject actions,
issue 90), on the worker's HTTP server (mounted by each surface: bot/email/pages.py, bot/push/pages.py), under the
links' path (`Links.path`, the surface's word, `/<surface>/...`):

    GET  /<surface>/{approval}/{nonce}.{mac}   (and HEAD) the change, whole, and the decision's form; never decides
                                           (mail scanners and link previews open links): the link checked, not taken
    POST /<surface>/{approval}/{nonce}.{mac}   the decision (`verb` approved or rejected) with the page's CSRF token:
                                           the link taken once, then `decide(person, surface=..., verb=...)`;
                                           given back when the answer may be tried again (step-up, details,
                                           attestation, a freeze); step-up: a 303 to the passkey's page, which
                                           confirms the vote itself. `verb` triage_reverse (shown while a triage
                                           model's approval is held, TRIAGE_HOLD): `reverse(person, ...)`, the
                                           core's one reverse step (the channel's admins only); the link is not
                                           taken (its person decides with it after)

Who is signed in is the `who` it is given (the pages' sign-in, mapped to a person: it answers the request itself,
e.g. with the sign-in's redirect, when nobody is); the approval as stored is `load`'s (the page shown to its person
is told to `seen`: their details opened); the decision is `decide`'s (the core's one entry). A refused link answers
its status (404, 410, 403) and is told to `refused` (the audit).
Every text is escaped (bot/templates/links/page.html); the page is never cached nor sent as a referrer."""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

from bot.core.card_words import parked_line, reach_lines
from bot.core.records import APPROVAL_ID, ApprovalRecord
from bot.core.templates import PAGE_HEADERS, render
from bot.core.writing import PlainWriting
from bot.links.signed import Checked, Links, Refused

Who = Callable[[web.Request], Awaitable[str]]  # the signed-in person (raises the sign-in's answer when nobody is)
Load = Callable[[str], Awaitable[ApprovalRecord | None]]


@dataclass(frozen=True, slots=True)
class Answer:
    """The core's answer to a page's decision: its word (`ok`, `vote`, `step_up`, `frozen`, ...), what the person is
    told, and where they go next (the step-up page's one-time link), when anywhere."""

    status: str
    words: str = ""
    go: str = ""


Decide = Callable[..., Awaitable[Answer]]  # decide(person, *, surface, verb, approval) -> the core's answer
Reverse = Callable[..., Awaitable[Answer]]  # reverse(person, *, approval) -> the core's reverse step's answer
Refusals = Callable[[str, str, str], Awaitable[None]]  # (person, approval, why): audited
Seen = Callable[[str, str], Awaitable[object]]  # (approval, person): the change shown whole (@require_details)
VERBS: Final = ("approved", "rejected")
REVERSE: Final = "triage_reverse"  # a triage model's held approval reversed (the channel's admins: the core decides)
RETRYABLE: Final = frozenset({"step_up", "details", "attestation", "frozen", "unspread"})
DONE: Final = frozenset({"ok", "vote"})
HEADERS: Final = {**PAGE_HEADERS, "Pragma": "no-cache"}
SAID: Final = {
    "unknown": "This link is not one of ours.", "tampered": "This link is not one of ours.",
    "wrong_approval": "This link is not one of ours.", "expired": "This link has expired with its approval.",
    "used": "This link was used already: each link decides once.",
    "wrong_person": "This link was sent to someone else: only they may use it.",
}


async def _nobody(person: str, approval: str, why: str) -> None:
    return None


async def _unseen(approval: str, person: str) -> None:
    return None


def add_link_routes(app: web.Application, *, links: Links, who: Who, load: Load, decide: Decide,
                    refused: Refusals = _nobody, seen: Seen = _unseen, reverse: Reverse | None = None) -> None:
    """Mount the link's page on `app` at `/<links.path>/...`. `seen`: told each time the page showed its person the
    whole change (it counts as their details opened, for a policy's @require_details). `reverse`: the core's Reverse
    of a triage model's held approval (None: the page offers none)."""
    surface = links.path

    async def checked_link(request: web.Request, *, take: bool) -> tuple[str, Checked] | web.Response:
        approval, token = request.match_info["approval"], request.match_info["token"]
        if not APPROVAL_ID.fullmatch(approval):
            return _page(message=SAID["unknown"], status=404)
        person = await who(request)
        found = await (links.take(approval, token, person=person) if take else
                       links.check(approval, token, person=person))
        if isinstance(found, Refused):
            await refused(person, approval, f"{surface} link: {found.why}")
            return _page(message=SAID[found.why], status=found.status)
        return person, found

    async def show(request: web.Request) -> web.Response:
        found = await checked_link(request, take=False)
        if isinstance(found, web.Response):
            return found
        person, checked = found
        record = await load(checked.record.approval)
        if record is None or record.status != "pending":
            return _page(message="This approval is no longer waiting for a decision.", status=410)
        await seen(record.id, person)
        return _page(approval=record, csrf=links.csrf(checked, person), action=request.path,
                     reversible=reverse is not None and held(record))

    async def post(request: web.Request) -> web.Response:
        form = await request.post()
        verb, token = form.get("verb"), form.get("csrf")
        if (verb not in VERBS and (verb != REVERSE or reverse is None)) or not isinstance(token, str):
            return _page(message="The form was not complete: open the link again.", status=400)
        found = await checked_link(request, take=False)
        if isinstance(found, web.Response):
            return found
        person, checked = found
        if not links.csrf_ok(checked, person, token):
            return _page(message="The form has expired: open the link again.", status=403)
        if verb == REVERSE and reverse is not None:  # not a decision: the link stays its person's to decide with
            done = await reverse(person, approval=checked.record.approval)
            status = {"ok": 200, "refused": 403}.get(done.status, 409)
            more = " Open the link again to decide it." if done.status == "ok" else ""
            return _page(message=f"{done.words}{more}", status=status)
        taken = await checked_link(request, take=True)
        if isinstance(taken, web.Response):
            return taken
        answer = await decide(person, surface=surface, verb=verb, approval=checked.record.approval)
        if answer.status in RETRYABLE:
            await links.release(checked)
            if answer.go:
                raise web.HTTPSeeOther(answer.go, headers=HEADERS)
            said = answer.words or f"Not decided yet ({answer.status})."
            return _page(message=f"{said} Follow the steps asked, then use the link again.", status=409)
        if answer.status in DONE:
            return _page(message=f"Thank you: {answer.words or answer.status}", status=200)
        return _page(message=answer.words or f"Nothing changed ({answer.status}).", status=409)

    app.router.add_get(f"/{surface}/{{approval}}/{{token}}", show)  # (HEAD too: aiohttp's allow_head)
    app.router.add_post(f"/{surface}/{{approval}}/{{token}}", post)


def held(approval: ApprovalRecord) -> bool:
    """Whether a triage model's approval of it is held (TRIAGE_HOLD), reversible: pending, held, not reversed."""
    return approval.pending and bool(approval.triage_hold) and not approval.triage_reversed


def _page(*, approval: ApprovalRecord | None = None, message: str = "", csrf: str = "", action: str = "",
          status: int = 200, reversible: bool = False) -> web.Response:
    nonce = secrets.token_urlsafe(16)
    policy = (f"default-src 'none'; style-src 'nonce-{nonce}'; base-uri 'none'; form-action 'self';"
              " frame-ancestors 'none'")
    reached = reach_lines(approval, PlainWriting()) if approval is not None else []  # its route's steps (#90)
    parked = parked_line(approval, PlainWriting()) if approval is not None else ""
    text = render("links/page.html", approval=approval, message=message, csrf=csrf, action=action, nonce=nonce,
                  reached=reached, parked=parked, reversible=reversible)
    return web.Response(text=text, status=status, content_type="text/html",
                        headers={**HEADERS, "Content-Security-Policy": policy})

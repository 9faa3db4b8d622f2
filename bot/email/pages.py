"""The e-mail surface's page mounted on the worker's HTTP server (issue 88), with what it is given: who is signed in
(the pages' sign-in, `SignIn.require`; nobody: the sign-in, then back to the link), the approval as Redis holds it
(the page shown whole counts as its details opened, `ApprovalService.opened`, for @require_details),
the decision through the core's one entry (`decisions.decide(person, "email", verb, approval_id=...)`), a step-up
answer sent to the passkey's page (a one-time link that keeps the surface `email`), and every refusal audited
(`refused`, `surface: email`, naming who was signed in). A refusal says the core's words in plain text
(`PlainWriting`, people by name: the page's template escapes it).

An e-mail-only person (`email:<address>`) signs in only through the company's identity provider (OIDC_ISSUER), with
an email it verified that no Slack user has (`signed_in_by_email`, the sign-in's `by_email`): such a person is one
of ours for the pages and their step-up votes (`email_people_ours`, wired by the root); anyone else is checked as
before."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol

from aiohttp import web

from bot.approvals import ApprovalService, Writing
from bot.approvals.decisions import verb_of
from bot.approvals.refusals import refusal_text
from bot.core.people import is_email_person
from bot.core.records import ApprovalRecord
from bot.core.writing import PlainWriting
from bot.email.page import Answer, add_email_routes
from bot.email.surface import EmailSurface
from bot.people import EmailAccounts, People, Refused
from bot.signin import SignIn, SignInError

PeopleCheck = Callable[..., Awaitable[tuple[str, str] | None]]  # (user, *, said_team="") -> None, or (why, words)
ByEmail = Callable[[str], Awaitable[str | None]]


class StepUp(Protocol):
    """The step-up votes (bot/stepup/votes.py `Confirmation`): a one-time link, what to tell."""

    async def link(self, user: str, approval: ApprovalRecord, *, surface: str = "") -> str | None: ...

    async def answer(self, user: str, approval: ApprovalRecord, *, writing: Writing, surface: str = "") -> str: ...


def signed_in_by_email(by_email: ByEmail, people: People) -> ByEmail:
    """Who the sign-in's verified email (OIDC_ISSUER) is: the Slack user (or listed Teams person) with it, as
    `by_email` says; else the person it merged into, else the e-mail-only person `email:<it>`."""

    async def email_person(email: str) -> str | None:
        if (known := await by_email(email)) is not None:
            return known
        account = EmailAccounts.identity(email, verified=True)
        if account is None:
            return None
        found = await people.of(account)
        if isinstance(found, Refused):
            if found.reason == "cannot_check":
                raise SignInError(503, "The bot cannot tell who you are right now: try again in a minute.")
            return None
        return str(found.id)

    return email_person


def email_people_ours(check: PeopleCheck) -> PeopleCheck:
    """`check`, with an e-mail-only person one of ours (their address was verified by the company's provider)."""

    async def checked(user: str, *, said_team: str = "") -> tuple[str, str] | None:
        return None if is_email_person(user) else await check(user, said_team=said_team)

    return checked


def add_email_page(app: web.Application, surface: EmailSurface, *, signin: SignIn, approvals: ApprovalService,
                   step_up: StepUp) -> None:
    """`GET`/`POST /email/{approval}/{token}` on `app`, wired to the sign-in, the core and the audit."""
    store = approvals.store

    async def who(request: web.Request) -> str:
        return (await signin.require(request, person="", page=request.path)).user

    async def decide(person: str, *, surface: str, verb: str, approval: str) -> Answer:
        result = await approvals.decisions.decide(person, "email", verb_of(verb), approval_id=approval)
        approvals.decisions.redraw_after(result, surface="email")
        if result.status == "step_up" and result.approval is not None:
            go = await step_up.link(person, result.approval, surface="email")
            said = "" if go else await step_up.answer(person, result.approval, writing=PlainWriting(), surface="email")
            return Answer("step_up", said, go or "")
        if result.status == "ok":
            return Answer("ok", f"your decision ({verb}) is recorded.")
        return Answer(result.status, refusal_text(result, writing=await writing_of(result.approval)))

    async def writing_of(approval: ApprovalRecord | None) -> PlainWriting:
        """Plain words, the people they name by name (as Slack says it; an id as given, else)."""
        ids = {*approval.approvers, approval.decided_by} - {""} if approval is not None else set()
        return PlainWriting({user: await approvals.name_of(user) for user in ids})

    async def refused(person: str, approval: str, why: str) -> None:
        await store.audit.append("refused", by=person, approval=approval, reason=why[:300], surface="email")

    add_email_routes(app, links=surface.links, who=who, load=store.approvals.get, decide=decide, refused=refused,
                     seen=approvals.opened)

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

from aiohttp import web

from bot.approvals import ApprovalService
from bot.core.people import is_email_person
from bot.email.page import add_email_routes
from bot.email.surface import EmailSurface
from bot.links.deciding import StepUp, link_decider, link_reverser
from bot.people import EmailAccounts, People, Refused
from bot.signin import SignIn, SignInError

PeopleCheck = Callable[..., Awaitable[tuple[str, str] | None]]  # (user, *, said_team="") -> None, or (why, words)
ByEmail = Callable[[str], Awaitable[str | None]]


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

    async def refused(person: str, approval: str, why: str) -> None:
        await store.audit.append("refused", by=person, approval=approval, reason=why[:300], surface="email")

    decide = link_decider(approvals, step_up, channel="email")
    add_email_routes(app, links=surface.links, who=who, load=store.approvals.get, decide=decide, refused=refused,
                     seen=approvals.opened,
                     reverse=link_reverser(approvals, channel="email"))

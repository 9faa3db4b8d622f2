"""A person, as the core knows them (issue 88): one id whatever surface they decide on, their accounts, their standing.

A person id (`PersonId`) is the id the person was first known by, in its stored form (nothing stored is rewritten):

- `U…`/`W…`: a Slack user (`SLACK_ID`);
- `teams:<object id>`: a Teams-only person (issue 81: no Slack user shares their verified email);
- `email:<lowercased address>`: an e-mail-only person (known by the OIDC identity of the pages, or named by address).

An approver may also be `oncall:<schedule>` (issue 90): no person, but whoever is on call now in that schedule
(`schedule_of`; read at the ask and at each escalation, bot/approvals/oncall.py); no stored approval keeps it.

The core never asks what an id is: `bot/people/` (People) turns a surface's account into the one `PersonId`, and the
grammar below is for the ways in that read ids typed by people (settings, `/agent config approvers`).

`SURFACES` are the stored and audited words of the surfaces: "teams" stays "teams" (the audit's `surface` field, the
ids `teams:<oid>`, the keys `{p}:teams:*`), whatever the code calls Microsoft Teams.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Literal, NewType

SLACK_ID = re.compile(r"^[A-Z0-9]{2,24}$")  # a Slack id (a user U…/W…, a group S…, a channel C…/D…/G…)
PersonId = NewType("PersonId", str)
SurfaceName = Literal["slack", "teams", "email", "push"]
SURFACES: tuple[SurfaceName, ...] = ("slack", "teams", "email", "push")  # the stored words, in precedence order
TEAMS_PREFIX = "teams:"
EMAIL_PREFIX = "email:"
OBJECT_ID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
TEAMS_PERSON = re.compile(r"^teams:[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# an address as a person id names it: lowercased, no space or angle bracket, one @, a dot in the domain
ADDRESS = re.compile(r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]{1,64}@[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?(?:\.[a-z0-9-]{1,63})+$")
EMAIL_PERSON = re.compile(r"^email:" + ADDRESS.pattern[1:])
MAX_ADDRESS = 254
ONCALL_PREFIX = "oncall:"
SCHEDULE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")  # an on-call schedule's name or id as an approver says it


def schedule_of(approver: str) -> str | None:
    """The on-call schedule an approver `oncall:<schedule>` names; None for any other approver."""
    if not approver.startswith(ONCALL_PREFIX):
        return None
    schedule = approver.removeprefix(ONCALL_PREFIX)
    return schedule if SCHEDULE.fullmatch(schedule) else None


def teams_person(object_id: str) -> str:
    """The person id of a Teams-only person (no Slack user shares their verified email): `teams:<object id>`."""
    oid = object_id.strip().lower()
    if not OBJECT_ID.fullmatch(oid):
        raise ValueError(f"{object_id!r} is no Azure AD object id (a GUID: 8-4-4-4-12 hex digits)")
    return f"{TEAMS_PREFIX}{oid}"


def is_teams_person(person: str) -> bool:
    """Whether `person` is a Teams-only person's id (else a Slack user id or an e-mail person's)."""
    return bool(TEAMS_PERSON.fullmatch(person))


def email_person(address: str) -> str:
    """The person id of an e-mail-only person: `email:<lowercased address>`; ValueError for no address."""
    lowered = address.strip().lower()
    if len(lowered) > MAX_ADDRESS or not ADDRESS.fullmatch(lowered):
        raise ValueError("not an e-mail address")
    return f"{EMAIL_PREFIX}{lowered}"


def is_email_person(person: str) -> bool:
    """Whether `person` is an e-mail-only person's id (`email:<address>`)."""
    return len(person) <= MAX_ADDRESS + len(EMAIL_PREFIX) and bool(EMAIL_PERSON.fullmatch(person))


def surface_of(person: str) -> SurfaceName | None:
    """The surface whose account a person id is (the surface they were first known on); None for no person id
    (a Slack user group `S…` is no person: None too)."""
    if is_teams_person(person):
        return "teams"
    if is_email_person(person):
        return "email"
    if SLACK_ID.fullmatch(person) and person[0] in "UW":
        return "slack"
    return None


def account_id(person: str) -> str:
    """The account id within its surface of a person id (`teams:<oid>` -> `<oid>`, `email:a@b` -> `a@b`)."""
    for prefix in (TEAMS_PREFIX, EMAIL_PREFIX):
        if person.startswith(prefix):
            return person.removeprefix(prefix)
    return person


def person_of(surface: SurfaceName, account: str) -> PersonId:
    """The person id an account would be known by, were it the first of its person: its stored form."""
    if surface == "teams":
        return PersonId(teams_person(account))
    if surface == "email":
        return PersonId(email_person(account))
    if surface_of(account) != "slack":
        raise ValueError(f"{account!r} is no Slack user id")
    return PersonId(account)


class CannotCheck(Exception):
    """A surface's directory could not say who an account is right now (unreachable, rate limited, refused): the
    caller refuses rather than guesses (a guess could count one person twice)."""


@dataclass(frozen=True, slots=True)
class Standing:
    """What the rights read of a person (bot/approvals/rights.py): their organisation (a Slack workspace's team and
    Enterprise Grid organisation; empty when none is known, e.g. a Teams-only person: the home's), whether a guest,
    whether still active (not deactivated, not a bot)."""

    team: str = ""
    enterprise: str = ""
    guest: bool = False
    active: bool = True


@dataclass(frozen=True, slots=True)
class Account:
    """One of a person's accounts: on which surface, its id there (a Slack user id, an Azure AD object id, an
    address), its email and whether that surface vouches for it (`verified`: only a verified email merges two
    accounts into one person), a display name, and the standing that surface gives it."""

    surface: SurfaceName
    id: str
    email: str = ""
    verified: bool = False
    name: str = ""
    standing: Standing = field(default_factory=Standing)


@dataclass(frozen=True, slots=True)
class Person:
    """A person: their one id, a display name, their (verified) email, their accounts, their standing."""

    id: PersonId
    name: str
    email: str
    accounts: tuple[Account, ...]
    standing: Standing

    def on(self, surface: SurfaceName) -> Account | None:
        """Their account on `surface`, if they have one."""
        return next((a for a in self.accounts if a.surface == surface), None)

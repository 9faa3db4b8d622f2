"""`People`: who a person is across surfaces (issue 88), over each surface's `AccountDirectory` and the store.

The merge rule: a verified email names at most one person. The person id is the id first known for it, in its stored
form (`U…`, `teams:<oid>`, `email:<address>`), kept in the store's email hash with HSETNX, so that two workers racing
get one id and a later account (a Slack account made after the Teams one) never changes it. An account whose email its
surface does not vouch for (unverified, a guest's) never merges: it is its own person. When no id is kept yet for a
verified email, the surfaces before the account's own in precedence (slack, teams, email) are asked for it (the Teams
user with a Slack account is that Slack user, as since issue 81); one that cannot say makes `of_account` refuse
(`cannot_check`) rather than guess.

Example:
    `people = People(store=store.people, accounts=[slack, teams, email]); found = await people.of_account("teams", oid)`
"""

from __future__ import annotations

import contextlib
import json
import logging
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Literal, Protocol

from bot.core.people import (
    SURFACES,
    Account,
    Person,
    PersonId,
    Standing,
    SurfaceName,
    account_id,
    person_of,
    surface_of,
)
from bot.people.ports import AccountDirectory, CannotCheck

log = logging.getLogger(__name__)
Reason = Literal["unknown", "cannot_check"]
WORDS: dict[Reason, str] = {
    "unknown": "The bot does not know who you are: nothing was done.",
    "cannot_check": "The bot cannot tell who you are right now: nothing was done. Try again in a minute.",
}


class PersonStore(Protocol):
    """What People keeps (bot/store/people.py `People`): the email hash and the person records."""

    async def email_owner(self, email: str) -> str | None: ...

    async def claim_email(self, email: str, person: str) -> str: ...

    async def record(self, person: str) -> dict[str, str]: ...

    async def keep_record(self, person: str, fields: dict[str, str]) -> None: ...


@dataclass(frozen=True, slots=True)
class Refused:
    """No person for an account: why (`unknown`, `cannot_check`) and the words for them."""

    reason: Reason
    words: str


def _refused(reason: Reason) -> Refused:
    return Refused(reason, WORDS[reason])


def _merges(account: Account) -> bool:
    """Whether `account`'s email may name a person: vouched for by its surface, and the account active."""
    return bool(account.email) and account.verified and account.standing.active


class People:
    """People across surfaces (see the module)."""

    def __init__(self, *, store: PersonStore, accounts: Sequence[AccountDirectory]) -> None:
        self._store = store
        self._dirs: dict[SurfaceName, AccountDirectory] = {d.surface: d for d in accounts}

    @property
    def surfaces(self) -> tuple[SurfaceName, ...]:
        """The surfaces whose accounts it knows, in precedence order."""
        return tuple(s for s in SURFACES if s in self._dirs)

    async def of_account(self, surface: SurfaceName, account: str, *, fresh: bool = False) -> Person | Refused:
        """The person account `account` of `surface` is (merged by verified email), or why none."""
        directory = self._dirs.get(surface)
        if directory is None:
            return _refused("unknown")
        try:
            found = await directory.account(account, fresh=fresh)
        except CannotCheck as exc:
            log.warning("a %s account could not be checked (%s)", surface, exc)
            return _refused("cannot_check")
        return _refused("unknown") if found is None else await self.of(found)

    async def of(self, account: Account) -> Person | Refused:
        """The person an account already read (a Teams click's roster) is, merged by verified email, or why none."""
        try:
            own = person_of(account.surface, account.id)
        except ValueError:
            return _refused("unknown")
        person = own
        if _merges(account):
            try:
                person = await self._owner(account, own)
            except CannotCheck as exc:
                log.warning("who a %s account is could not be checked (%s)", account.surface, exc)
                return _refused("cannot_check")
        return await self._keep(person, account)

    async def _owner(self, account: Account, own: PersonId) -> PersonId:
        """The person id `account`'s verified email names: the one kept, else the first surface before its own that
        knows the email, else its own; kept with HSETNX (a racing worker's first id wins)."""
        email = account.email.strip().lower()
        kept = await self._store.email_owner(email)
        if kept is not None:
            return PersonId(kept)
        candidate = own
        for surface in SURFACES[:SURFACES.index(account.surface)]:
            if (directory := self._dirs.get(surface)) is None:
                continue
            other = await directory.by_email(email)
            if other is not None and _merges(other) and other.email.strip().lower() == email:
                candidate = person_of(other.surface, other.id)
                break
        return PersonId(await self._store.claim_email(email, candidate))

    async def _keep(self, person: PersonId, account: Account) -> Person:
        """`person`'s record with `account` in it (written when it changed)."""
        record = await self._store.record(person)
        accounts = {(a.surface, a.id): a for a in _accounts(record)}
        bare = Account(account.surface, account.id, account.email if account.verified else "", account.verified,
                       account.name)
        fields: dict[str, str] = {}
        if accounts.get((account.surface, account.id)) != bare:
            accounts[(account.surface, account.id)] = bare
            fields["accounts"] = json.dumps([_stored(a) for a in accounts.values()], separators=(",", ":"))
        name = record.get("name") or account.name
        email = record.get("email") or (account.email.strip().lower() if _merges(account) else "")
        if name != record.get("name", ""):
            fields["name"] = name
        if email != record.get("email", ""):
            fields["email"] = email
        if fields:
            await self._store.keep_record(person, fields)
        return Person(person, name, email, _ordered(accounts.values()), account.standing)

    async def person(self, person: str) -> Person | None:
        """The person of id `person` as kept (their accounts, name, email), else as its own surface says; None when
        nobody (or no person id). Their standing is their first account's in precedence, asked now; CannotCheck."""
        record = await self._store.record(person)
        accounts = _ordered(_accounts(record))
        if not accounts:
            surface = surface_of(person)
            directory = self._dirs.get(surface) if surface else None
            found = await directory.account(account_id(person)) if directory else None
            if found is None:
                return None
            accounts = (found,)
        standing = await self._standing(accounts)
        name = record.get("name") or next((a.name for a in accounts if a.name), "")
        return Person(PersonId(person), name, record.get("email", ""), accounts, standing or Standing())

    async def _standing(self, accounts: Sequence[Account]) -> Standing | None:
        for account in accounts:
            directory = self._dirs.get(account.surface)
            found = await directory.account(account.id) if directory else None
            if found is not None:
                return found.standing
        return None

    @staticmethod
    def surface(person: str) -> SurfaceName:
        """The surface a person was first known on (their id's): where they decide when a caller does not say (a
        Teams-only person votes only in Teams, or on a page they reached from there)."""
        return surface_of(person) or "slack"

    async def standing(self, person: str) -> Standing | None:
        """What the rights read of `person` (their first account's in precedence); None when nobody; CannotCheck."""
        found = await self.person(person)
        return found.standing if found else None

    async def by_email(self, email: str) -> PersonId | None:
        """The person a verified email names: the one kept, else the first surface that knows it; None when none."""
        email = email.strip().lower()
        if (kept := await self._store.email_owner(email)) is not None:
            return PersonId(kept)
        for surface in self.surfaces:
            found = await self._dirs[surface].by_email(email)
            if found is not None and _merges(found):
                return person_of(found.surface, found.id)
        return None

    async def same(self, one: str, other: str) -> bool:
        """Whether person ids `one` and `other` name one person: equal, or the person each one's verified email names
        is the same (`by_email`). An `email:<address>` id stands for its address (whoever holds it: the Slack user
        whose Slack-verified email it is, say), so a Slack user signed in is the approver `email:<their address>`;
        an account whose email its surface does not vouch for names only itself. CannotCheck when a surface cannot
        say."""
        return one == other or await self._named(one) == await self._named(other)

    async def _named(self, person: str) -> str:
        """The person a verified email of `person` names (an `email:` id: its address), else `person` itself."""
        email = account_id(person) if surface_of(person) == "email" else await self.email_of(person)
        return str(await self.by_email(email) or person) if email else person

    async def email_of(self, person: str) -> str:
        """`person`'s verified email (kept, else the first of their accounts' that its surface vouches for); "" when
        none. CannotCheck when a surface cannot say."""
        found = await self.person(person)
        if found is None:
            return ""
        return found.email or next((a.email for a in found.accounts if a.verified and a.email), "")

    async def aliases(self, person: str) -> list[str]:
        """The other ids `person` decides as: the `email:` approver their verified email is (`same`). None when a
        surface cannot say now."""
        try:
            email = await self.email_of(person)
        except CannotCheck:
            return []
        return [person_of("email", email)] if email else []

    async def holders(self, approvers: Iterable[str]) -> list[PersonId]:
        """The people whose verified emails the `email:` ids among `approvers` are (those a surface knows; one that
        cannot say now is left out)."""
        found = []
        for approver in (a for a in approvers if surface_of(a) == "email"):
            with contextlib.suppress(CannotCheck):
                holder = await self.by_email(account_id(approver))
                if holder is not None and holder != approver:
                    found.append(holder)
        return found

    async def in_groups(self, person: str, groups: Sequence[str]) -> bool:
        """Whether any of `person`'s accounts is in any of `groups` (each surface answers for its own groups)."""
        found = await self._store.record(person)
        accounts = _ordered(_accounts(found)) or _own(person)
        for account in accounts:
            directory = self._dirs.get(account.surface)
            if directory is not None and await directory.in_groups(account.id, groups):
                return True
        return False

    async def names(self, people: Sequence[str]) -> dict[str, str]:
        """A display name for each person id: as kept, else as their own surface says; the id itself when none."""
        names: dict[str, str] = {}
        for person in dict.fromkeys(people):
            try:
                found = await self.person(person)
            except CannotCheck:
                found = None
            names[person] = (found.name if found else "") or person
        return names

    async def validate(self, token: str) -> str | None:
        """What is wrong with `token` as a person id (the words), None when it names someone a surface knows or can
        be reached (a Teams or e-mail person is not checked further)."""
        surface = surface_of(token)
        if surface is None:
            return f"`{token[:80]}` names no person"
        directory = self._dirs.get(surface)
        if directory is None:
            return None if surface != "slack" else f"{token} cannot be checked"
        try:
            found = await directory.account(account_id(token))
        except CannotCheck as exc:
            return f"{token} cannot be checked now ({exc})"
        if found is None:
            return f"{token} cannot be found"
        return None if found.standing.active else f"{token} is deactivated"


def _own(person: str) -> tuple[Account, ...]:
    surface = surface_of(person)
    return (Account(surface, account_id(person)),) if surface else ()


def _stored(account: Account) -> dict[str, object]:
    kept = asdict(account)
    kept.pop("standing")
    return kept


def _accounts(record: dict[str, str]) -> list[Account]:
    try:
        raw = json.loads(record.get("accounts") or "[]")
    except ValueError:
        return []
    found = []
    for item in raw if isinstance(raw, list) else []:
        if isinstance(item, dict) and item.get("surface") in SURFACES and isinstance(item.get("id"), str):
            found.append(Account(item["surface"], item["id"], str(item.get("email") or ""),
                                 bool(item.get("verified")), str(item.get("name") or "")))
    return found


def _ordered(accounts: Iterable[Account]) -> tuple[Account, ...]:
    return tuple(sorted(accounts, key=lambda a: SURFACES.index(a.surface)))

"""Teams accounts for `People` (issue 88): `TeamsAccounts`, the Teams surface's `AccountDirectory` over `TeamsPeople`.

A Teams account is an Azure AD object id of the company's tenant. Its email is vouched for (`verified`) when the
tenant's roster gives it for a member (role `user`) of the home tenant, or when the operator's Teams file lists it;
a guest's (role `guest`) never is: it names another organisation's person, so it never merges.
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.msteams import TeamsMember
from bot.core.people import OBJECT_ID, Account, Standing, SurfaceName, teams_person
from bot.msteams.people import TeamsPeople


class TeamsAccounts:
    """Teams members as accounts (see the module)."""

    def __init__(self, people: TeamsPeople) -> None:
        self._people = people

    @property
    def surface(self) -> SurfaceName:
        return "teams"

    async def account(self, account_id: str, *, fresh: bool = False) -> Account | None:
        """The Teams account of object id `account_id` as known without a click: the Teams file's, else as kept
        when the app learnt them, else the bare id (no email: unverified; of the company's tenant, the only one
        bot/msteams/ lets through); None for no object id."""
        oid = account_id.strip().lower()
        if not OBJECT_ID.fullmatch(oid):
            return None
        listed = await self._people.file_person(oid) if self._people.serving else None
        if listed is not None:
            return Account("teams", oid, email=listed.email, verified=bool(listed.email), name=listed.name)
        kept = await self._people.kept_account(teams_person(oid))
        return Account("teams", oid, name=kept.name if kept else "")

    def of_member(self, member: TeamsMember) -> Account | None:
        """The account a click's member is, as the roster says (the email verified for a member of the home tenant
        only); None for another tenant's, or when Teams is not served."""
        oid = member.object_id.strip().lower()
        if not OBJECT_ID.fullmatch(oid) or not self._people.serving or not self._people.home_tenant(member.tenant_id):
            return None
        role = member.role.strip().lower()
        email = member.email.strip().lower()
        standing = Standing(guest=role == "guest", active=role in ("", "user", "guest"))
        return Account("teams", oid, email=email, verified=bool(email) and role in ("", "user"), name=member.name,
                       standing=standing)

    async def by_email(self, email: str) -> Account | None:
        """The Teams person the Teams file lists with `email` (their object id known), else None."""
        listed = self._people.listed_by_email(email)
        if listed is None or not self._people.serving:
            return None
        oid = listed.object_id or await self._people.object_id_of(listed.email)
        return Account("teams", oid, email=listed.email, verified=True, name=listed.name) if oid else None

    async def in_groups(self, account_id: str, groups: Sequence[str]) -> bool:
        return False

"""Slack accounts for `People` (issue 88): `SlackAccounts`, the Slack surface's `AccountDirectory` over `Directory`.

A Slack user's email is Slack's verified one (`users.info` with `users:read.email`, `users.lookupByEmail`). It vouches
for them when they are one of ours: not deactivated, not a bot, not a guest that ALLOWED_GUESTS does not name (a
guest's email is another organisation's: it names nobody of ours, so it never merges).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.people import Account, CannotCheck, Standing, SurfaceName
from bot.people.ports import DirectoryUser
from bot.slack.directory import Directory, LookupFailed


class SlackAccounts:
    """Slack users as accounts (see the module)."""

    def __init__(self, directory: Directory, *, allowed_guests: Sequence[str] = ()) -> None:
        self._directory = directory
        self._guests = frozenset(allowed_guests)

    @property
    def surface(self) -> SurfaceName:
        return "slack"

    async def account(self, account_id: str, *, fresh: bool = False) -> Account | None:
        try:
            found = await self._directory.person(account_id, fresh=fresh)
        except LookupFailed as exc:
            raise CannotCheck(str(exc)) from exc
        return None if found is None else self._account(found)

    async def by_email(self, email: str) -> Account | None:
        try:
            user = await self._directory.user_by_email(email, strict=True)
        except LookupFailed as exc:
            raise CannotCheck(str(exc)) from exc
        return None if user is None else await self.account(user, fresh=True)

    async def in_groups(self, account_id: str, groups: Sequence[str]) -> bool:
        return await self._directory.counts_in_groups(account_id, groups)

    def _account(self, person: DirectoryUser) -> Account:
        active = not person.deleted and not person.bot
        ours = active and (not person.guest or person.id in self._guests)
        standing = Standing(team=person.team_id, enterprise=person.enterprise_id, guest=person.guest, active=active)
        return Account("slack", person.id, email=person.email, verified=bool(person.email) and ours,
                       name=person.name or "", standing=standing)

"""The port each surface implements for its accounts (issue 88): `AccountDirectory`, one per surface, built by the
composition root and handed to `People` (bot/people/directory.py) in precedence order (slack, teams, email); and
`UserDirectory`, the first surface's users as another surface matches its people with them by verified email (Slack's
`Directory`, which the root gives Teams' people: bot/msteams/people.py imports nothing of Slack)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from bot.core.people import Account, SurfaceName
from bot.core.people import CannotCheck as CannotCheck  # raised by the surfaces' directories (bot.core: below them)


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """What `UserDirectory` says of a user (Slack's `users.info`, bot/slack/directory.py): which team and
    Enterprise Grid organisation they belong to ("" when none), and whether they are a guest (a restricted account),
    deactivated or a bot; what another surface's people are matched against and `bot.approvals.rights.outsider`
    reads."""

    id: str
    name: str | None
    team_id: str
    enterprise_id: str
    guest: bool
    deleted: bool
    bot: bool
    email: str = ""  # their Slack email (Slack's verified one; with scope `users:read.email`), "" when not said


class UserDirectory(Protocol):
    """The users a person of another surface is matched with by verified email, first in precedence (the root fills
    it with Slack's `Directory`, bot/slack/directory.py). CannotCheck (Slack's `LookupFailed` is one) when it cannot
    say now."""

    async def user_by_email(self, email: str, *, strict: bool = False) -> str | None:
        """The id of the user whose verified email is `email`; None when none (`strict`: only on the directory's
        word, CannotCheck when it cannot say)."""
        ...

    async def person(self, user_id: str, *, fresh: bool = False) -> DirectoryUser | None:
        """Who `user_id` is (`fresh`: asked now, whatever is kept); None when nobody."""
        ...

    async def name_of(self, user_id: str) -> str | None:
        """`user_id`'s display name; None when the directory does not say."""
        ...

    async def people(self, ids: Sequence[str]) -> set[str]:
        """The users that the users and user groups in `ids` name."""
        ...


class AccountDirectory(Protocol):
    """Who an account of one surface is: its email (and whether that surface vouches for it), name and standing."""

    @property
    def surface(self) -> SurfaceName: ...

    async def account(self, account_id: str, *, fresh: bool = False) -> Account | None:
        """The account `account_id` of this surface; None when it knows none; CannotCheck when it cannot say now."""
        ...

    async def by_email(self, email: str) -> Account | None:
        """The account of this surface whose verified email is `email`; None when none; CannotCheck when it cannot
        say now."""
        ...

    async def in_groups(self, account_id: str, groups: Sequence[str]) -> bool:
        """Whether the account is a member of any of `groups` (this surface's groups; False for others')."""
        ...

"""The port each surface implements for its accounts (issue 88): `AccountDirectory`, one per surface, built by the
composition root and handed to `People` (bot/people/directory.py) in precedence order (slack, teams, email)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from bot.core.people import Account, SurfaceName
from bot.core.people import CannotCheck as CannotCheck  # raised by the surfaces' directories (bot.core: below them)


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

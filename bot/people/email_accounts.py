"""E-mail accounts (issue 88): an e-mail account is its address. It is verified only when it comes from the pages'
OIDC identity with `email_verified` (`identity`); an address typed by someone (an approver named by it) vouches for
nobody, so it never merges with another surface's account. No address is looked up anywhere: `by_email` knows none
(an address names a person only once the store's email hash says so)."""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.people import ADDRESS, MAX_ADDRESS, Account, SurfaceName


class EmailAccounts:
    """The `AccountDirectory` of the e-mail surface (see the module)."""

    @property
    def surface(self) -> SurfaceName:
        return "email"

    async def account(self, account_id: str, *, fresh: bool = False) -> Account | None:
        """The address as an account (unverified: nobody vouched for it here); None for no address."""
        address = account_id.strip().lower()
        if len(address) > MAX_ADDRESS or not ADDRESS.fullmatch(address):
            return None
        return Account("email", address, email=address)

    async def by_email(self, email: str) -> Account | None:
        return None

    async def in_groups(self, account_id: str, groups: Sequence[str]) -> bool:
        return False

    @staticmethod
    def identity(email: str, *, verified: bool, name: str = "") -> Account | None:
        """The account of a signed-in OIDC identity: its address, verified when the issuer said `email_verified`."""
        address = email.strip().lower()
        if len(address) > MAX_ADDRESS or not ADDRESS.fullmatch(address):
            return None
        return Account("email", address, email=address, verified=verified, name=name)

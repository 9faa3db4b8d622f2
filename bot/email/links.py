"""Review-and-decide links (issue 88): `PUBLIC_URL/email/<approval id>/<nonce>.<mac>`, one per person and approval,
signed, single use, expiring with the approval: the signed links of bot/links/signed.py (shared with the push
surface since issue 90) under e-mail's own key label (`LABEL`) and path, their records in bot/store/email.py."""

from __future__ import annotations

from typing import Final, Self

from bot.links.signed import STATUS, TOKEN, Checked, Refusal, Refused, Same
from bot.links.signed import LinkKeys as SignedKeys
from bot.links.signed import Links as SignedLinks
from bot.store.email import EmailStore

__all__ = ["LABEL", "STATUS", "TOKEN", "Checked", "LinkKeys", "Links", "Refusal", "Refused", "Same"]

LABEL: Final = b"agent-approvals email-links v1"


class LinkKeys(SignedKeys):
    """E-mail links' keys: derived from SECRETS_KEY under `LABEL`."""

    @classmethod
    def from_secrets_key(cls, text: str, *, label: bytes = LABEL, what: str = "e-mail links") -> Self:
        return super().from_secrets_key(text, label=label, what=what)


class Links(SignedLinks):
    """E-mail's links, `PUBLIC_URL/email/...`, their records in the e-mail store."""

    def __init__(self, store: EmailStore, keys: SignedKeys, *, public_url: str, same: Same | None = None) -> None:
        super().__init__(store, keys, public_url=public_url, same=same, path="email")

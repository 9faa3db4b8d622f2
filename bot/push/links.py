"""The Approve / Reject actions' links (issue 90): `PUBLIC_URL/push/<approval id>/<nonce>.<mac>`, one per person and
approval, signed, single use, expiring with the approval: the signed links of bot/links/signed.py under push's own
key label (`LABEL`, never e-mail's) and path, their records in bot/store/push.py. Both actions of one push open the
same link's page (`?verb=` says which was tapped; only the page's POST decides)."""

from __future__ import annotations

from typing import Final

from bot.links.signed import LinkKeys, Links, Same
from bot.store.push import PushStore

LABEL: Final = b"agent-approvals push-links v1"


def push_links(store: PushStore, secrets_key: str, *, public_url: str, same: Same | None = None) -> Links:
    """The push surface's links, signed with a key derived from SECRETS_KEY's text (ValueError without one)."""
    keys = LinkKeys.from_secrets_key(secrets_key, label=LABEL, what="push actions' links")
    return Links(store, keys, public_url=public_url, same=same, path="push")

"""Hidden values (#68 item 3): the values of an approval's arguments that detection hid (a card number, a key, a
`writeOnly` field...), kept in Redis only sealed (AES-256-GCM, `bot.core.sealing`) under the deployment's
SECRETS_KEY, bound to their approval (a sealed copy moved onto another approval does not open), and gone when their
approval ends (`drop`, and a TTL as the floor).

Rotation, as `python -m bot signing`: the keyring has one current key id, which seals; older ids still open what
they sealed. A value is stored as `<kid>.<sealed>`. With no key set, `put` refuses (`HiddenKeyMissing`): a hidden
value is never written in the clear.

Example:
    `store.hidden.use(HiddenKeyring.from_setting("k2:<b64>,k1:<b64>"))`, then
    `await store.hidden.put("A1", {"card": "4111…"}, ttl_seconds=3600)`; `await store.hidden.get("A1")`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from bot.core.sealing import HiddenKeyring
from bot.store.connection import aw
from bot.store.shared import Shared

__all__ = ["HiddenKeyMissing", "HiddenKeyring", "HiddenValues"]


class HiddenKeyMissing(RuntimeError):
    """No SECRETS_KEY: hidden values cannot be kept (never in the clear)."""


class HiddenValues:
    """An approval's hidden values, sealed (the module docstring)."""

    def __init__(self, shared: Shared, *, keyring: HiddenKeyring | None = None) -> None:
        self._s = shared
        self._k = shared.keys
        self._keyring = keyring

    def use(self, keyring: HiddenKeyring | None) -> None:
        """Seal and open with `keyring` from now on (the worker's SECRETS_KEY)."""
        self._keyring = keyring

    @property
    def keyring(self) -> HiddenKeyring | None:
        """The keyring in use (None: no SECRETS_KEY)."""
        return self._keyring

    @property
    def ready(self) -> bool:
        """Whether a key is set (hidden values can be kept)."""
        return self._keyring is not None

    def _ring(self) -> HiddenKeyring:
        if self._keyring is None:
            raise HiddenKeyMissing("SECRETS_KEY is not set: hidden values are not kept")
        return self._keyring

    async def put(self, approval_id: str, values: Mapping[str, Any], *, ttl_seconds: int) -> None:
        """Keep `values` (path -> value) of `approval_id` sealed for `ttl_seconds` (replacing any before)."""
        ring = self._ring()
        plain = json.dumps(dict(values), separators=(",", ":"), ensure_ascii=False)
        await aw(self._s.redis.set(self._k.hidden(approval_id), ring.seal(plain, bound=approval_id),
                                   ex=max(1, ttl_seconds)))

    async def get(self, approval_id: str) -> dict[str, Any] | None:
        """The hidden values of `approval_id` (path -> value), None when there are none (ended, or never hidden);
        SealError when they do not open (a key removed from SECRETS_KEY, or altered)."""
        raw = await aw(self._s.redis.get(self._k.hidden(approval_id)))
        if raw is None:
            return None
        text = raw.decode() if isinstance(raw, bytes) else str(raw)
        found = json.loads(self._ring().open(text, bound=approval_id, what=f"hidden values of {approval_id}"))
        return dict(found) if isinstance(found, dict) else None

    async def keep_for(self, approval_id: str, *, seconds: int) -> None:
        """Keep `approval_id`'s hidden values `seconds` more at most (its approval was decided: its program reads
        them once more); none kept: nothing happens."""
        ttl = await aw(self._s.redis.ttl(self._k.hidden(approval_id)))
        if isinstance(ttl, int) and (ttl < 0 or ttl > seconds):
            await aw(self._s.redis.expire(self._k.hidden(approval_id), max(1, seconds)))

    async def drop(self, approval_id: str) -> None:
        """Forget the hidden values of `approval_id` (its approval ended)."""
        await aw(self._s.redis.delete(self._k.hidden(approval_id)))

"""The deployment's SECRETS_KEY check value (`{p}:secrets:check`, #87): a fixed text sealed under the deployment's
SECRETS_KEY (`kid.v1.…`, `HiddenKeyring`), which every worker must open at its start, so that a worker given another
SECRETS_KEY refuses to start, naming the key id it lacks, instead of serving and failing to open what the others
sealed (hidden values, API keys' webhook secrets).

The rule (`SecretsCheck.keep`, at each worker's start):
- none stored: a worker with SECRETS_KEY writes it, sealed with its current key (the first worker of a deployment,
  or the first of this version in one that already has sealed values); a worker without writes nothing;
- stored: a worker without SECRETS_KEY, or whose keys do not open it, is refused (`WrongSecretsKey`);
- stored under an older key id that the worker holds (a rotation, `SECRETS_KEY=k2:NEW,k1:OLD`): the worker reseals
  it with its current key (`k2`), from when on a worker without `k2` is refused. Every write is one Lua step that
  replaces only the value it read (`lua/secrets_check.lua`): two workers starting together agree.

Example:
    `await store.secrets_check.keep()` -> `("resealed", "k1")`; `WrongSecretsKey` naming SECRETS_KEY otherwise.
"""

from __future__ import annotations

from typing import Literal

from bot.core.sealing import HiddenKeyring, SealError
from bot.store.connection import REDIS_DOWN, StoreUnavailable, aw
from bot.store.hidden import HiddenValues
from bot.store.shared import Shared

CHECK_TEXT = "agent-approvals SECRETS_KEY check v1"  # what is sealed: nothing secret, only whether it opens
BOUND = "secrets-check"  # bound to its place: no other sealed value opens as it, nor it as another
HOW = "give every worker the same SECRETS_KEY (docs/operators/secrets.md#secrets_key)"

Kept = Literal["none", "written", "ok", "resealed"]


class WrongSecretsKey(Exception):
    """This worker's SECRETS_KEY cannot open the deployment's check value: it must not start (the message names
    SECRETS_KEY and the key id, never a key)."""


class SecretsCheck:
    """`{p}:secrets:check` (the module docstring), under the keyring of `hidden` (the worker's SECRETS_KEY)."""

    def __init__(self, shared: Shared, *, hidden: HiddenValues) -> None:
        self._s = shared
        self._hidden = hidden

    async def keep(self) -> tuple[Kept, str]:
        """Check this worker's SECRETS_KEY at its start (the module docstring): what was done, and the key id the
        check value was sealed with before ("" when none). `WrongSecretsKey` when its keys cannot open it;
        `StoreUnavailable` when Redis cannot be reached."""
        ring = self._hidden.keyring
        stored = await self._stored()
        if stored is None:
            if ring is None:
                return "none", ""
            stored = await self._write(was="", ring=ring)
            if stored.partition(".")[0] == ring.current and opens(ring, stored):
                return "written", ""
        kid = stored.partition(".")[0]
        verify(ring, stored)
        assert ring is not None
        if kid == ring.current:
            return "ok", kid
        await self._write(was=stored, ring=ring)  # (another worker may have resealed it meanwhile: theirs stands)
        return "resealed", kid

    async def opens(self) -> None:
        """`WrongSecretsKey` when a check value is stored and this keyring (set: an operator's command that seals
        with it) does not open it; nothing is written. `StoreUnavailable` as `keep`."""
        stored, ring = await self._stored(), self._hidden.keyring
        if stored is not None and ring is not None:
            verify(ring, stored)

    async def forget(self) -> None:
        """Delete the check value (`python -m bot dev` without a data folder: each run's SECRETS_KEY is its own, and
        what a run before sealed opens no more anyway); the next worker with a key writes it again."""
        try:
            await aw(self._s.redis.delete(self._s.keys.secrets_check))
        except REDIS_DOWN as exc:
            raise StoreUnavailable(type(exc).__name__) from exc

    async def _stored(self) -> str | None:
        try:
            raw = await aw(self._s.redis.get(self._s.keys.secrets_check))
        except REDIS_DOWN as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return None if raw is None else raw.decode() if isinstance(raw, bytes) else str(raw)

    async def _write(self, *, was: str, ring: HiddenKeyring) -> str:
        """The check value sealed with `ring`'s current key, stored while it is still `was`; the value then stored."""
        try:
            now = await self._s.script("secrets_check")(
                keys={"check": self._s.keys.secrets_check},
                args={"was": was, "sealed": ring.seal(CHECK_TEXT, bound=BOUND)},
            )
        except REDIS_DOWN as exc:
            raise StoreUnavailable(type(exc).__name__) from exc
        return now.decode() if isinstance(now, bytes) else str(now)


def opens(ring: HiddenKeyring, stored: str) -> bool:
    """Whether `ring` opens the check value `stored`."""
    try:
        return ring.open(stored, bound=BOUND) == CHECK_TEXT
    except SealError:
        return False


def verify(ring: HiddenKeyring | None, stored: str) -> None:
    """`WrongSecretsKey` unless `ring` opens the check value `stored` (`kid.v1.…`), naming what is wrong."""
    kid = stored.partition(".")[0]
    if ring is None:
        raise WrongSecretsKey(f"SECRETS_KEY is not set, but this deployment's values are sealed with key {kid}: {HOW}")
    if kid not in ring.sealers:
        raise WrongSecretsKey(f"SECRETS_KEY has no key {kid} (the deployment's values are sealed with {kid}): {HOW}"
                              f" (in a rotation, SECRETS_KEY={kid}:NEW,{ring.current}:OLD on every worker)")
    if not opens(ring, stored):
        raise WrongSecretsKey(f"SECRETS_KEY's key {kid} is not the deployment's {kid} (the values the deployment"
                              f" sealed with {kid} do not open with it): {HOW}")

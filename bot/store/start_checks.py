"""What a worker checks of its Redis as it starts, before it serves (`Services.start`, bot/services.py): a Redis that
may evict keys refused, the stored format kept or a newer one refused, SECRETS_KEY against the deployment's check
value, the webhook secrets a version before kept in the clear sealed. Each lets a Redis that cannot be reached now
be (a WARNING: the next worker to start does it)."""

from __future__ import annotations

import logging

from bot.core.settings import SettingsError
from bot.core.version import __version__
from bot.store import LayoutDisagrees, NewerFormat, Store, StoreUnavailable, WrongSecretsKey

log = logging.getLogger(__name__)

EVICTING = ("allkeys-", "volatile-")  # the `maxmemory-policy` values under which Redis deletes keys when full


async def check_eviction(store: Store, *, allow: bool) -> None:
    """Refuse a Redis that may evict keys (an evicted approval is a lost one: its waiter never wakes, its card never
    changes): a `SettingsError` naming `maxmemory-policy` and REDIS_ALLOW_EVICTION; with `allow`, say at ERROR why
    the worker goes on. A Redis that does not say its policy, or cannot be reached now, is let be (a WARNING)."""
    try:
        policy = await store.eviction_policy()
    except StoreUnavailable as exc:
        log.warning("Redis's maxmemory-policy could not be checked at start (%s)", exc)
        return
    if policy is None:
        log.warning("Redis does not say its maxmemory-policy (INFO refused): make sure it is noeviction")
        return
    if not any(part.strip().startswith(EVICTING) for part in policy.split(",")):
        return
    said = (f"Redis's maxmemory-policy is {policy}: when it is full it deletes keys, and an evicted approval is a lost"
            " one (set maxmemory-policy noeviction")
    if not allow:
        raise SettingsError(f"{said}, or REDIS_ALLOW_EVICTION=true to start anyway)")
    log.error("%s); starting anyway because REDIS_ALLOW_EVICTION=true", said)


async def seal_clear(store: Store) -> None:
    """The webhook secrets a version before kept in the clear, sealed (SECRETS_KEY); a Redis that cannot be reached
    now is let be (a WARNING: the next worker to start seals them)."""
    try:
        await store.api_keys.seal_clear()
    except StoreUnavailable as exc:
        log.warning("the webhook secrets kept in the clear could not be sealed at start (%s)", exc)


async def keep_format(store: Store) -> None:
    """The Redis-wide stored format (bot/store/stored_format.py): an older one upgraded in place (said at INFO: an
    expected step of an upgrade, and every Redis without the key, a new one included, is format 1), a
    newer one, or one whose layout is not this worker's REDIS_WORKSPACE_TAGS (or a move under
    way), refused with a `SettingsError` saying so; a Redis that cannot be reached now is let be (a WARNING)."""
    try:
        before, now = await store.format.keep(version=__version__)
    except StoreUnavailable as exc:
        log.warning("Redis's stored format could not be checked at start (%s)", exc)
        return
    except (NewerFormat, LayoutDisagrees) as exc:
        raise SettingsError(str(exc)) from None
    if before != now:
        log.info("Redis's stored format upgraded in place from %s to %s", before, now)


async def check_secrets_key(store: Store) -> None:
    """This worker's SECRETS_KEY against the deployment's check value (bot/store/secrets_check.py): one that cannot
    open it refused with a `SettingsError` naming SECRETS_KEY and the key id; the value written by the first worker
    with a key, resealed with a rotation's new key (both said at INFO); a Redis that cannot be reached now is let be
    (a WARNING), as the stored format is."""
    try:
        done, before = await store.secrets_check.keep()
    except StoreUnavailable as exc:
        log.warning("SECRETS_KEY could not be checked against the deployment's at start (%s)", exc)
        return
    except WrongSecretsKey as exc:
        raise SettingsError(str(exc)) from None
    ring = store.hidden.keyring
    if done == "written" and ring is not None:
        log.info("SECRETS_KEY: the deployment's check value written, sealed with key %s (every worker must open it)",
                 ring.current)
    elif done == "resealed" and ring is not None:
        log.info("SECRETS_KEY: the deployment's check value resealed with key %s (it was %s): from now on a worker"
                 " without key %s does not start", ring.current, before, ring.current)

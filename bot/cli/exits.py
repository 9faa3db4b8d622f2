"""How an operator's command that cannot go on ends: `error: <what>` on stderr, and its exit code; and a command
run on the store (`on_the_store`): its settings wrong (2) or Redis out of reach (1) end it so."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from bot.core.settings import SettingsError, StoreSettings
from bot.store import StoreUnavailable


def failed(message: str, code: int) -> int:
    """Say `message` as the command's error and give back its exit `code` (2: a bad argument, setting or file; 1: what
    was asked for is wrong or out of reach, e.g. Redis)."""
    print(f"error: {message}", file=sys.stderr)
    return code


def on_the_store(environ: Mapping[str, str] | None, run: Callable[[StoreSettings], Coroutine[Any, Any, int]], *,
                 unreachable: str = "") -> int:
    """`run`'s exit code with the store's settings (REDIS_URL, REDIS_KEY_PREFIX) from `environ` (the environment when
    None); 2 when they are wrong, 1 when Redis cannot be reached (`unreachable`: what to say more then)."""
    try:
        settings = StoreSettings.from_env(environ)
    except SettingsError as exc:
        return failed(str(exc), 2)
    try:
        return asyncio.run(run(settings))
    except StoreUnavailable as exc:
        return failed(f"cannot reach Redis where REDIS_URL points ({exc.cause}){unreachable}", 1)

"""`persistently`'s patience is time on the clock, the calls' own time included: a call that takes its time to
fail (a command held 5 s, a connect timeout) is not tried again for `patience` seconds of pauses on top of it."""

from __future__ import annotations

import asyncio

import pytest

from bot.store import StoreHeld, StoreUnavailable
from bot.store.connection import persistently


async def test_patience_counts_the_calls_own_time_not_only_the_pauses_between() -> None:
    calls = 0

    async def slow_to_fail() -> None:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.06)  # (a command that waits, then fails)
        raise StoreUnavailable("TimeoutError: no answer")

    with pytest.raises(StoreUnavailable, match="no answer"):
        await persistently(slow_to_fail, what="a test's read", patience=0.1)
    assert calls <= 2  # (counting the pauses alone, 0.05 then 0.1 s: a third call, 0.35 s in all)


async def test_a_worker_held_for_a_move_is_not_tried_again() -> None:
    calls = 0

    async def held() -> None:
        nonlocal calls
        calls += 1
        raise StoreHeld("held: this Redis's workspaces are being moved")

    with pytest.raises(StoreHeld):
        await persistently(held, what="a test's read", patience=60)
    assert calls == 1

"""The e-mail surface's tests' parts: the local mail catcher (bot/devmail/), started in its own thread for each test
that asks for it (`mail`), and a store's e-mail part on the tests' redis-server."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from bot.devmail.catcher import MailCatcher
from bot.store import Store, connect


@pytest.fixture
def mail() -> Iterator[MailCatcher]:
    with MailCatcher() as catcher:
        yield catcher


@pytest.fixture
async def other_store(redis_url: str) -> AsyncIterator[Store]:
    """A second store on its own connection: another worker's."""
    redis = connect(redis_url)
    yield Store(redis)
    await redis.aclose()

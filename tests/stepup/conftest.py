"""A worker whose passkey pages are at `ORIGIN` (STEP_UP_URL), and a client of its pages (signed in as each page's
person)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import Worker
from tests.support.signin import pages_client
from tests.support.signing import signing_worker
from tests.support.stepup import ORIGIN


@pytest.fixture
async def stepup(slack: SlackStandIn, redis_url: str, tmp_path: Path) -> AsyncIterator[Worker]:
    """A worker whose passkey pages are at ORIGIN, signing receipts (they carry a step-up vote's assurance)."""
    worker = await signing_worker(slack, redis_url, tmp_path / "keys.json", STEP_UP_URL=ORIGIN, ADMIN_USERS="U0CAROL")
    yield worker
    await worker.stop()


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    """A client of the pages that signs in with Slack as each page's person when a page asks (tests/support/signin)."""
    async with pages_client() as session:
        yield session

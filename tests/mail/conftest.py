"""The e-mail surface's tests' parts (the local mail catcher, `mail`, is tests/support/mail.py's): a worker serving
Slack and e-mail (`mailing`, `more_mailing` for a second one), and a store's e-mail part on the tests' redis-server."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from bot.devmail.catcher import MailCatcher
from bot.devslack.server import SlackStandIn
from bot.store import Store, connect
from tests.conftest import Worker, bot_env, start_worker
from tests.support.mail import email_env


@pytest.fixture
async def other_store(redis_url: str) -> AsyncIterator[Store]:
    """A second store on its own connection: another worker's."""
    redis = connect(redis_url)
    yield Store(redis)
    await redis.aclose()


@pytest.fixture
async def mailing(slack: SlackStandIn, mail: MailCatcher, redis_url: str) -> AsyncIterator[Worker]:
    """A worker serving Slack and e-mail (no Teams: nothing else shows an approval)."""
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None,
                                        **email_env(slack, mail)))
    slack.events_url = worker.url + "/slack/events"
    yield worker
    await worker.stop()

"""On-call schedules from a test (issue 90): the local on-call provider (bot/devoncall/, PagerDuty's REST API v2)
with schedule `payments` handed to someone (`payments_on_call`), and a worker reading it (`oncall_worker`: the
ONCALL_* settings, its answers cached for a second, the local Slack's events sent to it). Shared by
tests/approvals/test_oncall.py and tests/approvals/test_reach_oncall.py."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from bot.devoncall.server import OnCallStandIn
from bot.devslack.server import SlackStandIn
from tests.conftest import Worker, bot_env, start_worker

TOKEN = "pd-token-never-shown"


@contextmanager
def payments_on_call(*emails: str) -> Iterator[OnCallStandIn]:
    """The local provider (its token TOKEN), schedule `payments` handed over to `emails` now."""
    with OnCallStandIn(token=TOKEN) as standin:
        standin.hand_over("payments", list(emails))
        yield standin


async def oncall_worker(slack: SlackStandIn, redis_url: str, oncall: OnCallStandIn, *,
                        model_config: Path | None = None) -> Worker:
    """A worker asking `oncall` who is on call (answers cached a second), the local Slack's events sent to it."""
    env = bot_env(slack=slack, redis_url=redis_url, model_config=model_config, ONCALL_PROVIDER="pagerduty",
                  ONCALL_URL=oncall.base_url, ONCALL_TOKEN=TOKEN, ONCALL_CACHE_SECONDS="1")
    worker = await start_worker(env)
    slack.events_url = worker.url + "/slack/events"
    return worker

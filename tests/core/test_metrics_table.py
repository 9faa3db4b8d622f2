"""The metrics a worker exposes at `/metrics` (bot/core/metrics.py) are the one table of docs/operators/monitoring.md:
scraped after real traffic (an API ask, its card, a click, the decision), every name of the table is exposed and
nothing else is; and the traffic shows in them."""

from __future__ import annotations

import re

from agent_approvals import ApprovalsClient

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, Worker
from tests.support.hitl import click, nth_card
from tests.support.metrics_table import sample, scrape, table_names

# written by the audit archive's lag work (#66): in the table, exposed once that work is in
ARCHIVE_LAG = {"hitl_audit_archive_lag_entries", "hitl_audit_archive_lag_seconds"}


def exposed_names(text: str) -> set[str]:
    """The families of a Prometheus exposition (a counter's with `_total`), without the `_created` timestamps
    prometheus_client adds beside each counter and histogram."""
    return {name for name, _ in re.findall(r"^# TYPE (\S+) (\S+)$", text, re.M) if not name.endswith("_created")}


async def test_every_metric_of_the_table_is_exposed_after_traffic_and_nothing_else(
    emailer: tuple[Worker, str], slack: SlackStandIn
) -> None:
    worker, key = emailer
    async with ApprovalsClient(worker.url, key, title="Tell Bob") as client:
        asked = await client.request_tool("send_email", {"to": "bob@example.com"})
        card = await nth_card(slack, 1)
        await click(slack, card, "approval_approve", user=BOB)
        assert (await client.wait(asked.id, at_most=30)).approved
        again = await slack.click(user=BOB, channel=card["channel"], ts=card["ts"], action_id="approval_approve",
                                  as_seen=card)  # a second click, as the card was: refused by the decide step
        assert again.status == 200
    text = await scrape(worker)
    table, exposed = table_names(), exposed_names(text)
    assert exposed - table == set(), "exposed but not in docs/operators/monitoring.md's table"
    assert table - exposed <= ARCHIVE_LAG, "in the table but not exposed"
    assert sample(text, 'hitl_asks_total{outcome="asked",way="api"}') == 1
    assert sample(text, 'hitl_decisions_total{outcome="approved"}') == 1
    assert sample(text, 'hitl_slack_api_calls_total{method="chat.postMessage"}') >= 1
    assert sample(text, "hitl_redis_command_seconds_count") >= 1
    assert sample(text, "hitl_policy_load_failing") == 0
    assert sample(text, 'hitl_refusals_total{reason="already_decided"}') == 1


def test_the_table_check_can_fail() -> None:
    assert exposed_names("# TYPE hitl_new_total counter\n# TYPE hitl_g gauge\n") - table_names() == {
        "hitl_new_total", "hitl_g"}

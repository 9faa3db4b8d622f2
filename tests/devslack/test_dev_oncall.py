"""`python -m bot dev` runs a local on-call provider (issue 90, bot/devoncall/ through bot/dev/standins.py): the
worker's ONCALL_* point at it, its schedule `payments` hands over between the local Slack's people, and the dev
channel's `approvers oncall:payments` reaches whoever is on call (as the worker reads it: PagerDuty's shape, the
people's verified emails)."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from bot.dev import DevStack
from bot.dev.stack import GENERAL_CHANNEL
from bot.dev.standins import ONCALL_EVERY, ONCALL_SCHEDULE
from bot.store import Store, connect
from tests.support.api import Client, tool_ask

pytestmark = pytest.mark.slow  # a redis-server and a worker


async def test_dev_runs_a_local_on_call_provider_the_worker_reads(tmp_path: Path) -> None:
    stack = DevStack(host="127.0.0.1", port=0, environ={"PATH": os.environ.get("PATH", "")}, data_dir=tmp_path)
    try:
        await stack.start()
        assert stack.oncall.standin is not None
        said = [line for line in stack.exports() if line.startswith("# on-call")]
        assert said and f"oncall:{ONCALL_SCHEDULE}" in said[0] and "alice, bob, carol" in said[0], stack.exports()
        standin = stack.oncall.standin
        first = standin.on_call(ONCALL_SCHEDULE)
        assert first == ["alice@example.com"]
        # a hand-over every few minutes: as the schedule will be ONCALL_EVERY seconds on
        later = standin.schedules[ONCALL_SCHEDULE].now(time.time() + ONCALL_EVERY)
        assert later == ["bob@example.com"]
        # the dev channel names the schedule: an ask of the dev key goes to whoever is on call now
        store = Store(connect(stack.redis_url), prefix=stack.key_prefix)
        try:
            await store.settings.set(GENERAL_CHANNEL, "approvers", f"oncall:{ONCALL_SCHEDULE}", by="cli")
            client = Client(stack, stack.api_key)
            client.url = stack.url
            status, asked = await client.ask(tool_ask(requester="U0CAROL"))
            assert status == 201 and asked["status"] == "pending", asked
            approval = await store.approvals.get(asked["id"])
            assert approval is not None and approval.approvers == ("U0ALICE",) and approval.oncall == ("payments",)
        finally:
            await store.redis.aclose()
    finally:
        await stack.stop()
    assert stack.oncall.standin is None

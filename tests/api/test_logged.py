"""What a worker's log says of an approval (#76.15): a person's click and its decision, a program's use and a webhook's
delivery are each one INFO line carrying `approval_id` (a JSON line's field), in a real worker with the local Slack."""

from __future__ import annotations

import logging

import aiohttp
import pytest

from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, Worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.hitl import click, nth_card, until
from tests.support.receiver import serve


def said(caplog: pytest.LogCaptureFixture, approval_id: str, words: str) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.INFO and getattr(r, "approval_id", "") == approval_id
            and words in r.getMessage()]


@pytest.mark.slow  # a webhook receiver
async def test_a_click_a_decision_a_use_and_a_webhook_delivery_are_each_logged_at_info_with_the_approval(
    api: Worker, slack: SlackStandIn, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    received: list[bytes] = []

    async def hook(request: aiohttp.web.Request) -> aiohttp.web.Response:
        received.append(await request.read())
        return aiohttp.web.Response(status=200)

    runner, url = await serve(hook)
    try:
        client = Client(api, (await new_key(api)).key)
        _, asked = await client.ask(tool_ask(callback_url=url))
        approval_id = asked["id"]
        await click(slack, await nth_card(slack, 1), "approval_approve", user=BOB)
        await client.wait(approval_id)
        assert said(caplog, approval_id, f"approval {approval_id}: approved by {BOB}: ok"), caplog.text[-2000:]
        await until(lambda: said(caplog, approval_id, "delivered"), what="the webhook's delivery logged")
        status, _, _ = await client.call("POST", f"/api/v1/approvals/{approval_id}/use", body={"token": "process-1"})
        assert status == 200
        assert said(caplog, approval_id, f"approval {approval_id}: used by key nightly: ok"), caplog.text[-2000:]
        assert received
    finally:
        await runner.cleanup()

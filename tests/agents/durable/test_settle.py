"""The settle step both durable engines run once a decision woke the workflow (`agent_approvals.durable.core.settle`),
against a real bot worker: an approved call is read and used in one request (the bot's answer to the use carries the
approval); a pending one (an early or forged wake-up) is read, nothing used; a refused one is read, nothing used."""

from __future__ import annotations

import httpx
from agent_approvals import ApprovalsClient
from agent_approvals.durable.core import settle

from bot.core.allow_rules import Rule, exact_match
from bot.devslack.server import SlackStandIn
from tests.conftest import BOB, SALES, Worker
from tests.support.durable import refunds_key
from tests.support.hitl import nth_card, reject

RULED = {"order": "A-7", "amount_cents": 700}  # an "always allow" rule approves exactly this call at once


class Counted(httpx.AsyncHTTPTransport):
    """Real HTTP, each request's method and path noted."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[str] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(f"{request.method} {request.url.path}")
        return await super().handle_async_request(request)


async def test_an_approved_call_is_settled_in_one_request_and_used_once(api: Worker) -> None:
    store = api.services.store
    made = await refunds_key(store)
    rule = Rule(id="", scope="channel", channel=SALES, run="", match=exact_match("refund", RULED), created_by=BOB,
                created_at=0, expires_at=2e10)
    assert await store.rules.create(rule)
    counted = Counted()
    async with ApprovalsClient(api.url, made.key, title="refunds", transport=counted) as client:
        approval = await client.request_tool("refund", RULED)
        assert approval.approved
        counted.sent.clear()
        settled = await settle(client, approval.id, token="settle-1")
        assert counted.sent == [f"POST /api/v1/approvals/{approval.id}/use"]
        assert settled.approved and settled.used and settled.arguments == RULED
        assert settled.decided_by.startswith("rule")
        again = await settle(client, approval.id, token="settle-1")  # a retried settle: the same use
        assert again.approved and again.used
        other = await settle(client, approval.id, token="settle-2")  # another use: told it was used
        assert not other.approved and other.again == "used" and other.refusal


async def test_a_pending_or_refused_call_is_read_and_nothing_used(api: Worker, slack: SlackStandIn) -> None:
    made = await refunds_key(api.services.store)
    async with ApprovalsClient(api.url, made.key, title="refunds") as client:
        approval = await client.request_tool("refund", {"order": "A-8", "amount_cents": 800})
        early = await settle(client, approval.id, token="settle-1")  # a wake-up before any decision
        assert early.status == "pending" and not early.approved and not early.used
        card = await nth_card(slack, 1, within=30)
        await reject(slack, card, user=BOB, reason="not paid")
        refused = await settle(client, approval.id, token="settle-1")
        assert refused.status == "rejected" and not refused.approved and not refused.used
        assert "not paid" in refused.refusal

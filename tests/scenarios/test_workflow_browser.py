"""A durable workflow's ask as people see it, in a real browser (Debian's Chromium, headless) on the local Slack
page of `python -m bot dev`: a Temporal workflow asks (`agent_approvals.durable.ask`, exactly as the Temporal
integration's ask activity does, with the key dev mode printed). Bob sees the card name the workflow, its id a link
to the engine's page of it; his Home lists the ask with the workflow; `/agent status` in #general lists the
workflow's run and its pending approval. Screenshot: artifacts/workflow-card.png.
"""

from __future__ import annotations

import asyncio

import pytest
from agent_approvals import ApprovalsClient
from agent_approvals.durable.core import Route, ask, tool_call
from playwright.sync_api import expect

from tests.support.browser import be, chromium, dev_mode, go, open_home, screenshot, type_in_box, workspace_page

pytestmark = pytest.mark.slow  # `python -m bot dev` and Chromium

UI_URL = "https://temporal.example.com/namespaces/{namespace}/workflows/{workflow_id}"
PAGE = "https://temporal.example.com/namespaces/default/workflows/refund-7"


async def workflow_asks(url: str, key: str) -> str:
    route = Route("", "temporal", "refund-7", "Refund", "default", ui_url=UI_URL)
    async with ApprovalsClient(url, key, title="refunds") as client:
        asked = await ask(client, tool_call("refund", {"order": "A-1001", "amount_cents": 4200}),
                          key="temporal-refund-7-1", may_have_run=False, route=route)
    return asked.approval_id


def test_a_workflows_card_home_and_status_name_the_workflow() -> None:
    with dev_mode("test-workflow-dev-") as dev:
        shell = dev.exported()
        approval_id = asyncio.run(workflow_asks(shell["AGENT_APPROVALS_URL"], shell["AGENT_APPROVALS_KEY"]))
        assert approval_id.startswith("a-")
        with chromium() as browser, workspace_page(browser, dev) as page:
            be(page, "bob")
            go(page, "approvals")
            card = page.get_by_test_id("messages").get_by_test_id("message").filter(has_text="A-1001")
            expect(card).to_have_count(1)
            expect(card).to_contain_text("workflow refund-7 (Refund, Temporal)")
            expect(card.locator(f'a[href="{PAGE}"]')).to_have_text("refund-7")
            expect(card.get_by_test_id("button-approval_approve")).to_be_visible()
            screenshot(page, "workflow-card.png")

            home = open_home(page)
            expect(home).to_contain_text("workflow refund-7 (Refund, Temporal)")
            expect(home.locator(f'a[href="{PAGE}"]')).to_have_count(1)

            go(page, "general")
            type_in_box(page, "/agent status")
            status = page.get_by_test_id("ephemeral").filter(has_text="Pending approvals")
            expect(status).to_contain_text("workflow refund-7 (Refund, temporal): approvals asked with the API key")
            expect(status.locator(f'a[href="{PAGE}"]')).to_have_text("refund-7")

"""Slackbot asks before it writes, walked in a real browser (Debian's Chromium, headless) on the local Slack page of
`python -m bot dev` with SLACKBOT_MCP set (the test mailbox, a real MCP server process, behind `/slack/mcp`): Alice
asks Slackbot, in the page's Slackbot pane, to send an email; the pane shows what waits and its `tool:` button; Bob
approves the card in #approvals; Alice's button fetches the result, and the mailbox ran the call once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import be, dev_mode, go, screenshot, workspace_page
from tests.support.dev import Dev
from tests.support.slackbot import slackbot_env

pytestmark = pytest.mark.slow  # `python -m bot dev`, its upstream MCP server and Chromium

EMAIL = {"to": "bob@example.com", "body": "Prices go up 5% on May 1."}


@pytest.fixture(scope="module")
def record(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("slackbot") / "calls.jsonl"


@pytest.fixture(scope="module")
def dev(record: Path) -> Iterator[Dev]:
    with dev_mode("test-slackbot-browser-", **slackbot_env(record, key="dev-agent")) as process:
        yield process


@pytest.fixture
def page(browser: Browser, dev: Dev) -> Iterator[Page]:
    with workspace_page(browser, dev, height=1100) as opened:
        yield opened


def test_slackbot_asks_bob_approves_and_alice_fetches_the_result(page: Page, dev: Dev, record: Path) -> None:
    be(page, "alice")
    page.get_by_test_id("slackbot-toggle").click()
    pane = page.get_by_test_id("slackbot-pane")
    expect(pane).to_be_visible()
    tool = page.get_by_test_id("slackbot-tool")
    expect(tool.locator("option")).to_have_count(4)  # send_email, pay, list_inbox (read-only), approval_result
    tool.select_option("send_email")
    page.get_by_test_id("slackbot-args").fill(json.dumps(EMAIL))
    page.get_by_test_id("slackbot-ask").click()
    answer = page.get_by_test_id("slackbot-answer")
    expect(answer).to_contain_text("waits for a decision")
    expect(answer).to_contain_text("You cannot approve it yourself")
    result_button = answer.get_by_test_id("button-tool:approval_result")
    expect(result_button).to_be_visible()
    screenshot(page, "slackbot-waiting.png")
    assert not record.exists() or "send_email" not in record.read_text()

    be(page, "bob")
    go(page, "approvals")
    card = page.get_by_test_id("messages").get_by_test_id("message").filter(has_text="send_email").last
    expect(card).to_contain_text("bob@example.com")
    card.get_by_test_id("button-approval_approve").click()
    expect(card.get_by_test_id("button-approval_approve")).to_have_count(0)

    be(page, "alice")
    answer.get_by_test_id("button-tool:approval_result").click()
    expect(answer).to_contain_text("sent to bob@example.com")
    expect(answer).to_contain_text("was approved")
    screenshot(page, "slackbot-result.png")
    calls = [json.loads(line) for line in record.read_text().splitlines()]
    assert [call["tool"] for call in calls] == ["send_email"]
    assert calls[0]["meta"].get("agent-approvals/receipt"), calls[0]  # dev signs receipts: the call carries one

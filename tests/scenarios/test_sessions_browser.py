"""A run as a Slack agent session in a real browser (Debian's Chromium, headless) on the local Slack page of
`python -m bot dev`, with the offline demo model.

Alice starts a run: its header shows the session, suspended while Bob decides, and its thread the streamed plan,
the waiting step a pending task with a link to its card. Bob approves: a new stream shows the task complete and the
session `active` (its turn done). A second run waits for people: no Stop button (Slack shows it only while
processing); `/agent cancel` cancels it and withdraws its card.
A task typed in the app's Messages tab starts a session there. Screenshots: artifacts/session-*.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import (
    be,
    cards_of,
    dev_mode,
    go,
    header_of,
    screenshot,
    start_run,
    type_in_box,
    workspace_page,
)
from tests.support.dev import Dev

pytestmark = pytest.mark.slow  # `python -m bot dev` and Chromium

expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def dev() -> Iterator[Dev]:
    with dev_mode("test-sessions-browser-") as process:
        yield process


@pytest.fixture
def page(browser: Browser, dev: Dev) -> Iterator[Page]:
    with workspace_page(browser, dev, height=1100) as opened:
        yield opened


def test_a_streamed_run_its_approval_and_stop(page: Page) -> None:
    be(page, "alice")
    go(page, "general")
    run_id = start_run(page, "Write a short welcome note for the new hires")
    header = header_of(page, run_id)
    expect(header.get_by_test_id("session-status")).to_have_text("suspended")
    header.get_by_test_id("replies").click()
    thread = page.get_by_test_id("thread-pane")
    plan = thread.get_by_test_id("session-plan").first
    expect(plan.locator(".session-plan-title")).to_have_text("Waiting for approval")  # the title follows the run
    waiting = plan.get_by_test_id("session-task").filter(has_text="Waiting for approval")
    expect(waiting).to_have_attribute("data-status", "pending")
    expect(waiting.locator("a", has_text="its card")).to_have_attribute(
        "href", re.compile(r"/archives/C0APPROVALS/p[0-9]{16}$"))
    screenshot(page, "session-suspended.png")

    be(page, "bob")
    go(page, "approvals")
    cards_of(page, run_id).last.get_by_test_id("button-approval_approve").click()
    expect(cards_of(page, run_id).last).to_contain_text("Approved by @bob")

    be(page, "alice")
    go(page, "general")
    expect(header.get_by_test_id("session-status")).to_have_text("active")
    header.get_by_test_id("replies").click()
    done = thread.get_by_test_id("session-task").filter(has_text="approved by")
    expect(done).to_have_attribute("data-status", "complete")
    expect(done).to_contain_text("approved by bob")  # a person, not an id
    expect(thread.locator(".session-plan-title").last).to_contain_text(re.compile(r"^Worked for \d+"))
    screenshot(page, "session-approved.png")

    stopped = start_run(page, "Write a second note for the new hires")
    second = header_of(page, stopped)
    expect(second.get_by_test_id("session-status")).to_have_text("suspended")
    expect(second.get_by_test_id("session-stop")).to_have_count(0)  # as in Slack: Stop only while processing
    type_in_box(page, f"/agent cancel {stopped}")  # a run waiting for people is cancelled from its channel
    expect(second.get_by_test_id("session-status")).to_have_text("active")
    expect(second).to_contain_text("cancelled")
    go(page, "approvals")
    expect(cards_of(page, stopped).last).to_contain_text("Cancelled by @alice")
    screenshot(page, "session-stopped.png")


def test_a_task_in_the_messages_tab_starts_a_session(page: Page) -> None:
    be(page, "carol")
    page.get_by_test_id("sidebar-dm-bot").click()
    box = page.get_by_test_id("message-input")
    box.fill("Write a thank-you note to the support team")
    box.press("Enter")
    header = page.get_by_test_id("messages").get_by_test_id("message").filter(has_text="thank-you note").filter(
        has=page.get_by_test_id("session"))
    expect(header.get_by_test_id("session-status")).to_have_text("suspended")
    screenshot(page, "session-messages-tab.png")

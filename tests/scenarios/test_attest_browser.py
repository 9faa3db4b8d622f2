"""Fit to decide as people use it, in a real browser: Debian's Chromium, headless, on the local Slack page of
`python -m bot dev`. Alice (the dev page's admin) types `/agent attest brief refunds` and writes the brief in its
modal; Bob opens the brief's page in his own browser, signs in with Slack, reads it (escaped: its markup is text) and
attests there; `/agent attest` then lists his attestation, and the audit log has it.

Screenshots: artifacts/attest-brief.png, attest-done.png."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, expect

from tests.support.browser import dev_mode, screenshot, sign_in_as, type_in_box, workspace_page
from tests.support.dev import BOB, Dev

pytestmark = pytest.mark.slow  # `python -m bot dev` and Chromium

BRIEF = "Refunds over $50 need the order's receipt. <b>Not bold</b> <!channel>"


@pytest.fixture
def dev() -> Iterator[Dev]:
    with dev_mode("test-attest-") as process:
        yield process


def test_a_person_reads_a_brief_on_its_page_and_attests_there(browser: Browser, dev: Dev) -> None:
    with workspace_page(browser, dev) as page:
        type_in_box(page, "/agent attest brief refunds")
        modal = page.get_by_test_id("modal")
        expect(modal).to_have_attribute("data-callback-id", "attest_brief_modal")
        modal.get_by_test_id("input-attest_brief_text-text").fill(BRIEF)
        expect(modal.get_by_test_id("input-attest_brief_valid-valid")).to_have_value("90d")
        modal.get_by_test_id("modal-submit").click()
        expect(page.get_by_test_id("modal")).to_have_count(0)

    context = browser.new_context(viewport={"width": 900, "height": 700})
    try:
        bobs = context.new_page()
        href = f"http://localhost:{dev.port}/attest/policy:refunds"
        bobs.goto(href)
        sign_in_as(bobs, "bob")
        expect(bobs).to_have_url(href)
        expect(bobs.get_by_test_id("brief")).to_have_text(BRIEF)  # as text: no markup of it is live
        expect(bobs.locator(".brief b")).to_have_count(0)
        screenshot(bobs, "attest-brief.png")
        bobs.get_by_test_id("attest").click()
        expect(bobs.get_by_test_id("message")).to_contain_text("You attested to the brief of refunds")
        screenshot(bobs, "attest-done.png")
        bobs.goto(href)
        expect(bobs.get_by_test_id("held")).to_contain_text("Your attestation is valid until")
    finally:
        context.close()
    assert "the brief `refunds`: until" in dev.command("attest", user=BOB)

"""Reveal and Sign in with Slack as people use them, in a real browser: Debian's Chromium, headless, on the local
Slack page of `python -m bot dev`.

A program asks, with the key dev mode printed, about a refund whose arguments hold a card number. Bob clicks "Show
hidden values" on the card in #approvals: the bot answers him, ephemerally, with a one-time link. In his own
browser, the link sends him to the local Slack's Sign in with Slack page (himself preselected); Continue brings him
back to the page, which shows the card number once. Carol, opening Bob's next link in her own browser and signing in
as herself, is refused: the page is Bob's.

Screenshots: artifacts/reveal-signin.png, reveal-values.png, reveal-refused.png.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, expect

from tests.support.browser import dev_mode, screenshot, sign_in_as, workspace_page
from tests.support.dev import Dev
from tests.support.reveal import CARD, ask_refund, reveal_link

pytestmark = pytest.mark.slow  # `python -m bot dev` and Chromium

expect.set_options(timeout=20_000)


@pytest.fixture
def dev() -> Iterator[Dev]:
    with dev_mode("test-reveal-") as process:
        yield process


@pytest.fixture
def page(browser: Browser, dev: Dev) -> Iterator[Page]:
    with workspace_page(browser, dev, height=1100) as opened:
        yield opened


@pytest.fixture
def own_browser(browser: Browser) -> Iterator[Callable[[], Page]]:
    """A person's own browser (a context of its own): their own cookies."""
    contexts: list[BrowserContext] = []

    def opened() -> Page:
        contexts.append(browser.new_context(viewport={"width": 900, "height": 700}))
        return contexts[-1].new_page()

    yield opened
    for context in contexts:
        context.close()


def test_a_reviewer_signs_in_with_slack_and_sees_the_value_and_another_person_is_refused(
    own_browser: Callable[[], Page], page: Page, dev: Dev,
) -> None:
    ask_refund(dev)
    href = reveal_link(page, "bob", dev.port)
    bobs = own_browser()
    bobs.goto(href)
    expect(bobs.get_by_test_id("signin-title")).to_have_text("Sign in with Slack")
    expect(bobs.get_by_test_id("signin-person").locator("option:checked")).to_contain_text("(@bob,")
    screenshot(bobs, "reveal-signin.png")
    sign_in_as(bobs, "bob")
    expect(bobs).to_have_url(href)
    expect(bobs.get_by_test_id("value")).to_have_text(CARD)
    expect(bobs.get_by_test_id("hidden-value")).to_contain_text("card.number")
    screenshot(bobs, "reveal-values.png")
    answer = bobs.goto(href)  # shown once
    assert answer is not None and answer.status == 410

    carols = own_browser()
    carols.goto(reveal_link(page, "bob", dev.port))  # Bob's next link, in Carol's browser
    sign_in_as(carols, "carol")
    expect(carols.get_by_test_id("message")).to_have_text(
        "This page is for bob, and you are signed in as carol: nothing was shown or done.")
    expect(carols.get_by_test_id("value")).to_have_count(0)
    screenshot(carols, "reveal-refused.png")


def test_a_reviewer_signs_out_and_the_next_link_asks_them_to_sign_in_again(
    own_browser: Callable[[], Page], page: Page, dev: Dev,
) -> None:
    """#76.14: every page carries "Sign out" (a POST to /signin/logout): it clears the session in the browser."""
    ask_refund(dev)
    bobs = own_browser()
    href = reveal_link(page, "bob", dev.port)
    bobs.goto(href)
    sign_in_as(bobs, "bob")
    expect(bobs.get_by_test_id("value")).to_have_text(CARD)
    bobs.get_by_test_id("sign-out").click()
    expect(bobs.get_by_test_id("message")).to_have_text(
        "You are signed out of this bot's pages. A page's link signs you in again.")
    assert not [c for c in bobs.context.cookies() if c["name"].endswith("aa-session")]
    bobs.goto(reveal_link(page, "bob", dev.port))
    expect(bobs.get_by_test_id("signin-title")).to_have_text("Sign in with Slack")  # asked again

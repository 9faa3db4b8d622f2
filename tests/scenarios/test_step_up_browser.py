"""Step-up votes (#55) as people make them, in a real browser: Debian's Chromium, headless, on the local Slack page of
`python -m bot dev`, each person's passkey in a virtual authenticator of their own (the DevTools WebAuthn domain).

In #general, `/agent config step_up always` (any person who may change settings: dev mode names no admin) makes every
Approve need the approver's passkey. A program asks through the Approvals API, with the key dev mode printed, about
`send_email`; its card in #approvals says "Approving needs your passkey". Bob enrols from his App Home, clicks
Approve: he is answered with a one-time link (“confirm it with your passkey”, on `http://localhost:<port>`: a browser
refuses an IP address as a passkey's site) and the card still waits, no vote counted. The link's page, opened where
his authenticator is, shows the exact action (the tool, its arguments, their digest); "Approve with my passkey" counts
his vote: the page says approved, the card redraws as decided by him, the program reads approved.

Each person's page opens after Sign in with Slack (the local Slack's page, in their own browser). With
`required_approvals 2`, Bob's confirmed vote is 1 of 2 and the card still waits; Carol, opening Bob's link in her own
browser (signed in as her), is refused before any passkey is asked and nothing changes, and Bob's link still works for
him; Carol's own link and passkey make the second approval, which decides.

Screenshots: artifacts/step-up-card.png, step-up-link.png, step-up-page.png, step-up-approved.png,
step-up-decided.png, step-up-refused.png, step-up-quorum.png, step-up-quorum-decided.png.
"""

from __future__ import annotations

import json
import re
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, BrowserContext, Locator, Page, ViewportSize, expect

from tests.support.api import EMAIL, SCHEMA
from tests.support.browser import (
    be,
    dev_mode,
    enrol,
    go,
    passkey_link,
    screenshot,
    type_in_box,
    with_authenticator,
    workspace_page,
)
from tests.support.dev import BOB, CAROL, Dev
from tests.support.reveal import CARD, ask_refund, reveal_link

pytestmark = pytest.mark.slow  # `python -m bot dev` and Chromium

expect.set_options(timeout=20_000)
APPROVE = "button-approval_approve"
VIEWPORT: ViewportSize = {"width": 900, "height": 900}  # a passkey page, whole in its screenshot


@pytest.fixture
def dev() -> Iterator[Dev]:
    """Dev mode of the test's own: a channel's settings and people's passkeys start afresh."""
    with dev_mode("test-step-up-") as process:
        yield process


@pytest.fixture
def page(browser: Browser, dev: Dev) -> Iterator[Page]:
    with workspace_page(browser, dev, height=1100) as opened:
        yield opened


@pytest.fixture
def own_browser(browser: Browser) -> Iterator[Callable[[], Page]]:
    """Opens a person's own browser (a context of its own) on a page with its own virtual authenticator, where they
    open their passkey links; no script error (nor CSP violation) may happen on it."""
    contexts: list[BrowserContext] = []
    errors: list[str] = []

    def opened() -> Page:
        contexts.append(browser.new_context(viewport=VIEWPORT))
        passkeys = with_authenticator(contexts[-1])
        passkeys.on("pageerror", lambda exc: errors.append(str(exc)))
        passkeys.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        return passkeys

    yield opened
    for context in contexts:
        context.close()
    assert [e for e in errors if not e.startswith("Failed to load resource")] == [], errors  # (a 410 is expected)


def api(dev: Dev, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The Approvals API as a program calls it, with the key and URL dev mode printed; its JSON answer (2xx)."""
    shell = dev.exported()
    request = urllib.request.Request(
        shell["AGENT_APPROVALS_URL"] + path, method=method, data=None if body is None else json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {shell['AGENT_APPROVALS_KEY']}", "Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=15) as answer:
        said: dict[str, Any] = json.loads(answer.read())
    return said


def configure(page: Page, **settings: str) -> None:
    """Alice sets #general's `settings` with `/agent config <key> <value>` in the message box."""
    be(page, "alice")
    go(page, "general")
    for key, value in settings.items():
        answers = page.get_by_test_id("ephemeral").filter(has_text=key)
        before = answers.count()
        type_in_box(page, f"/agent config {key} {value}")
        expect(answers).to_have_count(before + 1)
        expect(answers.last).to_contain_text(f"{key} of this channel is now {value}")


def asks(dev: Dev, title: str, body: str) -> dict[str, Any]:
    """A program asks about sending an email (in #general, the dev key's channel); the API's answer: pending."""
    asked = api(dev, "POST", "/api/v1/approvals", {
        "kind": "tool", "title": title,
        "tool": {"name": "send_email", "arguments": {**EMAIL, "body": body}, "schema": SCHEMA},
    })
    assert asked["status"] == "pending" and re.fullmatch(r"[0-9a-f]{64}", asked["digest"]), asked
    return asked


def status_of(dev: Dev, approval_id: str) -> dict[str, Any]:
    return api(dev, "GET", f"/api/v1/approvals/{approval_id}")


def card(page: Page, title: str) -> Locator:
    """The approval card titled `title` in #approvals, as the current person sees it."""
    go(page, "approvals")
    found = page.get_by_test_id("messages").get_by_test_id("message").filter(has_text=title)
    expect(found).to_have_count(1)
    return found


def click_approve(page: Page, person: str, title: str, port: int) -> str:
    """`person` clicks Approve on the card: the bot answers them only with the link that confirms it; that link."""
    be(page, person)
    shown = card(page, title)
    links = page.get_by_test_id("ephemeral").filter(has_text="Approving this needs your passkey")
    before = links.count()
    shown.get_by_test_id(APPROVE).click()
    expect(links).to_have_count(before + 1)
    told = links.last
    expect(told.get_by_test_id("only-visible-to-you")).to_be_visible()
    expect(told).to_contain_text("nothing changed yet")
    href = told.get_by_role("link", name="confirm it with your passkey").get_attribute("href") or ""
    assert re.fullmatch(rf"http://localhost:{port}/step-up/vote/[A-Za-z0-9_-]{{43}}", href), href
    return href


def still_waits(page: Page, dev: Dev, title: str, approval_id: str, votes: str = "") -> None:
    """The card still offers Approve and says no decision (`votes`: its quorum line, e.g. "1 of 2 approvals"); the
    program still reads pending."""
    shown = card(page, title)
    expect(shown.get_by_test_id(APPROVE)).to_be_visible()
    expect(shown).to_contain_text("Approving needs your passkey")
    expect(shown).not_to_contain_text("Approved")
    if votes:
        expect(shown).to_contain_text(votes)
    said = status_of(dev, approval_id)
    assert said["status"] == "pending" and not said.get("decided_by"), said


def shows_the_action(passkeys: Page, person: str, asked: dict[str, Any], body: str) -> None:
    expect(passkeys.get_by_role("heading")).to_have_text("Confirm your approval")
    expect(passkeys.get_by_test_id("person")).to_have_text(person)
    expect(passkeys.get_by_test_id("tool")).to_have_text("send_email")
    arguments = passkeys.get_by_test_id("arguments")
    expect(arguments).to_contain_text('"to": "bob@example.com"')
    expect(arguments).to_contain_text(body)
    expect(passkeys.get_by_test_id("digest")).to_have_text(asked["digest"])


def confirm(passkeys: Page, said: str) -> None:
    passkeys.get_by_role("button", name="Approve with my passkey").click()
    expect(passkeys.get_by_test_id("status")).to_have_text(said)
    expect(passkeys.get_by_role("button", name="Approve with my passkey")).to_have_count(0)


def decided(page: Page, dev: Dev, title: str, approval_id: str, who: str, user: str) -> None:
    """The card redrawn as approved by `who` ("@bob"), without buttons; the program reads approved, last by `user`."""
    shown = card(page, title)
    expect(shown).to_contain_text(f"Approved by {who},")
    expect(shown.get_by_test_id(APPROVE)).to_have_count(0)
    expect(shown).not_to_contain_text("Approving needs your passkey")
    said = status_of(dev, approval_id)
    assert said["status"] == "approved" and said["decided_by"] == user, said


def test_an_approve_counts_after_the_passkey_and_not_before(own_browser: Callable[[], Page], page: Page,
                                                             dev: Dev) -> None:
    configure(page, step_up="always")
    bobs = own_browser()
    enrol(bobs, passkey_link(page, dev.port, "bob"), "bob-laptop", "bob")
    title = "Announce the May price change"
    body = "Prices go up 5% on May 1 (one approval)."
    asked = asks(dev, title, body)

    be(page, "bob")
    shown = card(page, title)
    expect(shown).to_contain_text("Approving needs your passkey")
    expect(shown).to_contain_text("bob@example.com")
    expect(shown.get_by_test_id("button-approval_always_allow")).to_have_count(0)  # no rule approves it
    screenshot(page, "step-up-card.png")

    href = click_approve(page, "bob", title, dev.port)
    still_waits(page, dev, title, asked["id"])
    screenshot(page, "step-up-link.png")

    bobs.goto(href)
    shows_the_action(bobs, "bob", asked, body)
    still_waits(page, dev, title, asked["id"])  # opening the page counts nothing either
    screenshot(bobs, "step-up-page.png")
    confirm(bobs, "Approved. You can close this page.")
    screenshot(bobs, "step-up-approved.png")

    decided(page, dev, title, asked["id"], "@bob", BOB)
    screenshot(page, "step-up-decided.png")
    answer = bobs.goto(href)  # the link worked once
    assert answer is not None and answer.status == 410
    expect(bobs.get_by_test_id("message")).to_contain_text("already used")


def test_a_quorum_of_two_needs_two_peoples_passkeys(own_browser: Callable[[], Page], page: Page, dev: Dev) -> None:
    configure(page, step_up="always", required_approvals="2")
    bobs = own_browser()
    carols = own_browser()  # her own browser: her own authenticator
    enrol(bobs, passkey_link(page, dev.port, "bob"), "bob-phone", "bob")
    enrol(carols, passkey_link(page, dev.port, "carol"), "carol-laptop", "carol")
    title = "Tell Bob about the Q3 discount"
    body = "Q3 orders get 10% off (two approvals)."
    asked = asks(dev, title, body)

    bob_link = click_approve(page, "bob", title, dev.port)
    still_waits(page, dev, title, asked["id"], "0 of 2 approvals")

    answer = carols.goto(bob_link)  # Bob's link, in Carol's browser, signed in as her: refused before any passkey
    assert answer is not None and answer.status == 403
    expect(carols.get_by_test_id("message")).to_have_text(
        "This page is for bob, and you are signed in as carol: nothing was shown or done.")
    expect(carols.get_by_role("button", name="Approve with my passkey")).to_have_count(0)
    screenshot(carols, "step-up-refused.png")
    still_waits(page, dev, title, asked["id"], "0 of 2 approvals")

    bobs.goto(bob_link)  # still Bob's to use
    shows_the_action(bobs, "bob", asked, body)
    expect(bobs.locator("body")).to_contain_text("2 approvals are needed; yours is one of them.")
    confirm(bobs, "Your approval counts: 1 of 2. You can close this page.")
    still_waits(page, dev, title, asked["id"], "1 of 2 approvals: @bob")
    screenshot(page, "step-up-quorum.png")

    carol_link = click_approve(page, "carol", title, dev.port)
    assert carol_link != bob_link
    carols.goto(carol_link)
    shows_the_action(carols, "carol", asked, body)
    confirm(carols, "Approved. You can close this page.")
    decided(page, dev, title, asked["id"], "@bob and @carol", CAROL)
    screenshot(page, "step-up-quorum-decided.png")


def test_the_reveal_page_asks_for_the_passkey_where_the_channel_requires_step_up(
    own_browser: Callable[[], Page], page: Page, dev: Dev,
) -> None:
    """#76.14: with `step_up always` in #general, Bob's "Show hidden values" link opens a page that shows nothing
    until his passkey confirms this reveal; then the card number, once."""
    configure(page, step_up="always")
    bobs = own_browser()
    enrol(bobs, passkey_link(page, dev.port, "bob"), "bob-laptop", "bob")
    ask_refund(dev)
    href = reveal_link(page, "bob", dev.port)
    bobs.goto(href)  # signed in already (his enrolment)
    expect(bobs.get_by_test_id("confirm-reveal")).to_have_text("Show them with my passkey")
    expect(bobs.get_by_test_id("value")).to_have_count(0)
    refused = bobs.context.request.post(href, data="{}", headers={"Content-Type": "application/json"})
    assert refused.status == 400 and CARD not in refused.text()  # no passkey's answer: nothing shown
    screenshot(bobs, "reveal-step-up.png")
    bobs.get_by_test_id("confirm-reveal").click()
    expect(bobs.get_by_test_id("value")).to_have_text(CARD)
    expect(bobs.get_by_test_id("hidden-value")).to_contain_text("card.number")
    answer = bobs.goto(href)  # shown once
    assert answer is not None and answer.status == 410

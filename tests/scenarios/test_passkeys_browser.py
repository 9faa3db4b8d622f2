"""Passkey enrolment (#55, slice 1) in a real browser: Debian's Chromium, headless, on the local Slack page of
`python -m bot dev`, with a virtual authenticator (the DevTools WebAuthn domain: ctap2, internal, resident keys, user
verification, verified).

Alice clicks "Set up a passkey" in her App Home; the modal gives her a one-time link on `http://localhost:<port>` (a
browser refuses an IP address as a passkey's site); she opens it, names the passkey "laptop", and the browser makes
it; it appears in her Home. The same link a second time is refused. Bob's link greets Bob and registers Bob's passkey,
never Alice's. Carol, who has a passkey, confirms with it on her next link's page before the page makes another
(#63.3). Screenshots: artifacts/passkey-enrol.png, artifacts/passkey-home.png.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import (
    AUTHENTICATOR,
    be,
    dev_mode,
    enrol,
    open_home,
    passkey_link,
    screenshot,
    with_authenticator,
    workspace_page,
)
from tests.support.dev import Dev

pytestmark = pytest.mark.slow  # `python -m bot dev` and Chromium

expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def dev() -> Iterator[Dev]:
    with dev_mode("test-passkeys-") as process:
        yield process


@pytest.fixture
def page(browser: Browser, dev: Dev) -> Iterator[Page]:
    with workspace_page(browser, dev, height=1100) as opened:
        yield opened


def test_a_person_enrols_a_passkey_from_the_home_once_and_only_for_themselves(page: Page, dev: Dev) -> None:
    href = passkey_link(page, dev.port, "alice")
    passkeys = with_authenticator(page.context)
    enrol(passkeys, href, "laptop", "alice")
    screenshot(passkeys, "passkey-enrol.png")

    home = page.get_by_test_id("home")
    expect(home).to_contain_text(re.compile(r"laptop · added"))
    expect(home.get_by_role("button", name="Remove")).to_have_count(1)
    screenshot(page, "passkey-home.png")

    answer = passkeys.goto(href)  # the same link again
    assert answer is not None and answer.status == 410
    expect(passkeys.get_by_test_id("message")).to_contain_text("already used")

    bobs = passkey_link(page, dev.port, "bob")
    enrol(passkeys, bobs, "bob-key", "bob")
    expect(page.get_by_test_id("home")).to_contain_text("bob-key")
    be(page, "alice")
    alices = open_home(page)
    expect(alices).to_contain_text(re.compile(r"laptop · added"))
    expect(alices).not_to_contain_text("bob-key")


def test_a_second_passkey_is_confirmed_by_the_first_on_the_page(page: Page, dev: Dev) -> None:
    """Carol has a passkey: her next link's page asks for it first (#63.3), and only then makes the new one (on
    another authenticator: the first is excluded from making it, as a phone added beside a laptop)."""
    passkeys = page.context.new_page()
    cdp = page.context.new_cdp_session(passkeys)
    cdp.send("WebAuthn.enable")
    laptop = cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})["authenticatorId"]
    enrol(passkeys, passkey_link(page, dev.port, "carol"), "carol-laptop", "carol")
    passkeys.goto(passkey_link(page, dev.port, "carol"))
    expect(passkeys.get_by_label("Name this passkey")).to_be_hidden()
    passkeys.get_by_role("button", name="Confirm with a passkey I have").click()
    expect(passkeys.get_by_test_id("status")).to_have_text(
        "Confirmed with your passkey “carol-laptop”. Now name the new one.")
    cdp.send("WebAuthn.removeVirtualAuthenticator", {"authenticatorId": laptop})
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})  # her phone
    passkeys.get_by_label("Name this passkey").fill("carol-phone")
    passkeys.get_by_role("button", name="Create passkey").click()
    expect(passkeys.get_by_test_id("status")).to_have_text("Passkey “carol-phone” is set up. You can close this page.")
    expect(open_home(page)).to_contain_text("carol-phone")

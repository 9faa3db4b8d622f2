"""Chromium (headless, Debian's) on the local Slack page of dev mode: be someone, type, click; a person's passkey
(#55) made in a virtual authenticator (the DevTools WebAuthn domain) from the link of their App Home."""

from __future__ import annotations

import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from playwright.sync_api import Browser, BrowserContext, Locator, Page, expect, sync_playwright

from tests.conftest import free_port
from tests.support.dev import ROOT, Dev, dev_environment, start_dev

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = ROOT / "artifacts"
AUTHENTICATOR = {  # a platform authenticator (Touch ID-like) that verifies its user and keeps resident keys
    "protocol": "ctap2", "transport": "internal", "hasResidentKey": True, "hasUserVerification": True,
    "isUserVerified": True,
}

expect.set_options(timeout=20_000)


@contextmanager
def dev_mode(prefix: str, *, args: Sequence[str] = (), **env: str) -> Iterator[Dev]:
    """`python -m bot dev [args]` in a temporary directory, stopped cleanly (exit 0, no traceback) at the end."""
    with tempfile.TemporaryDirectory(prefix=prefix) as workdir:
        process = start_dev(free_port(), dev_environment(**env), Path(workdir), args=args)
        try:
            yield process
            assert process.stop() == 0, process.stderr()
            assert "Traceback" not in process.stderr(), process.stderr()
        finally:
            process.kill()


@contextmanager
def chromium() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield browser
        browser.close()


@contextmanager
def workspace_page(browser: Browser, dev: Dev, *, height: int = 900) -> Iterator[Page]:
    """The dev page in a fresh context, opened on #general; no page or console error may happen meanwhile."""
    context = browser.new_context(viewport={"width": 1400, "height": height})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.goto(dev.url + "/")
    expect(page.get_by_test_id("channel-title")).to_have_text("#general")
    yield page
    context.close()
    assert not errors, errors


def be(page: Page, name: str) -> None:
    page.get_by_test_id(f"user-{name}").click()
    expect(page.get_by_test_id("current-user-name")).to_have_text(name)


def go(page: Page, channel: str) -> None:
    page.get_by_test_id(f"channel-{channel}").click()
    expect(page.get_by_test_id("channel-title")).to_have_text(f"#{channel}")


def type_in_box(page: Page, text: str) -> None:
    box = page.get_by_test_id("message-input")
    box.fill(text)
    box.press("Enter")
    expect(box).to_have_value("")


def start_run(page: Page, task: str) -> str:
    """Type `/agent <task>` in the current channel; returns the run id from the ephemeral answer."""
    before = page.get_by_test_id("ephemeral").filter(has_text="Started run").count()
    type_in_box(page, f"/agent {task}")
    answers = page.get_by_test_id("ephemeral").filter(has_text="Started run")
    expect(answers).to_have_count(before + 1)
    answer = answers.last
    expect(answer.get_by_test_id("only-visible-to-you")).to_have_text(re.compile("Only visible to you"))
    match = re.search(r"Started run (r[a-z0-9]+)", answer.inner_text())
    assert match, answer.inner_text()
    return match.group(1)


def header_of(page: Page, run_id: str) -> Locator:
    return page.get_by_test_id("messages").get_by_test_id("message").filter(has_text=f"Run {run_id}")


def cards_of(page: Page, run_id: str) -> Locator:
    """Approval cards of the run in #approvals, oldest first."""
    return page.get_by_test_id("messages").get_by_test_id("message").filter(has_text=f"Run {run_id}")


def open_home(page: Page) -> Locator:
    """Open the app's Home tab as the current person; returns it once the app has published one for them."""
    page.get_by_test_id("sidebar-home").click()
    expect(page.get_by_test_id("sidebar-home")).to_have_attribute("aria-current", "page")
    home = page.get_by_test_id("home")
    expect(home).to_be_visible()
    expect(home.locator(".home-view")).to_have_count(1)
    expect(home.get_by_test_id("home-empty")).to_have_count(0)
    return home


def screenshot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.mouse.move(1, 1)  # no hover highlight in the picture
    page.screenshot(path=str(ARTIFACTS / name))


def passkey_link(page: Page, port: int, person: str) -> str:
    """`person` clicks "Set up a passkey" in their Home; the one-time link the modal gives (on localhost)."""
    be(page, person)
    home = open_home(page)
    expect(home).to_contain_text("Passkeys")
    home.get_by_role("button", name="Set up a passkey").click()
    modal = page.get_by_test_id("modal")
    expect(modal).to_contain_text("works once, for 10 minutes")
    href = modal.locator("a", has_text="Open your passkey page").get_attribute("href") or ""
    assert re.fullmatch(rf"http://localhost:{port}/step-up/enrol/[A-Za-z0-9_-]{{43}}", href), href
    modal.get_by_test_id("modal-close").click()
    return href


def with_authenticator(context: BrowserContext) -> Page:
    """A new page of `context` with a virtual authenticator of its own (`AUTHENTICATOR`): the passkeys it makes are
    used by this page only, so it is the one to open a person's passkey links."""
    passkeys = context.new_page()
    cdp = context.new_cdp_session(passkeys)
    cdp.send("WebAuthn.enable")
    cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
    return passkeys


def open_as(browser_page: Page, href: str, person: str) -> None:
    """Open the bot's page `href` in `browser_page` as `person` (a name): signed in with Slack on the local Slack's
    page when the bot asks (their browser keeps the session), as someone else's session is switched ("Sign in as
    someone else")."""
    browser_page.goto(href)
    if browser_page.get_by_test_id("sign-in-again").count():
        browser_page.get_by_test_id("sign-in-again").click()
    if browser_page.get_by_test_id("signin-title").count():
        sign_in_as(browser_page, person)
        expect(browser_page).to_have_url(href)


def sign_in_as(browser_page: Page, person: str) -> None:
    """On the local Slack's Sign in with Slack page: pick `person` (a name) and Continue."""
    choice = browser_page.get_by_test_id("signin-person")
    user = choice.locator("option", has_text=f"(@{person},").get_attribute("value") or ""
    choice.select_option(user)
    browser_page.get_by_test_id("signin-continue").click()


def enrol(passkeys: Page, href: str, name: str, person: str) -> None:
    """Open the enrolment link `href` of `person` in `passkeys` (a page `with_authenticator`), signed in as them,
    name the passkey `name` and create it."""
    open_as(passkeys, href, person)
    expect(passkeys.get_by_test_id("person")).to_have_text(person)
    passkeys.get_by_label("Name this passkey").fill(name)
    passkeys.get_by_role("button", name="Create passkey").click()
    expect(passkeys.get_by_test_id("status")).to_have_text(f"Passkey “{name}” is set up. You can close this page.")

"""Step-up from an e-mail link (issue 88), in a real browser: Debian's Chromium, headless, with a virtual authenticator
(the DevTools WebAuthn domain), against a worker serving e-mail (the local mail catcher) whose pages sign people in at
the local Slack playing the company's provider. Erin, known by e-mail only, sets up a passkey on her enrolment page;
#sales needs step-up for every Approve; her Approve on the link's page is sent to the passkey's page, which counts
it once her passkey confirms it: the approval is decided by her, on the surface `email`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from aiohttp import web
from playwright.async_api import Page, async_playwright, expect

from bot.devmail.catcher import MailCatcher
from bot.devslack.server import SlackStandIn
from tests.conftest import SALES, Worker, bot_env, free_port, start_worker
from tests.support.api import Client, new_key, tool_ask
from tests.support.browser import AUTHENTICATOR, CHROMIUM, CHROMIUM_ARGS
from tests.support.mail import ERIN, ERIN_ADDRESS, email_env

pytestmark = pytest.mark.slow  # a worker and Chromium


@dataclass
class Served:
    worker: Worker
    origin: str  # http://localhost:<port>: a browser refuses an IP address as a passkey's site


@pytest.fixture
async def served(slack: SlackStandIn, redis_url: str, mail: MailCatcher) -> AsyncIterator[Served]:
    port = free_port()
    origin = f"http://localhost:{port}"
    env = {**email_env(slack, mail), "PUBLIC_URL": origin, "STEP_UP_URL": origin}
    worker = await start_worker(bot_env(slack=slack, redis_url=redis_url, model_config=None, **env))
    await web.TCPSite(worker.runner, "127.0.0.1", port).start()  # the pages as people open them
    slack.events_url = worker.url + "/slack/events"
    yield Served(worker, origin)
    await worker.stop()


@pytest.fixture
async def passkeys() -> AsyncIterator[Page]:
    """A page of Chromium with a virtual authenticator of its own; no script error may happen on it."""
    errors: list[str] = []
    async with async_playwright() as playwright:
        browser = await playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        context = await browser.new_context()
        page = await context.new_page()
        cdp = await context.new_cdp_session(page)
        await cdp.send("WebAuthn.enable")
        await cdp.send("WebAuthn.addVirtualAuthenticator", {"options": AUTHENTICATOR})
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        yield page
        await browser.close()
    assert errors == []


async def sign_in_as_erin(page: Page) -> None:
    """On the provider's page (the local Slack's): Erin picked, Continue."""
    choice = page.get_by_test_id("signin-person")
    user = await choice.locator("option", has_text="(@erin,").get_attribute("value") or ""
    await choice.select_option(user)
    await page.get_by_test_id("signin-continue").click()


async def test_an_email_approve_that_needs_step_up_counts_once_her_passkey_confirms_it(
    served: Served, passkeys: Page, mail: MailCatcher
) -> None:
    store = served.worker.services.store
    await store.settings.set(SALES, "approvers", ERIN, by="operator")
    await store.settings.set(SALES, "step_up", "always", by="operator")

    enrolment = await served.worker.services.stepup.link(ERIN)
    await passkeys.goto(enrolment)
    await sign_in_as_erin(passkeys)
    await expect(passkeys).to_have_url(enrolment)
    await passkeys.get_by_label("Name this passkey").fill("erin-laptop")
    await passkeys.get_by_role("button", name="Create passkey").click()
    await expect(passkeys.get_by_test_id("status")).to_have_text(
        "Passkey “erin-laptop” is set up. You can close this page.")

    client = Client(served.worker, (await new_key(served.worker)).key)
    status, asked = await client.ask(tool_ask())
    assert status == 201 and asked["status"] == "pending", asked
    link = (await mail.arrived(ERIN_ADDRESS, within=15))[0].links[0]
    assert link.startswith(served.origin + "/email/" + asked["id"] + "/")

    await passkeys.goto(link)  # signed in already: the change and the form
    await passkeys.get_by_role("button", name="Approve").click()
    await expect(passkeys.get_by_role("heading")).to_have_text("Confirm your approval")
    assert "/step-up/vote/" in passkeys.url
    record = await store.approvals.get(asked["id"])
    assert record is not None and record.status == "pending" and not record.voters  # not before the passkey
    await passkeys.get_by_role("button", name="Approve with my passkey").click()
    await expect(passkeys.get_by_test_id("status")).to_have_text("Approved. You can close this page.")

    decision = await client.wait(asked["id"])
    assert decision["status"] == "approved" and decision["decided_by"] == ERIN, decision
    decided = [e for e in await store.audit.entries() if e["event"] == "decision"]
    assert [(e["by"], e.get("surface")) for e in decided] == [(ERIN, "email")]

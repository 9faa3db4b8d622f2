"""Dev mode's e-mail (`python -m bot dev --email`, issue 88) as a newcomer uses it: a program asks in #general, the
bot mails Erin (the demo's e-mail-only person), the dev page's Mail pane shows her inbox with the mail's subject and
text (a subject carrying markup shown as text, never as markup) and its Review-and-decide link on the page's own
origin; followed in Chromium, the link signs Erin in at the local Slack (the company's identity provider in dev) and
her Approve decides the approval (surface email). Without a catcher, the page has no Mail and `/_control/mail` says
so."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from agent_approvals import ApprovalsClient
from playwright.sync_api import expect

from bot.dev.standins import EMAIL_PERSON
from bot.devslack.server import SlackStandIn
from tests.support.browser import chromium, dev_mode, screenshot, sign_in_as

TITLE = "Q2 <script>window.mailed = 1</script> <b>prices</b>"  # untrusted text: shown as it is, never as markup


async def ask(shell: dict[str, str]) -> str:
    async with ApprovalsClient(shell["AGENT_APPROVALS_URL"], shell["AGENT_APPROVALS_KEY"], title=TITLE) as client:
        asked = await client.request_tool("send_email", {"to": "bob@example.com", "subject": "Q2 prices"})
        return asked.id


async def outcome(shell: dict[str, str], approval: str) -> tuple[str, str]:
    async with ApprovalsClient(shell["AGENT_APPROVALS_URL"], shell["AGENT_APPROVALS_KEY"]) as client:
        decided = await client.wait(approval, at_most=30)
        return decided.status, decided.decided_by


@pytest.mark.slow  # python -m bot dev --email, Chromium
def test_dev_email_the_mail_pane_shows_erins_mail_and_its_link_decides() -> None:
    with dev_mode("test-mailpane-", args=("--email",)) as dev:
        shell = dev.exported()
        assert dev.state()["mail"] is True
        approval = asyncio.run(ask(shell))
        here = f"http://localhost:{dev.port}"  # the page's origin as people open it (the sign-in comes back there)
        with chromium() as browser:
            context = browser.new_context(viewport={"width": 1400, "height": 900})
            page = context.new_page()
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(here + "/")
            page.get_by_test_id("mail-toggle").click()
            expect(page.get_by_test_id("mail-pane")).to_be_visible()
            inbox = page.locator("[data-testid=mail-inbox][data-address='erin@example.com']")
            mail = inbox.get_by_test_id("mail").filter(has_text=approval)
            expect(mail).to_have_count(1)
            expect(mail.get_by_test_id("mail-subject")).to_have_text(f"Waiting for your decision: {TITLE}")
            expect(mail.get_by_test_id("mail-text")).to_contain_text("Review and decide: http")
            assert mail.locator("script, b").count() == 0  # the mail's text is text
            assert page.evaluate("window.mailed") is None  # and nothing of it ran
            link = mail.get_by_test_id("mail-link")
            expect(link).to_have_text("Review and decide")
            href = link.get_attribute("href") or ""
            assert href.startswith(f"/email/{approval}/"), href  # the worker's page, through the page's origin
            screenshot(page, "mailpane-inbox.png")

            with context.expect_page() as opened:
                link.click()
            erin = opened.value
            sign_in_as(erin, "erin")  # at the local Slack's identity provider: Erin of the Outer workspace
            expect(erin).to_have_url(here + href)
            expect(erin.get_by_role("button", name="Approve")).to_be_visible()
            erin.get_by_role("button", name="Approve").click()
            expect(erin.locator("body")).to_contain_text("Thank you")
            screenshot(erin, "mailpane-decided.png")
            context.close()
            assert errors == []
        assert asyncio.run(outcome(shell, approval)) == ("approved", EMAIL_PERSON)


async def test_the_page_has_mail_only_when_given_a_catchers_inboxes() -> None:
    slack = SlackStandIn(signing_secret="s" * 32, bot_token="xoxb-mail")
    url = await slack.start()
    inboxes: dict[str, Any] = {"inboxes": {"erin@example.com": [{"subject": "<b>hi</b>", "links": []}]}}
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/_control/state") as state, http.get(url + "/_control/mail") as none:
                assert (await state.json())["mail"] is False
                assert none.status == 404 and "--email" in (await none.json())["error"]
            slack.mail_view = lambda: inboxes
            async with http.get(url + "/_control/state") as state, http.get(url + "/_control/mail") as mail:
                assert (await state.json())["mail"] is True
                assert mail.status == 200 and await mail.json() == {"ok": True, **inboxes}
            async with http.get(url + "/static/mailpane.js") as script:
                assert script.status == 200 and "innerHTML" not in await script.text()
    finally:
        await slack.stop()

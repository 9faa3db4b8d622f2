"""Dev mode's e-mail (`python -m bot dev --email`, issue 88) as a newcomer uses it: a program asks in #general, the
bot mails Erin (the demo's e-mail-only person), the dev page's Mail pane shows her inbox with the mail's subject and
text (a subject carrying markup shown as text, never as markup) and its Review-and-decide link on the page's own
origin; followed in Chromium, the link signs Erin in at the local Slack (the company's identity provider in dev) and
her Approve decides the approval (surface email). Without a catcher, the page has no Mail and `/_control/mail` says
so."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from playwright.sync_api import expect

from bot.dev.standins import EMAIL_PERSON
from tests.support.browser import chromium, dev_mode, screenshot, sign_in_as
from tests.support.panes import ask, outcome, pane_context, pane_only_when_given

TITLE = "Q2 <script>window.mailed = 1</script> <b>prices</b>"  # untrusted text: shown as it is, never as markup


@pytest.mark.slow  # python -m bot dev --email, Chromium
def test_dev_email_the_mail_pane_shows_erins_mail_and_its_link_decides() -> None:
    with dev_mode("test-mailpane-", args=("--email",)) as dev:
        shell = dev.exported()
        assert dev.state()["mail"] is True
        approval = asyncio.run(ask(shell, TITLE))
        here = f"http://localhost:{dev.port}"  # the page's origin as people open it (the sign-in comes back there)
        with chromium() as browser:
            with pane_context(browser) as (context, page):
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
        assert asyncio.run(outcome(shell, approval)) == ("approved", EMAIL_PERSON)


async def test_the_page_has_mail_only_when_given_a_catchers_inboxes() -> None:
    inboxes: dict[str, Any] = {"inboxes": {"erin@example.com": [{"subject": "<b>hi</b>", "links": []}]}}
    await pane_only_when_given("mail", "--email", inboxes, attribute="mail_view")

"""Dev mode's Web Push (`python -m bot dev --push`, issue 90) as a newcomer uses it, in Chromium: bob opens the web
app's devices page, signs in at the local Slack (the identity provider in dev), turns notifications on (a real
service worker registered, the subscription handed out by the local push service and posted); a program asks in
#general, the bot pushes it to his device (the local push service checks its VAPID token and decrypts it); the dev
page's Phone pane shows the push (its words as text, never markup) and its Approve action opens the confirm page on the
page's own origin, whose Approve decides the approval once (surface push). Without a push service the page has no
Phone and `/_control/phone` says so."""

from __future__ import annotations

import asyncio
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.support.browser import chromium, dev_mode, screenshot, sign_in_as
from tests.support.panes import ask, outcome, pane_context, pane_only_when_given

TITLE = "Q2 <script>window.pushed = 1</script> <b>prices</b>"  # untrusted text: shown as it is, never as markup


@pytest.mark.slow  # python -m bot dev --push, Chromium
def test_dev_push_bob_subscribes_in_chromium_and_the_phone_panes_approve_decides() -> None:
    with dev_mode("test-phonepane-", args=("--push",)) as dev:
        shell = dev.exported()
        assert dev.state()["phone"] is True
        here = f"http://localhost:{dev.port}"  # a secure context (service workers), the sign-in's origin
        with chromium() as browser:
            with pane_context(browser) as (context, page):
                page.goto(here + "/app/push")
                sign_in_as(page, "bob")
                expect(page).to_have_url(here + "/app/push")
                expect(page.get_by_test_id("person")).to_have_text("bob")
                page.get_by_role("button", name="Turn on notifications").click()
                expect(page.get_by_test_id("devices").locator("li")).to_have_count(1)
                registered = page.evaluate("navigator.serviceWorker.getRegistration('/app/').then(r => Boolean(r &&"
                                           " r.active && r.active.scriptURL.endsWith('/app/sw.js')))")
                assert registered is True  # a real service worker, registered and active
                screenshot(page, "push-devices.png")

                with ThreadPoolExecutor(1) as other:  # (Playwright's sync API holds this thread's event loop)
                    approval = other.submit(asyncio.run, ask(shell, TITLE)).result()
                page.goto(here + "/")
                page.get_by_test_id("phone-toggle").click()
                expect(page.get_by_test_id("phone-pane")).to_be_visible()
                push = page.get_by_test_id("push").filter(has_text="Q2")
                expect(push).to_have_count(1, timeout=15000)
                expect(push.get_by_test_id("push-heading")).to_have_text("Waiting for your decision")
                expect(push.get_by_test_id("push-text")).to_contain_text(TITLE)
                assert push.locator("script, b").count() == 0 and page.evaluate("window.pushed") is None
                approve = push.get_by_test_id("push-approve")
                href = approve.get_attribute("href") or ""
                assert href.startswith(f"/push/{approval}/") and href.endswith("?verb=approved"), href
                screenshot(page, "phonepane-push.png")

                with context.expect_page() as opened:
                    approve.click()
                confirm = opened.value  # bob is signed in already (the same browser)
                expect(confirm.get_by_role("button", name="Approve")).to_be_visible()
                confirm.get_by_role("button", name="Approve").click()
                expect(confirm.locator("body")).to_contain_text("Thank you")
        assert asyncio.run(outcome(shell, approval)) == ("approved", "U0BOB")


async def test_the_page_has_a_phone_only_when_given_a_push_services_pushes() -> None:
    pushes: dict[str, Any] = {"pushes": [{"device": "d1", "label": "phone", "data": {"title": "<b>hi</b>"}}]}
    await pane_only_when_given("phone", "--push", pushes, attribute="phone_view")

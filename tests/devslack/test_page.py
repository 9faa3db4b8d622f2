"""The stand-in's page in a real browser (Debian's Chromium, headless): a person's Home, their DMs and a modal's choice
inputs, with a Bolt app answering."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from aiohttp import web
from playwright.sync_api import Page, expect, sync_playwright
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_sdk import WebClient

from bot.devslack.server import SlackStandIn
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.receiver import SECRET, TOKEN, actions_card, bolt_app, option, serve

T = TypeVar("T")


class Background:
    """The stand-in and a Bolt app (issue #14's loop) serving in a thread's event loop, while a synchronous browser
    drives the page in the test's thread. ``seen`` collects what the app got (events, clicks, submitted views)."""

    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.standin, self.runner = self.run(self._start())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    async def _start(self) -> tuple[SlackStandIn, web.AppRunner]:
        standin = SlackStandIn(signing_secret=SECRET, bot_token=TOKEN)
        await standin.start()
        app = bolt_app(standin, self.seen)

        @app.action("select_all")
        @app.action("home_approve")
        @app.action("approval_approve")
        async def clicked(ack: Any, body: dict[str, Any]) -> None:
            await ack()
            self.seen.append(body)

        async def endpoint(request: web.Request) -> web.Response:
            return await to_aiohttp_response(await app.async_dispatch(await to_bolt_request(request)))

        runner, standin.events_url = await serve(endpoint)
        return standin, runner

    def click(self, action_id: str, page: Page) -> dict[str, Any]:
        """The block_actions payload of the app's first click on action_id (waiting for it)."""
        for _ in range(200):
            found = [
                s for s in self.seen if s.get("type") == "block_actions" and s["actions"][0]["action_id"] == action_id
            ]
            if found:
                return found[0]
            page.wait_for_timeout(25)
        raise AssertionError(f"the app got no click on {action_id}: {self.seen}")

    def stop(self) -> None:
        async def stop() -> None:
            await self.runner.cleanup()
            await self.standin.stop()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def test_page_shows_the_home_the_dm_and_choice_inputs() -> None:
    served = Background()
    errors: list[str] = []
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1300, "height": 900})
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
            page.goto(served.standin.base_url + "/")
            page.get_by_test_id("user-alice").click()

            # the Home: opening it tells the app, which publishes it; a button is picked by its value
            page.get_by_test_id("sidebar-home").click()
            home = page.get_by_test_id("home")
            reject = home.locator('[data-testid="button-home_reject"][data-value="apr-2"]')
            expect(reject).to_be_visible()
            expect(page.get_by_test_id("messages")).to_be_hidden()
            assert served.seen[0]["type"] == "app_home_opened" and served.seen[0]["user"] == "U0ALICE"
            home.locator('[data-testid="button-home_approve"][data-value="apr-1"]').click()
            assert served.click("home_approve", page)["actions"][0]["value"] == "apr-1"

            # Reject opens the modal: checkboxes and radio buttons, required ones checked before sending
            reject.click()
            modal = page.get_by_test_id("modal")
            expect(modal.get_by_test_id("option-risk")).to_be_checked()  # initial_options
            expect(modal.get_by_test_id("option-low")).to_be_checked()  # initial_option
            modal.get_by_test_id("input-reason-text").fill("too costly")
            modal.get_by_test_id("modal-submit").click()
            expect(modal.get_by_test_id("input-error-which")).to_be_visible()
            for value in ("apr-2", "high", "sales", "cost"):
                modal.get_by_test_id(f"option-{value}").check()
            modal.get_by_test_id("button-select_all").click()  # a button in the modal, with the state so far
            in_modal = served.click("select_all", page)
            assert in_modal["container"]["type"] == "view" and in_modal["view"]["callback_id"] == "reject_reason"
            assert in_modal["view"]["state"]["values"]["which"]["ids"]["selected_options"] == [option("apr-2")]
            modal.get_by_test_id("modal-submit").click()
            expect(modal).to_have_count(0)
            state = next(s for s in served.seen if s.get("type") == "modal")["state"]["values"]
            assert state["which"]["ids"]["selected_options"] == [option("apr-2")]
            assert state["tags"]["pick"]["selected_options"] == [option("cost"), option("risk")]
            assert state["severity"]["level"]["selected_option"] == option("high")
            assert state["team"]["choose"]["selected_option"] == option("sales")
            assert state["reason"]["text"]["value"] == "too costly"

            # the DM with the app: its card, clicked there; another person sees their own DM
            WebClient(token=TOKEN, base_url=served.standin.api_url).chat_postMessage(
                channel="U0ALICE", text="approve?", blocks=actions_card("apr-5")
            )
            expect(page.get_by_test_id("unread-dm-bot")).to_have_text("1")
            page.get_by_test_id("sidebar-dm-bot").click()
            card = page.get_by_test_id("messages").get_by_test_id("message")
            card.get_by_test_id("button-approval_approve").click()
            assert served.click("approval_approve", page)["channel"]["id"] == "D0ALICE"
            assert any(s.get("type") == "app_home_opened" and s["tab"] == "messages" for s in served.seen)
            page.get_by_test_id("user-bob").click()
            expect(page.get_by_test_id("sidebar-dm-bot")).to_have_attribute("data-channel-id", "D0BOB")
            expect(page.get_by_test_id("messages").get_by_test_id("message")).to_have_count(0)
            page.get_by_test_id("tab-home").click()
            expect(home.locator('[data-testid="button-home_reject"][data-value="apr-1"]')).to_be_visible()
            page.get_by_test_id("channel-general").click()
            expect(home).to_be_hidden()
            expect(page.get_by_test_id("tab-home")).to_be_hidden()
            browser.close()
    finally:
        served.stop()
    assert not errors, errors

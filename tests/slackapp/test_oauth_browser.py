"""The OAuth install as a person does it, in a real browser (Debian's Chromium, headless): the worker's
`/slack/install`, "Add to Slack", the local Slack's authorize page (pick the workspace, Allow), back to the worker's
`/slack/oauth_redirect` with Bolt's state cookie, "Thank you!"; the installation then kept in Redis (#65)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from playwright.sync_api import expect, sync_playwright

from bot.devslack.model import OTHER_TEAM
from bot.devslack.server import SlackStandIn
from tests.conftest import BOT_TOKEN, SIGNING_SECRET, Worker, start_worker
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.oauth import oauth_env

pytestmark = pytest.mark.slow  # Chromium

T = TypeVar("T")


class Background:
    """The local Slack and a worker serving in a thread's event loop, while the browser drives the pages."""

    def __init__(self, redis_url: str) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.slack, self.worker = self.run(self._start(redis_url))

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    async def _start(self, redis_url: str) -> tuple[SlackStandIn, Worker]:
        slack = SlackStandIn(signing_secret=SIGNING_SECRET, bot_token=BOT_TOKEN)
        await slack.start()
        slack.several_workspaces(installed=False)
        worker = await start_worker(oauth_env(slack, redis_url))
        worker.url = worker.url.replace("127.0.0.1", "localhost")  # a secure context: Bolt's cookie is `Secure`
        slack.events_url = worker.url + "/slack/events"
        slack.configure_oauth(redirect_url=worker.url + "/slack/oauth_redirect")
        return slack, worker

    def stop(self) -> None:
        async def stop() -> None:
            await self.worker.stop()
            await self.slack.stop()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def test_a_person_installs_the_app_in_another_workspace_from_a_browser(redis_url: str) -> None:
    background = Background(redis_url)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page()
            page.goto(background.worker.url + "/slack/install")
            page.get_by_role("link", name="Add to Slack").click()
            expect(page.get_by_test_id("oauth-title")).to_contain_text("requesting permission")
            page.get_by_test_id("oauth-workspace").select_option(f"team:{OTHER_TEAM}")
            page.get_by_test_id("oauth-allow").click()
            expect(page.get_by_role("heading", name="Thank you!")).to_be_visible()
            assert page.url.startswith(background.worker.url + "/slack/oauth_redirect?")
            browser.close()
        installations = background.worker.services.store.installations
        assert background.run(installations.ids()) == [OTHER_TEAM]
        assert background.slack.installed(OTHER_TEAM) is not None
    finally:
        background.stop()

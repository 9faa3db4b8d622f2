"""The local Slack's page serving several workspaces (#65), in a real browser (Debian's Chromium, headless): the
workspaces and how the app is installed in each, each person seeing their own workspace's channels (a Grid person:
their organisation's), and Uninstall, after which the bot is sent `tokens_revoked` and `app_uninstalled`."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest
from aiohttp import web
from playwright.sync_api import expect, sync_playwright

from bot.devslack.model import GRID, OTHER_TEAM
from bot.devslack.server import SlackStandIn
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS, be
from tests.support.receiver import SECRET, TOKEN, Receiver, serve

pytestmark = pytest.mark.slow  # Chromium

T = TypeVar("T")


class Background:
    """The stand-in (several workspaces) and a receiver of its deliveries, serving in a thread's event loop."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.receiver = Receiver()
        self.standin, self.runner = self.run(self._start())

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(10)

    async def _start(self) -> tuple[SlackStandIn, web.AppRunner]:
        standin = SlackStandIn(signing_secret=SECRET, bot_token=TOKEN)
        await standin.start()
        standin.several_workspaces()
        runner, standin.events_url = await serve(self.receiver.handle)
        return standin, runner

    def stop(self) -> None:
        async def stop() -> None:
            await self.runner.cleanup()
            await self.standin.stop()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
        self.loop.close()


def test_the_page_shows_the_workspaces_each_persons_channels_and_uninstalls() -> None:
    background = Background()
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            errors: list[str] = []
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(background.standin.base_url + "/")
            expect(page.get_by_test_id("workspace-name")).to_have_text("Dev Workspace")
            expect(page.get_by_test_id("workspace-T0DEV")).to_contain_text("installed")
            expect(page.get_by_test_id(f"workspace-{OTHER_TEAM}")).to_contain_text("Other Workspace")
            expect(page.get_by_test_id("workspace-T0GRIDB")).to_contain_text("installed org-wide")
            expect(page.get_by_test_id("channel-approvals")).to_be_visible()
            expect(page.get_by_test_id("channel-other-approvals")).to_have_count(0)
            be(page, "dan")  # a person of the other plain workspace: its channels only
            expect(page.get_by_test_id("workspace-name")).to_have_text("Other Workspace")
            expect(page.get_by_test_id("channel-other-approvals")).to_be_visible()
            expect(page.get_by_test_id("channel-approvals")).to_have_count(0)
            be(page, "hank")  # of Grid B: both workspaces of the organisation
            expect(page.get_by_test_id("channel-grid-a-approvals")).to_be_visible()
            expect(page.get_by_test_id("channel-grid-b-ops")).to_be_visible()
            page.get_by_test_id(f"uninstall-{OTHER_TEAM}").click()
            expect(page.get_by_test_id(f"workspace-{OTHER_TEAM}")).to_contain_text("not installed")
            expect(page.get_by_test_id(f"uninstall-{OTHER_TEAM}")).to_have_count(0)
            page.get_by_test_id(f"uninstall-{GRID}").click()
            expect(page.get_by_test_id("workspace-T0GRIDA")).to_contain_text("not installed")
            browser.close()
            assert not errors, errors
        received = background.run(background.standin.wait_for(lambda: len(background.receiver.events) >= 4))
        assert received
        told = [(e["event"]["type"], e["team_id"]) for e in background.receiver.events]
        assert told == [("tokens_revoked", OTHER_TEAM), ("app_uninstalled", OTHER_TEAM),
                        ("tokens_revoked", GRID), ("app_uninstalled", GRID)]
    finally:
        background.stop()

"""The stand-in's page in a real browser (Debian's Chromium, headless): a person's Home, their DMs and a modal's choice
inputs, with a Bolt app answering; and every emoji shortcode the bot writes shown as its emoji."""

from __future__ import annotations

import ast
import asyncio
import json
import re
import threading
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import pytest
from aiohttp import web
from playwright.sync_api import Page, expect, sync_playwright
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_sdk import WebClient

from bot.devslack.server import SlackStandIn
from bot.slack.blocks.arguments import parameters_line
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS
from tests.support.receiver import SECRET, TOKEN, actions_card, bolt_app, option, serve
from tests.support.source import ROOT

pytestmark = pytest.mark.slow  # Chromium

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

            # the DM with the app: its card, clicked there; another person sees their own DM. A message arriving
            # marks the sidebar's items in place: the element under a person's pointer is never swapped for another
            # (a click whose mousedown and mouseup straddled such a swap was lost)
            items = [page.get_by_test_id(testid).element_handle() for testid in ("sidebar-dm-bot", "channel-sales")]
            client = WebClient(token=TOKEN, base_url=served.standin.api_url)
            client.chat_postMessage(channel="U0ALICE", text="approve?", blocks=actions_card("apr-5"))
            client.chat_postMessage(channel="C0SALES", text="a new message in #sales")
            expect(page.get_by_test_id("unread-dm-bot")).to_have_text("1")
            expect(page.get_by_test_id("unread-sales")).to_have_text("1")
            assert [item.evaluate("node => node.isConnected") for item in items] == [True, True]
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


SHORTCODE = re.compile(r"(?<![\w:]):([a-z][a-z0-9_+-]*):(?![\w:])")


def shortcodes_in(source: str) -> set[str]:
    """The emoji shortcodes (`:jigsaw:`) in a module's string literals, f-strings' too (a value in an f-string
    reads as a word, so a key's `{prefix}:name:{id}` is none), not in its docstrings."""
    tree = ast.parse(source)
    skip = {
        id(node.body[0].value) for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body and isinstance(node.body[0], ast.Expr) and isinstance(node.body[0].value, ast.Constant)
    }
    texts: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            skip.update(id(part) for part in node.values)
            texts.append("".join(str(p.value) if isinstance(p, ast.Constant) else "value" for p in node.values))
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            texts.append(node.value)
    return {code for text in texts for code in SHORTCODE.findall(text)}


def bot_shortcodes() -> set[str]:
    """Every shortcode the bot writes to Slack (the store's Redis keys and the stand-in itself left out)."""
    paths = [p for p in (ROOT / "bot").rglob("*.py") if not {"store", "devslack"} & set(p.parts)]
    return {code for path in paths for code in shortcodes_in(Path(path).read_text())}


def test_shortcodes_are_found_in_strings_not_in_keys_or_docstrings() -> None:
    source = '''"""A docstring's :meth:`x` and :docs:."""
KEY = f"{prefix}:modelcache:{digest}"
LINE = f":jigsaw: *Parameters:* {n}" + ":white_check_mark: done at 14:05:09"
'''
    assert shortcodes_in(source) == {"jigsaw", "white_check_mark"}
    assert {"jigsaw", "warning", "hourglass_flowing_sand"} <= bot_shortcodes()


def test_the_page_shows_every_emoji_the_bot_uses() -> None:
    """`:jigsaw:` on a tool call's card (its parameters) is shown as 🧩, not as typed; so is every other shortcode
    the bot writes. An unknown shortcode stays as typed, as in Slack."""
    served = Background()
    errors: list[str] = []
    codes = sorted(bot_shortcodes())
    schema = json.dumps({"type": "object", "properties": {"to": {"type": "string"}}, "required": ["to"]})
    line = parameters_line(schema)
    assert line.startswith(":jigsaw: ")
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page()
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.goto(served.standin.base_url + "/")
            WebClient(token=TOKEN, base_url=served.standin.api_url).chat_postMessage(
                channel="C0GENERAL", text="a tool call",
                blocks=[{"type": "context", "elements": [{"type": "mrkdwn", "text": line}]}],
            )
            page.get_by_test_id("channel-general").click()
            card = page.get_by_test_id("messages").get_by_test_id("message").last
            expect(card).to_contain_text("\U0001f9e9 Parameters:")
            assert ":jigsaw:" not in card.inner_text()
            shown = page.evaluate(
                """async (codes) => {
                    const { emojify } = await import("/static/mrkdwn.js");
                    return codes.map((code) => emojify(`:${code}:`));
                }""",
                [*codes, "not_an_emoji_we_use"],
            )
            browser.close()
    finally:
        served.stop()
    assert not errors, errors
    assert shown[-1] == ":not_an_emoji_we_use:"
    assert {code: text for code, text in zip(codes, shown, strict=False) if text == f":{code}:"} == {}

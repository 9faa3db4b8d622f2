"""The dev page's panes (Phone: `bot dev --push`, Mail: `bot dev --email`) from a test: a program's ask in #general
made and its outcome waited for with the dev shell's key (`ask`, `outcome`), the dev page in a fresh Chromium context
on `localhost` with no page or console error allowed (`pane_context`), and the local Slack's `/_control/<pane>`
answering 404 until it is given the pane's view, then that view (`pane_only_when_given`)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp
from agent_approvals import ApprovalsClient
from playwright.sync_api import Browser, BrowserContext, Page

from bot.devslack.server import SlackStandIn


async def ask(shell: dict[str, str], title: str) -> str:
    """A program's ask (send_email to bob) titled `title`, with the dev shell's key: its approval's id."""
    async with ApprovalsClient(shell["AGENT_APPROVALS_URL"], shell["AGENT_APPROVALS_KEY"], title=title) as client:
        asked = await client.request_tool("send_email", {"to": "bob@example.com", "subject": "Q2 prices"})
        return asked.id


async def outcome(shell: dict[str, str], approval: str) -> tuple[str, str]:
    """The approval's status and who decided it, once decided (within 30 s)."""
    async with ApprovalsClient(shell["AGENT_APPROVALS_URL"], shell["AGENT_APPROVALS_KEY"]) as client:
        decided = await client.wait(approval, at_most=30)
        return decided.status, decided.decided_by


@contextmanager
def pane_context(browser: Browser) -> Iterator[tuple[BrowserContext, Page]]:
    """A fresh context (1400x900) and its first page, on which no page error and no console error may happen;
    closed at the end."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    yield context, page
    context.close()
    assert errors == []


async def pane_only_when_given(pane: str, flag: str, view: dict[str, Any], *, attribute: str) -> None:
    """The local Slack without a pane's view: its state says no `pane`, `/_control/<pane>` is a 404 naming `flag`;
    given the view (its `attribute`, as `bot dev` sets it), both say it; the pane's script never writes markup (no
    innerHTML)."""
    slack = SlackStandIn(signing_secret="s" * 32, bot_token=f"xoxb-{pane}")
    url = await slack.start()
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(url + "/_control/state") as state, http.get(url + f"/_control/{pane}") as none:
                assert (await state.json())[pane] is False
                assert none.status == 404 and flag in (await none.json())["error"]
            setattr(slack, attribute, lambda: view)
            async with http.get(url + "/_control/state") as state, http.get(url + f"/_control/{pane}") as shown:
                assert (await state.json())[pane] is True
                assert shown.status == 200 and await shown.json() == {"ok": True, **view}
            async with http.get(url + f"/static/{pane}pane.js") as script:
                assert script.status == 200 and "innerHTML" not in await script.text()
    finally:
        await slack.stop()

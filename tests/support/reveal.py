"""Reveal in a browser test: a program's ask whose arguments hold a card number (with the key `python -m bot dev`
printed), and the one-time link a person is answered with when they click "Show hidden values" on its card."""

from __future__ import annotations

import json
import re
import urllib.request
from typing import Any

from playwright.sync_api import Page, expect

from tests.support.browser import be, go
from tests.support.dev import Dev

CARD = "4111111111111111"
TITLE = "Refund order A-77"


def ask_refund(dev: Dev) -> None:
    shell = dev.exported()
    body = {"kind": "tool", "title": TITLE, "tool": {"name": "refund", "arguments": {
        "order": "A-77", "card": {"number": CARD}, "amount": 12}}}
    request = urllib.request.Request(
        shell["AGENT_APPROVALS_URL"] + "/api/v1/approvals", method="POST", data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {shell['AGENT_APPROVALS_KEY']}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=15) as answer:
        said: dict[str, Any] = json.loads(answer.read())
    assert said["status"] == "pending", said


def reveal_link(page: Page, person: str, port: int) -> str:
    """`person` clicks "Show hidden values" on the card; the link they are answered with."""
    be(page, person)
    go(page, "approvals")
    shown = page.get_by_test_id("messages").get_by_test_id("message").filter(has_text=TITLE)
    expect(shown).to_have_count(1)
    links = page.get_by_test_id("ephemeral").filter(has_text="Open the hidden values")
    before = links.count()
    shown.get_by_test_id("button-reveal").click()
    expect(links).to_have_count(before + 1)
    href = links.last.get_by_role("link", name="Open the hidden values").get_attribute("href") or ""
    assert re.fullmatch(rf"http://localhost:{port}/reveal/[A-Za-z0-9_-]{{43}}", href), href
    return href

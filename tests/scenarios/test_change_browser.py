"""The change on the card and its whole page as people use them (#79 items 2 and 7), in a real browser: Debian's
Chromium, headless, on the local Slack page of `python -m bot dev`.

The program `python -m bot dev` prints (a Claude Code-like `Edit` of a 2,000-line file, with its file change as an
artefact) is run as printed, with the key dev printed. In #approvals its card says `+1 −1 in 1 file`, shows the first
hunk as preformatted text and links the whole change. Bob opens the link in his own browser, signs in with Slack and
walks the page: the file's path, line numbers, the unified and the side-by-side view. He approves on the card; the
program prints `approved`.

Screenshots: artifacts/change-card.png, change-unified.png, change-split.png.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.support.browser import be, dev_mode, go, screenshot, sign_in_as, workspace_page
from tests.support.dev import ROOT, Dev, wait_until

pytestmark = pytest.mark.slow  # `python -m bot dev`, a program and Chromium

expect.set_options(timeout=20_000)


@pytest.fixture
def dev() -> Iterator[Dev]:
    with dev_mode("test-change-") as process:
        yield process


@pytest.fixture
def page(browser: Browser, dev: Dev) -> Iterator[Page]:
    with workspace_page(browser, dev, height=1400) as opened:
        yield opened


def printed_program(dev: Dev) -> str:
    """The heredoc `python -m bot dev` printed (how to ask with a file edit), as a user pastes it."""
    lines = dev.stdout().splitlines()
    start = lines.index("python3 - <<'PY'")
    return "\n".join(lines[start + 1: lines.index("PY", start)]) + "\n"


def test_a_program_asks_to_edit_a_2000_line_file_and_bob_walks_the_whole_change(
    browser: Browser, page: Page, dev: Dev,
) -> None:
    shell = dev.exported()
    env = {**os.environ, **shell, "PYTHONPATH": f"{ROOT}{os.pathsep}{ROOT / 'agents'}"}
    program = subprocess.Popen([sys.executable, "-c", printed_program(dev)], env=env, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        be(page, "bob")
        go(page, "approvals")
        card = page.get_by_test_id("messages").get_by_test_id("message").filter(has_text="The change:")
        expect(card).to_have_count(1)
        expect(card).to_contain_text("The change: +1 −1 in 1 file")
        hunk = card.locator("pre").filter(has_text="@@ -7,7 +7,7 @@")
        expect(hunk).to_contain_text("-    total += price(10, qty=1)")
        expect(hunk).to_contain_text("+    total += price(10, qty=1, tax=True)")
        link = card.get_by_role("link", name="See the whole change")
        href = link.get_attribute("href") or ""
        assert re.fullmatch(rf"http://localhost:{dev.port}/approvals/a-[a-z0-9]+/diff", href), href
        screenshot(page, "change-card.png")

        context = browser.new_context(viewport={"width": 1400, "height": 900})
        bobs = context.new_page()
        bobs.goto(href)
        sign_in_as(bobs, "bob")
        expect(bobs).to_have_url(href)
        expect(bobs.get_by_test_id("summary")).to_have_text("+1 −1 in 1 file")
        expect(bobs.get_by_test_id("path")).to_have_text("src/shop.py")
        removed = bobs.get_by_test_id("unified").locator("tr.del")
        expect(removed).to_have_count(1)
        expect(removed.get_by_test_id("old")).to_have_text("10")
        expect(bobs.get_by_test_id("line")).to_have_count(8)  # 3 kept, 1 removed, 1 added, 3 kept
        screenshot(bobs, "change-unified.png")
        bobs.get_by_test_id("view-split").click()
        expect(bobs).to_have_url(href + "?view=split")
        rows = bobs.get_by_test_id("split").get_by_test_id("row")
        expect(rows).to_have_count(7)
        changed = rows.nth(3)
        expect(changed.get_by_test_id("old")).to_have_text("10")
        expect(changed.get_by_test_id("new")).to_have_text("10")
        expect(changed.locator("td.add")).to_contain_text("price(10, qty=1, tax=True)")
        screenshot(bobs, "change-split.png")
        context.close()

        card.get_by_test_id("button-approval_approve").click()
        wait_until(lambda: program.poll() is not None, timeout=30, what="the program to end")
        out, err = program.communicate()
        assert program.returncode == 0, err
        assert out.splitlines()[-1] == "approved", out
    finally:
        program.kill()

"""The report (#17) in a real browser: Debian's Chromium, headless, launched as tests/support/browser.py does.

A month of realistic history (the benchmark's `synthetic_history`, written into a real Redis with the fields the
product writes) and approvals waiting now go through `python -m bot report`; the file it writes is opened from
disk with the network cut off. Checked: no console error, no request for anything but the file itself, and each
plot drawn (its <figure> holds an <svg> with a real size). Screenshots go to artifacts/ (report.png: the top of
the page, as docs/report.png shows it; report-full.png; report-empty.png).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Route, sync_playwright

from bot.report.html import PLOT_IDS
from bot.store import Store, connect
from tests.benchmarks.report_build import pending_approvals, synthetic_history, write_stream
from tests.support.browser import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.slow  # Chromium and `python -m bot report`

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


async def _fill(redis_url: str, *, entries: int) -> None:
    redis = connect(redis_url)
    store = Store(redis)
    try:
        now = time.time()
        await write_stream(redis, store.keys.audit, synthetic_history(entries, now=now))
        for approval in pending_approvals(40, now=now):
            assert await store.approvals.create(approval) == "ok"
    finally:
        await redis.aclose()


async def _an_unrelated_entry(redis_url: str) -> None:
    redis = connect(redis_url)
    try:
        await Store(redis).audit.append("requested", approval="a-elsewhere", origin_channel="C0ELSEWHERE",
                                        kind="message")
    finally:
        await redis.aclose()


def report(redis_url: str, out: Path, *options: str) -> None:
    env = {**os.environ, "REDIS_URL": redis_url}
    command = [sys.executable, "-m", "bot", "report", "--since", "30d", "--out", str(out), *options]
    done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr


def open_offline(browser: Browser, path: Path, *, height: int = 1500) -> tuple[Page, list[str], list[str]]:
    """The file in a new page, every other request refused; (page, console errors, other requests)."""
    context = browser.new_context(viewport={"width": 1100, "height": height}, offline=True)
    page = context.new_page()
    errors: list[str] = []
    others: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type in ("error", "warning") else None)

    def only_the_file(route: Route) -> None:
        if route.request.url == path.as_uri():
            route.continue_()
        else:
            others.append(route.request.url)
            route.abort()

    page.route("**/*", only_the_file)
    page.goto(path.as_uri())
    page.wait_for_load_state("load")
    return page, errors, others


def test_the_report_opens_offline_with_every_plot(browser: Browser, redis_url: str, tmp_path: Path) -> None:
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's event loop
        pool.submit(asyncio.run, _fill(redis_url, entries=3000)).result()
    out = tmp_path / "report.html"
    report(redis_url, out)
    page, errors, others = open_offline(browser, out)
    try:
        assert page.title().startswith("Approvals report, ")
        for plot_id in PLOT_IDS:
            svg = page.locator(f"figure#{plot_id} > svg")
            assert svg.count() == 1, plot_id
            box = svg.bounding_box()
            assert box is not None and box["width"] > 300 and box["height"] > 100, (plot_id, box)
            assert page.locator(f"figure#{plot_id} > figcaption").inner_text().strip(), plot_id
            # drawn: the plot has shapes (bars, dots, lines) and its glyphs as paths, no <text> needing a font
            assert svg.locator("path").count() > 10 and svg.locator("text").count() == 0, plot_id
        assert page.locator("#tile-decisions b").inner_text().isdigit()
        assert page.locator("table#table-by-channel tbody tr").count() == 4
        assert page.locator("table#table-rubber-stamp tbody tr").count() == 1  # the quick approver
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report.png"))
        page.screenshot(path=str(ARTIFACTS / "report-full.png"), full_page=True)
        assert errors == [] and others == []
    finally:
        page.context.close()


def test_an_empty_report_opens_offline(browser: Browser, redis_url: str, tmp_path: Path) -> None:
    out = tmp_path / "empty.html"
    with ThreadPoolExecutor(1) as pool:  # a log (with none, the report says so and fails), nothing in the period
        pool.submit(asyncio.run, _an_unrelated_entry(redis_url)).result()
    report(redis_url, out, "--channel", "C0NOTHING")
    page, errors, others = open_offline(browser, out, height=600)
    try:
        assert "Nothing to report" in page.locator("#empty").inner_text()
        assert page.locator("figure").count() == 0
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "report-empty.png"))
        assert errors == [] and others == []
    finally:
        page.context.close()

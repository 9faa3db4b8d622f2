"""An admin's App Home (#16, #17) in a real browser: Debian's Chromium, headless, on the local Slack page of
`python -m bot dev` (as tests/scenarios/test_browser.py), with its Redis started by the test so that the history and a
rule can be written as the product writes them.

Alice makes herself an admin of #sales (typed `/agent config admins @alice`), opens her Home, sees the
channel's numbers of the last 7 days and its rule, clicks Revoke, confirms in the dialog, and the rule
disappears (from her Home and from Redis). Screenshot: artifacts/admin-home.png.
"""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest
from playwright.sync_api import Browser, Page, expect

from bot.core.allow_rules import Condition, Match, Rule
from bot.store import Store, connect
from tests.conftest import RedisServer, start_redis
from tests.support.browser import be, dev_mode, go, open_home, screenshot, type_in_box, workspace_page
from tests.support.dev import Dev

pytestmark = pytest.mark.slow  # `python -m bot dev` and Chromium

SALES = "C0SALES"
PREFIX = "hitl-dev"  # dev mode's key prefix (set here too: it is passed through)
BOB, CAROL = "U0BOB", "U0CAROL"
T = TypeVar("T")

expect.set_options(timeout=20_000)


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    server = start_redis()
    yield server
    server.process.terminate()
    server.process.wait(timeout=10)
    shutil.rmtree(server.workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def dev(redis_server: RedisServer) -> Iterator[Dev]:
    with dev_mode("test-admin-home-", REDIS_URL=redis_server.url, REDIS_KEY_PREFIX=PREFIX) as process:
        yield process


@pytest.fixture
def page(browser: Browser, dev: Dev) -> Iterator[Page]:
    with workspace_page(browser, dev, height=1100) as opened:
        yield opened


def in_store(redis_url: str, work: Callable[[Store], Awaitable[T]]) -> T:
    """Run `work` on a store of the dev's Redis (in another thread: Playwright's sync API holds this one's loop)."""

    async def run() -> T:
        redis = connect(redis_url)
        try:
            return await work(Store(redis, prefix=PREFIX))
        finally:
            await redis.aclose()

    with ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, run()).result()


async def history_and_a_rule(store: Store) -> str:
    """Three decisions in #sales (two approvals by bob, a rejection by carol) and alice's rule."""
    for approval, outcome, by, latency in (("b1", "approved", BOB, "4000"), ("b2", "approved", BOB, "6000")):
        await store.audit.append(
            "decision", approval=approval, origin_channel=SALES, outcome=outcome, by=by, latency_ms=latency
        )
    await store.audit.append(
        "decision", approval="b3", origin_channel=SALES, outcome="rejected", by=CAROL, latency_ms="20000"
    )
    now = time.time()
    rule = Rule(
        id="",
        scope="channel",
        channel=SALES,
        run="",
        match=Match(tool="send_email", where=(("to", Condition("ends_with", "@example.com")),)),
        created_by="U0ALICE",
        created_at=now,
        expires_at=now + 86400,
    )
    return await store.rules.create(rule)


def test_an_admin_sees_the_numbers_and_revokes_a_rule_from_the_home(page: Page, redis_server: RedisServer) -> None:
    be(page, "alice")
    go(page, "sales")
    type_in_box(page, "/agent config admins @alice")
    expect(page.get_by_test_id("ephemeral").filter(has_text="now @alice")).to_have_count(1)
    rule_id = in_store(redis_server.url, history_and_a_rule)
    assert rule_id.startswith("R"), rule_id

    home = open_home(page)
    expect(home).to_contain_text("Your channels")
    expect(home).to_contain_text("3 decisions: 2 approved, 1 rejected, 0 revised, 0 timed out, 0 cancelled")
    expect(home).to_contain_text("Time to decision by people: p50 6.0 s, p90 20 s")
    expect(home).to_contain_text("Busiest approver: @bob (2 decisions)")
    expect(home).to_contain_text("as of")
    expect(home).to_contain_text(f'{rule_id} · send_email where to ends with "@example.com" · this channel · by @alice')
    revoke = home.locator(f'[data-testid="button-rule_revoke"][data-value="{SALES}/{rule_id}"]')
    expect(revoke).to_be_visible()
    screenshot(page, "admin-home.png")

    revoke.click()
    dialog = page.get_by_test_id("confirm-dialog")
    expect(dialog).to_contain_text(f"Revoke rule {rule_id}?")
    dialog.get_by_test_id("confirm-ok").click()
    expect(revoke).to_have_count(0)
    expect(home).to_contain_text("No live rules.")
    expect(home).not_to_contain_text(f"{rule_id} · send_email")

    async def gone(store: Store) -> bool:
        return await store.rules.get(SALES, rule_id) is None

    assert in_store(redis_server.url, gone)

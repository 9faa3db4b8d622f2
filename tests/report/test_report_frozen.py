"""The report says which scopes are frozen when it is made (`/agent freeze`): everything first, each with its reason,
who froze it and since when, the reason escaped (an admin's words are text, never markup); no section when none is."""

from __future__ import annotations

import time

import pytest

from bot.report.cli import figures_of, read_history
from bot.report.figures import RubberStamp
from bot.report.html import render
from bot.store import Store
from tests.conftest import SALES
from tests.support.history import DAY, Page, assert_self_contained, one

HOSTILE = "<img src=x onerror=alert(1)> refunds loop"


async def report_of(store: Store) -> str:
    now = time.time()
    for entry in one("person-1", now - DAY, SALES, outcome="approved", by="U0BOB", latency_s=30, kind="tool",
                     tool="refund"):
        await store.audit.append(entry["event"], **{k: v for k, v in entry.items() if k != "event"})
    history = await read_history(store, since=now - 30 * DAY, channels=[], now=now)
    return render(figures_of(history, channels=[], rubber_stamp=RubberStamp()))


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_the_report_names_the_frozen_scopes_everything_first(store: Store) -> None:
    assert await store.freezes.freeze(f"channel:{SALES}", reason=HOSTILE, by="U0ADMIN")
    assert await store.freezes.freeze("all", reason="incident 42", by="cli:ops@host")
    html = await report_of(store)
    page = Page(html)
    assert "frozen" in page.ids
    section = html[html.index('id="frozen"'):html.index("</section>", html.index('id="frozen"'))]
    assert section.index("everything: incident 42 (by cli:ops@host, since ") < section.index(f"channel:{SALES}")
    assert "&lt;img src=x onerror=alert(1)&gt; refunds loop (by U0ADMIN" in section
    assert "<img" not in html
    assert_self_contained(html)


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_no_frozen_section_when_nothing_is_frozen(store: Store) -> None:
    html = await report_of(store)
    assert "frozen" not in Page(html).ids and "Frozen now" not in html

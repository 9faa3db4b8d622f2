"""The report per workspace (#65): with approvals of more than one Slack workspace in the period, a "By workspace"
table (an approval's workspace is the `team` of its `requested` entry; none: the home workspace, named as such);
none with one workspace; `--team` reports only the approvals asked in that workspace."""

from __future__ import annotations

import time

import pytest

from bot.core.workspaces import WorkspaceRef
from bot.report import compute
from bot.report.cli import figures_of, read_history
from bot.report.figures import RubberStamp
from bot.report.html import render
from bot.store import Store
from tests.conftest import SALES
from tests.support.history import DAY, Page, one

HOME, EU = "T0DEV", "T0EUROPE"


def asked_in(team: str, approval: str, at: float, *, latency_s: float) -> list[dict[str, str]]:
    """An approval asked in `team` ("": written without one, the home workspace's) and approved by bob."""
    requested, decided = one(approval, at, SALES, outcome="approved", by="U0BOB", latency_s=latency_s, kind="tool",
                             tool="refund")
    return [requested | ({"team": team} if team else {}), decided]


def history(now: float) -> list[dict[str, str]]:
    out = asked_in("", "home-1", now - DAY, latency_s=10) + asked_in(HOME, "home-2", now - DAY, latency_s=30)
    out += asked_in(EU, "eu-1", now - DAY, latency_s=100) + asked_in(EU, "eu-2", now - DAY, latency_s=300)
    out += asked_in(EU, "eu-3", now - DAY, latency_s=500)
    return sorted(out, key=lambda e: float(e["at"]))


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
def test_a_by_workspace_table_names_each_workspace_and_the_home_one() -> None:
    now = time.time()
    figures = compute(history(now), now=now, since=now - 30 * DAY, home_team=HOME)
    assert [(s.label, s.decided, s.p50_ms) for s in figures.by_workspace] == [
        (EU, 3, 300_000), (f"{HOME} (home)", 2, 10_000)]
    page = Page(render(figures))
    assert [row[0] for row in page.rows("table-by-workspace")] == [EU, f"{HOME} (home)"]


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
def test_one_workspace_has_no_workspace_table() -> None:
    now = time.time()
    only_home = [e for e in history(now) if not e["approval"].startswith("eu-")]
    figures = compute(only_home, now=now, since=now - 30 * DAY, home_team=HOME)
    assert figures.by_workspace == ()
    assert "table-by-workspace" not in Page(render(figures)).ids


async def test_team_reports_only_that_workspaces_approvals(store: Store) -> None:
    now = time.time()
    await store.tenants.learn_home(WorkspaceRef(HOME))
    for entry in history(now):
        await store.audit.append(entry["event"], **{k: v for k, v in entry.items() if k != "event"})
    eu = await read_history(store, since=now - 30 * DAY, channels=[], now=now, team=EU)
    assert {e["approval"] for e in eu.entries} == {"eu-1", "eu-2", "eu-3"} and eu.home_team == HOME
    home = await read_history(store, since=now - 30 * DAY, channels=[], now=now, team=HOME)
    assert {e["approval"] for e in home.entries} == {"home-1", "home-2"}  # the one recorded without a team too
    figures = figures_of(eu, channels=[], rubber_stamp=RubberStamp())
    assert figures.decisions == 3 and figures.by_workspace == ()  # one workspace in it

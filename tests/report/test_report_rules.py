"""The report with "always allow" rules: approvals by rules counted apart from input modes, no rule column without
them, and text from the audit stream escaped by the templates."""

from __future__ import annotations

import math
import time

import pytest

from bot.report import SERIES, compute, headline, mode_of
from bot.report.cli import read_history
from bot.report.html import NAMES, render
from bot.store import Store
from tests.benchmarks.report_build import write_stream
from tests.conftest import ALICE, BOB, SALES
from tests.support.history import DAY, OPS, SERIES_HEAD, Page, assert_self_contained, automatic, day, one


def by_rule(
    approval: str, at: float, channel: str, *, rule_id: str, rule_by: str, tool: str, described: str
) -> dict[str, str]:
    """As ApprovalService audits a call a rule approved (opened decided, through lua/open_approval.lua)."""
    return {
        "event": "auto_approved",
        "at": repr(at),
        "approval": approval,
        "run": "rscript02",
        "by": "rule",
        "outcome": "approved",
        "rule": f"rule {rule_id} (by {rule_by}, expires 2030-01-01 00:00 UTC): {described}",
        "rule_id": rule_id,
        "rule_by": rule_by,
        "kind": "tool_call",
        "tool": tool,
        "digest": "0" * 64,
        "origin_channel": channel,
    }


R3_MATCH = 'send_email where to ends with "@example.com"'


R5_MATCH = 'deploy where target equals "<script>alert(1)</script>"'


def rules_history(base: float) -> list[dict[str, str]]:
    """Two days from `base` (a UTC midnight):

    day 0  C0SALES  rule R3 (by alice) approves 3 send_email calls; mode policy approves 2 steps
           C0OPS    rule R5 (by bob) approves 1 deploy call; mode never rejects 1 step
    day 1  C0SALES  rule R3 approves 2 more; bob approves a call himself (30 s)
    """
    d0, d1 = base + 9 * 3600, base + DAY + 9 * 3600
    r3 = {"rule_id": "R3", "rule_by": ALICE, "tool": "send_email", "described": R3_MATCH}
    out = [by_rule(f"r3-d0-{i}", d0 + i, SALES, **r3) for i in range(3)]
    out += [by_rule("r5-d0-0", d0 + 10, OPS, rule_id="R5", rule_by=BOB, tool="deploy", described=R5_MATCH)]
    policy = "mode policy: the message matched no risk word"
    out += [automatic(f"policy-{i}", d0 + 20 + i, SALES, event="auto_approved", rule=policy) for i in range(2)]
    out += [automatic("never-0", d0 + 30, OPS, event="auto_rejected", rule="mode never: nobody is asked")]
    out += [by_rule(f"r3-d1-{i}", d1 + i, SALES, **r3) for i in range(2)]
    out += one("person-01", d1 + 100, SALES, outcome="approved", by=BOB, latency_s=30, kind="tool_call", tool="x")
    return sorted(out, key=lambda entry: float(entry["at"]))


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
async def test_approvals_by_rules_are_counted_apart_from_modes(store: Store) -> None:
    now = time.time()
    base = math.floor(now / DAY) * DAY - 3 * DAY
    await write_stream(store.redis, store.keys.audit, rules_history(base))
    history = await read_history(store, since=now - 30 * DAY, channels=(), now=now)
    figures = compute(history.entries, backlog=history.waiting, now=now, since=history.since)

    # automatic: rules R3 5 + R5 1 = 6, modes 2 approved (policy) and 1 rejected (never); people: 1 approved
    assert {k: figures.outcomes[k] for k in (*SERIES_HEAD, "rule_approved")} == {
        "approved": 1,
        "rejected": 0,
        "revised": 0,
        "timed_out": 0,
        "cancelled": 0,
        "auto_approved": 2,
        "auto_rejected": 1,
        "rule_approved": 6,
    }
    days = {p.label: p.counts for p in figures.periods}
    assert days[day(base, 0)] == {"rule_approved": 4, "auto_approved": 2, "auto_rejected": 1}
    assert days[day(base, 1)] == {"rule_approved": 2, "approved": 1}
    auto = figures.automatic
    assert (auto.approved, auto.rejected, auto.by_rules) == (8, 1, 6)
    assert auto.by_mode == (("rule", 6, 0), ("policy", 2, 0), ("never", 0, 1))
    assert ("always allow rule R3", 5, 0) in auto.by_rule and ("always allow rule R5", 1, 0) in auto.by_rule
    assert [(r.rule_id, r.uses, r.created_by, r.channels, r.tools, r.described) for r in auto.rules] == [
        ("R3", 5, ALICE, (SALES,), ("send_email",), R3_MATCH),
        ("R5", 1, BOB, (OPS,), ("deploy",), R5_MATCH),
    ]
    rule_entry = next(e for e in history.entries if e.get("rule_id") == "R3")
    mode_entry = next(e for e in history.entries if e.get("approval") == "policy-0")
    assert (mode_of(rule_entry), mode_of(mode_entry)) == ("rule", "policy")

    # the page: a column of approvals by rule, a tile, the split, a table by rule id (escaped)
    html = render(figures)
    page = Page(html)
    assert page.tables["table-per-day"][0] == ["day", *(NAMES[s] for s in SERIES)]
    per_day = {row[0]: row[1:] for row in page.rows("table-per-day")}
    # approved, rejected, revised, timed out, cancelled, automatically (modes), by a rule, rejected automatically
    assert per_day[day(base, 0)] == ["0", "0", "0", "0", "0", "2", "4", "1"]
    assert per_day[day(base, 1)] == ["1", "0", "0", "0", "0", "0", "2", "0"]
    assert per_day["total"] == ["1", "0", "0", "0", "0", "2", "6", "1"]
    assert page.text_of("tile-rule-approved", html) == "6approved by a rule"
    assert page.text_of("tile-auto-approved", html) == "2approved automatically"
    assert page.text_of("automatic-total", html).startswith(
        "8 steps approved (2 by input modes, 6 by always-allow rules) and 1 rejected automatically"
    )
    assert page.rows("table-automatic-modes") == [["rule", "6", "0"], ["policy", "2", "0"], ["never", "0", "1"]]
    assert page.rows("table-rules") == [
        ["R3", "5", ALICE, SALES, "send_email", R3_MATCH],
        ["R5", "1", BOB, OPS, "deploy", R5_MATCH],
    ]
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert_self_contained(html)

    # the headline of C0SALES: 7 automatic (2 by the mode, 5 by R3)
    sales = headline(history.entries, now=now, channel=SALES)
    assert (sales.auto_approved, sales.rule_approved) == (7, 5)
    assert "Approved automatically: 7 (2 by input modes, 5 by always-allow rules)" in sales.lines()
    ops = headline(history.entries, now=now, channel=OPS)
    assert "Approved automatically: 1 (0 by input modes, 1 by always-allow rules)" in ops.lines()


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
def test_without_rule_approvals_the_page_has_no_rule_column_or_table() -> None:
    now = time.time()
    entries = [automatic("policy-0", now - 60, SALES, event="auto_approved", rule="mode policy: no risk word")]
    html = render(compute(entries, now=now, since=now - DAY))
    page = Page(html)
    assert NAMES["rule_approved"] not in page.tables["table-per-day"][0]
    assert "table-rules" not in page.tables and 'id="tile-rule-approved"' not in html
    assert page.rows("table-automatic-modes") == [["policy", "1", "0"]]


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
def test_text_from_the_audit_stream_is_escaped_by_the_templates() -> None:
    """The page's templates autoescape: a user, channel, tool and rule written as markup (with `&`) are
    shown as the text they are, in the header, the tables and the rubber-stamp list, never as markup."""
    user, channel = "U0<script>alert(1)</script>&Co", "C0<script>alert(2)</script>&x"
    tool, described = "tool<script>alert(3)</script>&y", "x where y equals <script>alert(4)</script> & z"
    now = time.time()
    entries: list[dict[str, str]] = []
    for i in range(20):  # 20 approvals within 1 s: the user is flagged as a possible rubber stamp
        at = now - 3600 + i * 60
        entries += one(
            f"esc-{i:05d}", at, channel, outcome="approved", by=user, latency_s=1, kind="tool_call", tool=tool
        )
    entries.append(by_rule("esc-rule-1", now - 60, channel, rule_id="R9", rule_by=user, tool=tool, described=described))
    figures = compute(entries, now=now, since=now - DAY, channels=(channel,))
    assert [a.user for a in figures.flagged] == [user]

    html = render(figures)
    assert "<script" not in html and "&Co" not in html and "& z" not in html
    for n, tail in ((1, "&amp;Co"), (2, "&amp;x"), (3, "&amp;y")):
        assert f"&lt;script&gt;alert({n})&lt;/script&gt;{tail}" in html
    assert "&lt;script&gt;alert(4)&lt;/script&gt; &amp; z" in html
    assert "· C0&lt;script&gt;alert(2)&lt;/script&gt;&amp;x ·" in html  # the header names the channel
    page = Page(html)  # entities decoded: each cell is the text the audit stream wrote
    assert [row[0] for row in page.rows("table-by-channel")] == [channel]
    assert [row[0] for row in page.rows("table-by-approver")] == [user]
    assert [row[0] for row in page.rows("table-by-tool")] == [tool]
    assert [row[0] for row in page.rows("table-load")] == [user]
    assert [row[0] for row in page.rows("table-rubber-stamp")] == [user]
    assert page.rows("table-rules") == [["R9", "1", user, channel, tool, described]]
    assert_self_contained(html)

"""The report's Policies section (#42): the steps the policies decided at once, per policy, and what the policies in
shadow would have changed in the period's last 7 days (per verdict, per policy); none of it without policies, and
the ids from the audit stream escaped."""

from __future__ import annotations

import json
import time

import pytest

from bot.report import compute, policy_figures
from bot.report.cli import read_history
from bot.report.html import render
from bot.store import Store
from tests.conftest import SALES
from tests.support.history import DAY, Page, assert_self_contained, automatic, one

HOSTILE = "<script>alert(1)</script>"


def claim(*ids: str) -> str:
    return json.dumps({"bundle": "b" * 64, "ids": list(ids)}, separators=(",", ":"))


def by_policy(approval: str, at: float, *, event: str, ids: tuple[str, ...]) -> dict[str, str]:
    """As ApprovalService audits a step the policies decided at once (`_decided_by_policy`)."""
    return automatic(approval, at, SALES, event=event, rule=f"policy {', '.join(ids)}: within budget", by="policy",
                     policy=claim(*ids), tool="refund", kind="tool")


def shadow(approval: str, at: float, *, outcome: str, would: str, ids: tuple[str, ...]) -> dict[str, str]:
    """As ApprovalService audits a shadow verdict (`shadow_entry`, bot/policy/engine.py)."""
    return {"event": "policy_shadow", "at": repr(at), "approval": approval, "by": "policy", "outcome": outcome,
            "would": would, "reason": "over budget", "tool": "refund", "kind": "tool", "origin_channel": SALES,
            "policy": claim(*ids)}


def history(now: float) -> list[dict[str, str]]:
    """10 days back from `now`: 3 refunds allowed and 1 refused by policies; 4 shadow verdicts in the last week
    (3 refusals by `no-big-refunds`, 1 ask by a hostile id) and 1 older one; a person's decision."""
    out = [by_policy(f"allow-{i}", now - DAY - i, event="auto_approved", ids=("refunds-within-budget",))
           for i in range(3)]
    out += [by_policy("deny-0", now - DAY, event="auto_rejected", ids=("no-weekend-refunds",))]
    out += [shadow(f"sh-{i}", now - 2 * DAY + i, outcome="none", would="deny", ids=("no-big-refunds",))
            for i in range(3)]
    out += [shadow("sh-hostile", now - 3 * DAY, outcome="allow", would="ask", ids=(HOSTILE,))]
    out += [shadow("sh-old", now - 9 * DAY, outcome="none", would="deny", ids=("no-big-refunds",))]
    out += one("person-1", now - DAY, SALES, outcome="approved", by="U0BOB", latency_s=30, kind="tool", tool="x")
    return sorted(out, key=lambda e: float(e["at"]))


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
def test_the_policies_section_counts_decisions_and_the_last_week_of_shadow_verdicts() -> None:
    now = time.time()
    figures = compute(history(now), now=now, since=now - 30 * DAY)
    policies = figures.policies
    assert policies.decided == (("refunds-within-budget", 3, 0), ("no-weekend-refunds", 0, 1))
    assert policies.shadow == 4 and policies.would == (("deny", 3), ("ask", 1))
    assert policies.by_policy == (("no-big-refunds", "deny", 3), (HOSTILE, "ask", 1))
    assert [e["approval"] for e in policies.examples] == ["sh-2", "sh-1", "sh-0"]
    html = render(figures)
    page = Page(html)
    assert page.rows("table-policy-decided") == [["refunds-within-budget", "3", "0"], ["no-weekend-refunds", "0", "1"]]
    assert page.rows("table-policy-would") == [["refused at once", "3"], ["asked a person", "1"]]
    assert page.rows("table-policy-shadow") == [["no-big-refunds", "refused at once", "3"],
                                                [HOSTILE, "asked a person", "1"]]
    assert "What the policies would have changed (last 7 days)" in html
    assert page.text_of("policy-shadow-total", html).startswith("4 asks would have gone otherwise")
    assert HOSTILE not in html and "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert_self_contained(html)
    # the policies' steps are automatic steps too
    assert figures.automatic.approved == 3 and figures.automatic.rejected == 1


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
def test_a_short_period_shows_its_whole_shadow_and_no_policies_no_section() -> None:
    now = time.time()
    figures = compute(history(now), now=now, since=now - 2.5 * DAY)
    assert figures.policies.shadow == 3  # the hostile one is older than the period's start
    assert "What the policies would have changed (the whole period)" in render(figures)
    without = [e for e in history(now) if e.get("by") != "policy"]
    figures = compute(without, now=now, since=now - 30 * DAY)
    assert figures.policies.empty
    html = render(figures)
    assert 'id="policies"' not in html and "table-policy" not in html


def test_unreadable_policy_fields_count_as_no_policy() -> None:
    broken = {**shadow("x", 10.0, outcome="none", would="allow", ids=()), "policy": "not json"}
    assert policy_figures([broken]).by_policy == (("(none)", "allow", 1),)


async def test_the_cli_reads_policy_entries_from_the_audit_stream(store: Store) -> None:
    now = time.time()
    for entry in history(now):
        fields = {k: v for k, v in entry.items() if k != "event"}
        await store.audit.append(entry["event"], **fields)
    read = await read_history(store, since=now - 30 * DAY, channels=[SALES], now=now)
    figures = compute(read.entries, now=now, since=now - 30 * DAY)
    assert figures.policies.shadow == 4 and figures.policies.decided[0] == ("refunds-within-budget", 3, 0)

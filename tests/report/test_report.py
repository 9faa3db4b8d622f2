"""The offline report (#17): `python -m bot report` over a scripted history in a real Redis.

The history is written into the audit stream with the fields the product writes (`requested` as
`store.approvals.create` audits it, `decision` and `vote` as `lua/lib/decide.lua`, `auto_approved` as
`ApprovalService.audit_automatic`, `reminded` and `escalated`), each entry at a known time (its stream id
too), with known approvers and latencies; the approvals waiting now are stored with `store.approvals.create`.
Every expected number below is worked out by hand in the comments, not by the code under test.
"""

from __future__ import annotations

import re
import time
from dataclasses import replace

import pytest

from bot.report import TOOL_NOT_RECORDED, RubberStamp, compute, duration_ms, headline, nearest_rank
from bot.report.cli import read_history, read_waiting
from bot.report.entries import Pass
from bot.report.html import PLOT_IDS, render
from bot.store import Store
from tests.conftest import BOB, CAROL, SALES
from tests.support.history import (
    DAVE,
    DAY,
    OPS,
    SERIES_HEAD,
    WAITING,
    XSS_RULE,
    XSS_TOOL,
    Page,
    assert_self_contained,
    day,
    requested,
    waiting_approval,
    write_scripted,
)


def test_nearest_rank_percentiles() -> None:
    values = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100]
    # rank = ceil(p/100 × n): p50 -> 5, p90 -> 9, p99 -> 10, p1 -> 1
    assert [nearest_rank(values, p) for p in (50, 90, 99, 1)] == [50, 90, 100, 10]
    assert [nearest_rank([7], p) for p in (50, 90, 99)] == [7, 7, 7]
    three = [1, 2, 3]  # p50: rank ceil(1.5) = 2; p90: rank ceil(2.7) = 3
    assert (nearest_rank(three, 50), nearest_rank(three, 90)) == (2, 3)
    assert [duration_ms(ms) for ms in (2000, 50_000, 100_000, 120_000, 400_000, 900_000)] == [
        "2.0 s",
        "50 s",
        "1 min 40 s",
        "2 min",
        "6 min 40 s",
        "15 min",
    ]


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
async def test_scripted_history_gives_exact_figures_and_page(store: Store) -> None:
    base = await write_scripted(store)
    now = time.time()
    history = await read_history(store, since=now - 30 * DAY, channels=(), now=now)
    figures = compute(history.entries, backlog=history.waiting, now=now, since=history.since)

    # decisions: people 36 (approved 10 + 20 + quorum + R1 + xss = 33, rejected 2, revised 1), timed out 3 + R2 = 4,
    # cancelled 1; automatic: 8 approved, 1 rejected
    assert {k: figures.outcomes[k] for k in SERIES_HEAD} == {
        "approved": 33,
        "rejected": 2,
        "revised": 1,
        "timed_out": 4,
        "cancelled": 1,
        "auto_approved": 8,
        "auto_rejected": 1,
    }
    assert figures.decisions == 41
    assert figures.requested == 41 + len(WAITING)  # the scripted requests, and the waiting ones (audited now)
    # people's times, sorted (s): 2 ×20, 10, 20, 30, 40, 45, 50, 60, 60, 70, 80, 90, 100, 120, 300, 400, 900 (n 36)
    # p50: rank 18 -> 2; p90: rank ceil(32.4) = 33 -> 120; p99: rank ceil(35.64) = 36 -> 900
    overall = figures.overall
    assert (overall.decided, overall.p50_ms, overall.p90_ms, overall.p99_ms) == (36, 2000, 120_000, 900_000)
    assert figures.timeout_rate == pytest.approx(4 / 40)

    by_channel = {
        s.label: (s.decided, s.p50_ms, s.p90_ms, s.p99_ms, s.timed_out, s.cancelled) for s in figures.by_channel
    }
    # C0OPS: 2 ×20, 60, 120, 300, 900 (24): p50 rank 12 -> 2; p90 rank 22 -> 120; p99 rank 24 -> 900
    # C0SALES: 10, 20, 30, 40, 45, 50, 60, 70, 80, 90, 100, 400 (12): p50 rank 6 -> 50; p90 rank 11 -> 100; p99 -> 400
    assert by_channel == {
        OPS: (24, 2000, 120_000, 900_000, 0, 1),
        SALES: (12, 50_000, 100_000, 400_000, 4, 0),
    }
    by_approver = {s.label: (s.decided, s.p50_ms, s.p90_ms, s.p99_ms) for s in figures.by_approver}
    # bob: his 10, his vote at 30, R1 400 (12): p50 rank 6 -> 50, p90 rank 11 -> 100, p99 -> 400
    # carol: 45 (vote and decision: one act), 60, 120, 300, 900 (5): p50 rank 3 -> 120, p90 rank 5 -> 900
    assert by_approver == {
        DAVE: (20, 2000, 2000, 2000),
        BOB: (12, 50_000, 100_000, 400_000),
        CAROL: (5, 120_000, 900_000, 900_000),
    }
    by_tool = [(s.label, s.decided, s.p50_ms, s.p90_ms, s.timed_out, s.cancelled) for s in figures.by_tool]
    assert by_tool == [
        ("deploy", 20, 2000, 2000, 0, 0),
        ("send_email", 5, 80_000, 100_000, 3, 0),  # 60..100: p50 rank 3 -> 80
        (TOOL_NOT_RECORDED, 5, 30_000, 50_000, 0, 1),  # 10..50, and the cancelled one
        ("message (no tool)", 3, 300_000, 400_000, 1, 0),  # 45, 300, 400: p50 rank 2 -> 300; R2 timed out
        (XSS_TOOL, 1, 60_000, 60_000, 0, 0),
        ("code", 1, 120_000, 120_000, 0, 0),
        ("refund", 1, 900_000, 900_000, 0, 0),
    ]
    assert figures.tool_not_recorded == 6

    loads = {
        a.user: (a.acts, a.approved, a.rejected, a.revised, a.votes, a.for_others, a.median_ms)
        for a in figures.approvers
    }
    assert loads == {
        DAVE: (20, 20, 0, 0, 0, 0, 2000),
        BOB: (12, 12, 0, 0, 1, 0, 50_000),
        CAROL: (5, 2, 2, 1, 0, 1, 120_000),
    }
    assert [a.user for a in figures.flagged] == [DAVE]  # 20 acts, 20 approvals within 5 s: 100% >= 95%
    stricter = compute(history.entries, now=now, since=history.since, rubber_stamp=RubberStamp(min_decisions=21))
    assert stricter.flagged == ()

    days = {p.label: p.counts for p in figures.periods}
    assert len(figures.periods) == 31 and figures.period_days == 1
    assert days[day(base, 0)] == {"approved": 10, "rejected": 1, "revised": 1}
    assert days[day(base, 1)] == {"approved": 21, "timed_out": 3, "cancelled": 1}
    assert days[day(base, 2)] == {"approved": 2, "rejected": 1, "timed_out": 1, "auto_approved": 8, "auto_rejected": 1}
    assert sum(sum(p.counts.values()) for p in figures.periods) == 41 + 9

    assert figures.reminders is not None and figures.escalations is not None
    r = figures.reminders
    assert (r.reminded, r.reminders, r.decided_soon, r.decided_later, r.timed_out, r.undecided) == (2, 2, 1, 0, 1, 0)
    x = figures.escalations
    assert (x.escalated, x.by_escalation, x.by_others, x.timed_out, x.undecided) == (1, 1, 0, 0, 0)

    auto = figures.automatic
    assert auto.by_mode == (("policy", 6, 0), ("terminate", 2, 0), ("never", 0, 1))
    assert auto.by_rule == (
        ("mode policy: the message matched no risk word", 4, 0),
        ("mode terminate: automatic reply N of N", 2, 0),
        ("mode never: nobody is asked, so code does not run", 0, 1),
        ("mode policy: $x$ --> <b>bold</b>", 1, 0),
        ("rule: low-risk tool send_email", 1, 0),
    )

    backlog = figures.backlog
    assert backlog.total == 4  # the stray decided one is not waiting
    assert [(b.label, b.count) for b in backlog.buckets] == [
        ("under 5 min", 1),
        ("5–15 min", 0),
        ("15–60 min", 1),
        ("1–4 h", 1),
        ("4–24 h", 0),
        ("1–7 days", 1),
        ("over 7 days", 0),
    ]
    assert backlog.oldest_s is not None and 3 * DAY <= backlog.oldest_s < 3 * DAY + 60
    assert backlog.by_channel == ((OPS, 2), (SALES, 2))

    # the same numbers on the page
    html = render(figures)
    page = Page(html)
    tiles = {
        tile: page.text_of(tile, html)
        for tile in ("tile-decisions", "tile-timeout-rate", "tile-p50", "tile-p90", "tile-p99", "tile-waiting")
    }
    assert tiles == {
        "tile-decisions": "41decisions",
        "tile-timeout-rate": "10%timeout rate",
        "tile-p50": "2.0 sp50 time to decision",
        "tile-p90": "2 minp90 time to decision",
        "tile-p99": "15 minp99 time to decision",
        "tile-waiting": "4waiting now",
    }
    assert page.rows("table-by-channel") == [
        [OPS, "24", "2.0 s", "2 min", "15 min", "0", "0%", "1"],
        [SALES, "12", "50 s", "1 min 40 s", "6 min 40 s", "4", "25%", "0"],
    ]
    assert page.rows("table-by-approver") == [
        [DAVE, "20", "2.0 s", "2.0 s", "2.0 s"],
        [BOB, "12", "50 s", "1 min 40 s", "6 min 40 s"],
        [CAROL, "5", "2 min", "15 min", "15 min"],
    ]
    assert page.rows("table-by-tool") == [
        ["deploy", "20", "2.0 s", "2.0 s", "2.0 s", "0", "0%", "0"],
        ["send_email", "5", "1 min 20 s", "1 min 40 s", "1 min 40 s", "3", "37.5%", "0"],
        [TOOL_NOT_RECORDED, "5", "30 s", "50 s", "50 s", "0", "0%", "1"],
        ["message (no tool)", "3", "5 min", "6 min 40 s", "6 min 40 s", "1", "25%", "0"],
        [XSS_TOOL, "1", "1 min", "1 min", "1 min", "0", "0%", "0"],
        ["code", "1", "2 min", "2 min", "2 min", "0", "0%", "0"],
        ["refund", "1", "15 min", "15 min", "15 min", "0", "0%", "0"],
    ]
    assert page.rows("table-load") == [
        [DAVE, "20", "20", "0", "0", "0", "0", "0", "2.0 s", "100%"],
        [BOB, "12", "12", "0", "0", "1", "0", "0", "50 s", "100%"],
        [CAROL, "5", "2", "2", "1", "0", "1", "0", "2 min", "40%"],
    ]
    assert page.rows("table-rubber-stamp") == [[DAVE, "20", "20", "100%", "100%", "2.0 s"]]
    assert "at least 20 acts in the period, of which at least 95% were approvals made within 5 s" in html
    per_day = {row[0]: row[1:] for row in page.rows("table-per-day")}
    assert per_day[day(base, 0)] == ["10", "1", "1", "0", "0", "0", "0"]
    assert per_day[day(base, 1)] == ["21", "0", "0", "3", "1", "0", "0"]
    assert per_day[day(base, 2)] == ["2", "1", "0", "1", "0", "8", "1"]
    assert per_day["total"] == ["33", "2", "1", "4", "1", "8", "1"]
    assert page.rows("table-reminders") == [
        ["approvals reminded", "2"],
        ["reminders sent", "2"],
        ["decided by a person within 15 min after a reminder", "1"],
        ["decided by a person later", "0"],
        ["timed out", "1"],
        ["cancelled", "0"],
        ["not decided in the period", "0"],
    ]
    assert page.rows("table-escalations")[:3] == [
        ["approvals escalated", "1"],
        ["decided by someone it was escalated to", "1"],
        ["decided by someone else", "0"],
    ]
    assert page.rows("table-backlog") == [[b.label, str(b.count)] for b in backlog.buckets]
    assert page.rows("table-automatic-modes") == [["policy", "6", "0"], ["terminate", "2", "0"], ["never", "0", "1"]]
    assert page.rows("table-automatic-rules")[3] == [XSS_RULE, "1", "0"]
    assert "8 steps approved and 1 rejected automatically" in html
    assert "19.5% of all approvals" in html  # 8 / (8 + 33)
    assert page.text_of("overall-times", html) == "36 decisions by people: p50 2.0 s, p90 2 min, p99 15 min."
    # each plot is a <figure> with an <svg> in it, and a method under it
    assert sorted(set(page.svg_in)) == sorted(PLOT_IDS) and len(page.svg_in) == len(PLOT_IDS)
    for plot_id in PLOT_IDS:
        assert re.search(rf'<figure id="{plot_id}" class="plot"><svg .*?</svg><figcaption>.+?</figcaption>', html, re.S)
    assert "nearest-rank" in html and "⌈p/100 × n⌉" in html
    # untrusted text is text, never markup (in the tables, and nowhere raw: the plots draw it as paths)
    assert "<img" not in html and "<b>bold" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html and "&lt;b&gt;bold&lt;/b&gt;" in html
    assert_self_contained(html)


async def test_headline_numbers_of_one_channel(store: Store) -> None:
    await write_scripted(store)
    now = time.time()
    entries = [e async for e in store.audit.export(since=now - 7 * DAY)]
    waiting = len([a for a in await read_waiting(store) if SALES in (a.origin_channel, a.card_channel)])
    sales = headline(entries, now=now, channel=SALES, waiting=waiting)
    # C0SALES: bob 10 + quorum + R1 approved (12), 3 + R2 timed out; p50/p90 of the 12 times: 50 s / 100 s
    assert sales.lines() == [
        "16 decisions: 12 approved, 0 rejected, 0 revised, 4 timed out, 0 cancelled",
        "Timeout rate: 25% (4 of 16)",
        "Time to decision by people: p50 50 s, p90 1 min 40 s",
        "Approved automatically by modes and rules: 6",
        "Waiting now: 2",
        "Busiest approver: U0BOB (12 decisions)",
    ]
    everything = headline(entries, now=now)
    assert (everything.decisions, everything.timed_out, everything.p50_ms, everything.p90_ms) == (41, 4, 2000, 120_000)
    assert (everything.busiest, everything.busiest_acts, everything.waiting) == (DAVE, 20, None)
    assert headline(entries, now=now, channel="C0NOBODY").lines() == ["No decisions in this period."]


async def test_what_the_product_writes_is_what_the_report_reads(store: Store) -> None:
    """The store's own steps (open, a person's decision, a quorum vote, a timeout), with known times."""
    t0 = time.time() - 3600
    first = waiting_approval("product-01", channel=SALES, created_at=t0)
    late = replace(waiting_approval("product-02", channel=SALES, created_at=t0), deadline=t0 + 600)
    quorum = waiting_approval("product-03", channel=OPS, created_at=t0)
    assert await store.approvals.create(first) == "ok"
    assert await store.approvals.create(quorum) == "ok"
    assert await store.approvals.create(late) == "ok"
    result = await store.approvals.decide(first.id, outcome="approved", by=BOB, now=t0 + 12.5)
    assert result.status == "ok"
    await store.redis.hset(store.keys.approval(quorum.id), "required_approvals", "2")
    assert (await store.approvals.decide(quorum.id, outcome="approved", by=BOB, now=t0 + 20)).status == "vote"
    assert (await store.approvals.decide(quorum.id, outcome="approved", by=CAROL, now=t0 + 30)).status == "ok"
    timed_out, _ = await store.approvals.time_out_due(t0 + 601)
    assert [r.approval.id for r in timed_out if r.approval is not None] == [late.id]
    entries = [e async for e in store.audit.export(since=t0 - 60)]
    figures = compute(entries, now=time.time(), since=t0 - 60)
    assert (figures.outcomes["approved"], figures.outcomes["timed_out"], figures.requested) == (2, 1, 3)
    by_channel = {s.label: (s.decided, s.p50_ms, s.timed_out) for s in figures.by_channel}
    assert by_channel == {SALES: (1, 12_500, 1), OPS: (1, 30_000, 0)}
    assert {a.user: (a.acts, a.votes, a.median_ms) for a in figures.approvers} == {
        BOB: (2, 1, 12_500),  # his decision (12.5 s) and his vote (20 s): nearest-rank p50 of 2 is the first
        CAROL: (1, 0, 30_000),
    }
    request = next(e for e in entries if e["event"] == "requested" and e["approval"] == first.id)
    expected_tool = "message (no tool)" if request.get("kind") == "message" else TOOL_NOT_RECORDED
    assert [s.label for s in figures.by_tool] == [expected_tool]


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
async def test_approvals_that_never_time_out_are_in_the_backlog(store: Store) -> None:
    """Approvals without a deadline are only in the `waiting` index ("<origin channel>/<id>")."""
    now = time.time()
    forever = waiting_approval("forever-01", channel=OPS, created_at=now - 10 * DAY)
    await store.redis.hset(store.keys.approval(forever.id), mapping=forever.to_redis())
    waiting_key = getattr(store.keys, "waiting", None) or f"{store.keys.prefix}:waiting"
    store.keys.waiting = waiting_key  # as the store names it (set here for a store from before the index)
    await store.redis.zadd(waiting_key, {f"{OPS}/{forever.id}": forever.created_at})
    found = await read_waiting(store)
    assert [a.id for a in found] == [forever.id]
    assert await read_waiting(store, channels=[SALES]) == []
    figures = compute([], backlog=found, now=now, since=now - DAY)
    assert [(b.label, b.count) for b in figures.backlog.buckets if b.count] == [("over 7 days", 1)]
    assert figures.empty
    page = render(figures)
    assert 'id="empty"' in page and 'id="backlog-total"' in page and "1 approvals waiting" in page


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
def test_requests_not_decided_yet_render_without_a_warning() -> None:
    """Warnings are errors in the tests: a plot without data must not warn (an empty legend would)."""
    now = time.time()
    entries = [requested(f"open-{i:05d}", now - 600 + i, SALES) for i in range(3)]
    figures = compute(entries, now=now, since=now - DAY)
    assert not figures.empty and figures.requested == 3 and figures.decisions == 0
    html = render(figures)
    assert "3 approvals requested" in html and "No person decided an approval in this period." in html
    assert 'id="plot-per-day"' in html and 'id="plot-time"' not in html
    assert_self_contained(html)


def test_an_empty_period_renders_a_clear_page() -> None:
    now = time.time()
    figures = compute([], now=now, since=now - 30 * DAY, channels=("C0NOBODY",))
    assert figures.empty and figures.decisions == 0
    html = render(figures)
    assert "Nothing to report: no approval was requested or decided in this period in these channels" in html
    assert "<figure" not in html and "No approval is waiting now." in html
    assert_self_contained(html)


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
def test_votes_a_passkey_confirmed_are_counted_per_approver() -> None:
    now = 1_800_000_000.0
    entries = [
        {"event": "decision", "approval": "a-1", "by": BOB, "outcome": "approved", "latency_ms": "900",
         "at": repr(now - 60), "amr": "pop mfa", "passkey": "ab" * 32, "assured_at": repr(now - 60)},
        {"event": "vote", "approval": "a-2", "by": CAROL, "outcome": "approved", "latency_ms": "800",
         "at": repr(now - 50), "amr": "pop mfa", "passkey": "cd" * 32, "assured_at": repr(now - 50)},
        {"event": "decision", "approval": "a-3", "by": CAROL, "outcome": "rejected", "latency_ms": "700",
         "at": repr(now - 40)},
    ]
    loads = {load.user: load for load in compute(entries, now=now, since=now - DAY).approvers}
    assert (loads[BOB].with_passkey, loads[CAROL].with_passkey, loads[CAROL].acts) == (1, 1, 2)
    page = Page(render(compute(entries, now=now, since=now - DAY)))
    assert page.tables["table-load"][0][7] == "with passkey"
    assert [row[7] for row in page.rows("table-load")] == ["1", "1"]


def test_a_triage_models_decision_is_no_persons_act() -> None:
    """#92: a decision by `model:<name>` is kept as a decision, never counted as a person's act (oversight figures)."""
    seen = Pass()
    for entry in ({"event": "decision", "approval": "a1", "by": "model:llama3.1", "outcome": "approved",
                   "latency_ms": "900", "at": "5"},
                  {"event": "decision", "approval": "a2", "by": "U1", "outcome": "approved", "latency_ms": "4000",
                   "at": "6"}):
        seen.add(entry)
    assert set(seen.acts) == {("a2", "U1")} and len(seen.decisions) == 2


def test_a_channels_numbers_count_a_triage_models_approval_but_not_as_peoples_time() -> None:
    """#92 item 3 ("budgets and rules count it"): the headline numbers (`/agent report`, the admins' Home) count a
    model's approval among the decisions and approvals, and never as a person's time to decide or acts."""
    entries = [{"event": "decision", "approval": "a1", "by": "model:llama3.1", "outcome": "approved",
                "latency_ms": "400", "at": "5"},
               {"event": "decision", "approval": "a2", "by": "U1", "outcome": "approved", "latency_ms": "4000",
                "at": "6"}]
    numbers = headline(entries, now=10.0)
    assert (numbers.decisions, numbers.approved) == (2, 2), numbers
    assert (numbers.p50_ms, numbers.p90_ms) == (4000, 4000), numbers  # the person's alone (0.4 s before)
    assert (numbers.busiest, numbers.busiest_acts) == ("U1", 1), numbers

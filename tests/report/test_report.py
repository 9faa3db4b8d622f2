"""The offline report (#17): `python -m bot report` over a scripted history in a real Redis.

The history is written into the audit stream with the fields the product writes (`requested` as
`store.approvals.create` audits it, `decision` and `vote` as `lua/lib/decide.lua`, `auto_approved` as
`ApprovalService.audit_automatic`, `reminded` and `escalated`), each entry at a known time (its stream id
too), with known approvers and latencies; the approvals waiting now are stored with `store.approvals.create`.
Every expected number below is worked out by hand in the comments, not by the code under test.
"""

from __future__ import annotations

import asyncio
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import replace
from html.parser import HTMLParser
from pathlib import Path

import pytest

from bot.core.records import ApprovalRecord
from bot.report import SERIES, TOOL_NOT_RECORDED, RubberStamp, compute, duration_ms, headline, mode_of, nearest_rank
from bot.report.cli import read_history, read_waiting
from bot.report.html import NAMES, PLOT_IDS, render
from bot.store import Store
from tests.benchmarks.report_build import write_stream
from tests.conftest import ALICE, APPROVALS, BOB, CAROL, SALES, start_redis

ROOT = Path(__file__).resolve().parents[2]
DAVE, ERIN = "U0DAVE", "U0ERIN"
OPS = "C0OPS"
DAY = 86400
XSS_TOOL = "<img src=x onerror=alert(1)>"
XSS_RULE = "mode policy: $x$ --> <b>bold</b>"
SERIES_HEAD = ["approved", "rejected", "revised", "timed_out", "cancelled", "auto_approved", "auto_rejected"]


# ------------------------------------------------------------------------------------------ the scripted history


def requested(approval: str, at: float, channel: str, *, kind: str | None = None, tool: str = "") -> dict[str, str]:
    """As `Approvals.create` audits it; `kind` None: an entry written before requests recorded kind and tool."""
    entry = {
        "event": "requested",
        "approval": approval,
        "run": "rscript01",
        "by": ALICE,
        "at": repr(at),
        "card_channel": APPROVALS,
        "origin_channel": channel,
    }
    if kind is not None:
        entry |= {"kind": kind, "tool": tool}
    return entry


def decided(
    approval: str, at: float, channel: str, *, outcome: str, by: str, latency_s: float, on_behalf: str = ""
) -> dict[str, str]:
    """As lua/lib/decide.lua appends it (`latency_ms` is math.floor of the milliseconds)."""
    return {
        "at": repr(at),
        "approval": approval,
        "run": "rscript01",
        "card_channel": APPROVALS,
        "origin_channel": channel,
        "event": "decision",
        "outcome": outcome,
        "by": by,
        "for": on_behalf,
        "feedback": "",
        "latency_ms": str(math.floor(latency_s * 1000)),
    }


def voted(approval: str, at: float, channel: str, *, by: str, votes: int, latency_s: float) -> dict[str, str]:
    return {
        "at": repr(at),
        "approval": approval,
        "run": "rscript01",
        "card_channel": APPROVALS,
        "origin_channel": channel,
        "event": "vote",
        "by": by,
        "for": "",
        "outcome": "approved",
        "votes": str(votes),
        "required": "2",
        "latency_ms": str(math.floor(latency_s * 1000)),
    }


def automatic(approval: str, at: float, channel: str, *, event: str, rule: str, **extra: str) -> dict[str, str]:
    """As ApprovalService.audit_automatic appends it (no card channel: no card was posted)."""
    return {
        "event": event,
        "at": repr(at),
        "approval": approval,
        "run": "rscript01",
        "by": "auto",
        "outcome": "approved" if event == "auto_approved" else "rejected",
        "rule": rule,
        "kind": "message",
        "tool": "",
        "origin_channel": channel,
        **extra,
    }


def nudge(event: str, approval: str, at: float, channel: str, **extra: str) -> dict[str, str]:
    common = {"approval": approval, "run": "rscript01", "card_channel": APPROVALS, "origin_channel": channel}
    return {"event": event, "at": repr(at), **common, **extra}


def one(
    approval: str,
    t: float,
    channel: str,
    *,
    outcome: str,
    by: str,
    latency_s: float,
    kind: str | None = None,
    tool: str = "",
    on_behalf: str = "",
) -> list[dict[str, str]]:
    return [
        requested(approval, t, channel, kind=kind, tool=tool),
        decided(approval, t + latency_s, channel, outcome=outcome, by=by, latency_s=latency_s, on_behalf=on_behalf),
    ]


def scripted_history(base: float) -> list[dict[str, str]]:
    """Three days from `base` (a UTC midnight). People's decisions (latency, seconds):

    day 0  C0SALES  bob approves 10: 10, 20, ..., 100 (the first 5 requests record no tool, the next 5 send_email)
           C0OPS    carol rejects code at 120, revises a message at 300
    day 1  C0OPS    dave approves 20 deploy calls at 2 s each
           C0SALES  a quorum of 2: bob votes at 30, carol votes and decides at 45 (a message)
           C0SALES  3 send_email calls time out (600 s); C0OPS one (no tool recorded) is cancelled
    day 2  C0SALES  R1 reminded at +300, bob approves at 400; R2 reminded at +300, times out at 600
           C0OPS    E1 (refund) escalated to carol at +600, carol rejects at 900
           C0OPS    carol approves the tool `<img ...>` at 60, for erin (away)
           automatic: C0SALES 4 "mode policy: ... no risk word", 1 with mode=policy, 1 with a `$x$ -->` rule;
                      C0OPS 2 "mode terminate: automatic reply k of 10", 1 auto_rejected "mode never: ..."
    """
    out: list[dict[str, str]] = []
    d0, d1, d2 = base + 9 * 3600, base + DAY + 9 * 3600, base + 2 * DAY + 9 * 3600
    for i in range(10):
        kind, tool = (None, "") if i < 5 else ("tool_call", "send_email")
        out += one(
            f"bob-{i:05d}",
            d0 + i * 600,
            SALES,
            outcome="approved",
            by=BOB,
            latency_s=10 * (i + 1),
            kind=kind,
            tool=tool,
        )
    out += one("carol-rej", d0 + 7200, OPS, outcome="rejected", by=CAROL, latency_s=120, kind="code")
    out += one("carol-rev", d0 + 7300, OPS, outcome="revised", by=CAROL, latency_s=300, kind="message")
    for i in range(20):
        out += one(
            f"dave-{i:05d}", d1 + i * 60, OPS, outcome="approved", by=DAVE, latency_s=2, kind="tool_call", tool="deploy"
        )
    q = d1 + 3600
    out += [
        requested("quorum-01", q, SALES, kind="message"),
        voted("quorum-01", q + 30, SALES, by=BOB, votes=1, latency_s=30),
        voted("quorum-01", q + 45, SALES, by=CAROL, votes=2, latency_s=45),
        decided("quorum-01", q + 45, SALES, outcome="approved", by=CAROL, latency_s=45),
    ]
    for i in range(3):
        out += one(
            f"late-{i:05d}",
            d1 + 7200 + i * 60,
            SALES,
            outcome="timed_out",
            by="timeout",
            latency_s=600,
            kind="tool_call",
            tool="send_email",
        )
    out += one("cancel-01", d1 + 9000, OPS, outcome="cancelled", by="system", latency_s=5)
    out += [
        requested("remind-01", d2, SALES, kind="message"),
        nudge("reminded", "remind-01", d2 + 300, SALES, step="1"),
        decided("remind-01", d2 + 400, SALES, outcome="approved", by=BOB, latency_s=400),
        requested("remind-02", d2 + 10, SALES, kind="message"),
        nudge("reminded", "remind-02", d2 + 310, SALES, step="1"),
        decided("remind-02", d2 + 610, SALES, outcome="timed_out", by="timeout", latency_s=600),
        requested("escalate-1", d2 + 3600, OPS, kind="tool_call", tool="refund"),
        nudge("escalated", "escalate-1", d2 + 4200, OPS, to=CAROL, after="600"),
        decided("escalate-1", d2 + 4500, OPS, outcome="rejected", by=CAROL, latency_s=900),
    ]
    out += one(
        "xss-tool-1",
        d2 + 5000,
        OPS,
        outcome="approved",
        by=CAROL,
        latency_s=60,
        kind="tool_call",
        tool=XSS_TOOL,
        on_behalf=ERIN,
    )
    policy = "mode policy: the message matched no risk word"
    t = d2 + 6000
    out += [automatic(f"auto-{i:05d}", t + i, SALES, event="auto_approved", rule=policy) for i in range(4)]
    out += [
        automatic(
            "auto-mode-1", t + 10, SALES, event="auto_approved", rule="rule: low-risk tool send_email", mode="policy"
        ),
        automatic("auto-xss-01", t + 11, SALES, event="auto_approved", rule=XSS_RULE),
        automatic("auto-term-1", t + 20, OPS, event="auto_approved", rule="mode terminate: automatic reply 1 of 10"),
        automatic("auto-term-2", t + 21, OPS, event="auto_approved", rule="mode terminate: automatic reply 2 of 10"),
        automatic(
            "auto-never1", t + 30, OPS, event="auto_rejected", rule="mode never: nobody is asked, so code does not run"
        ),
    ]
    return sorted(out, key=lambda entry: float(entry["at"]))


def waiting_approval(approval_id: str, *, channel: str, created_at: float) -> ApprovalRecord:
    return ApprovalRecord(
        id=approval_id,
        run_id="rwaiting1",
        owner="w-report",
        requester=ALICE,
        origin_channel=channel,
        card_channel=APPROVALS,
        task="Draft an email to our top 10 customers",
        proposal="Subject: prices",
        author="assistant",
        created_at=created_at,
        deadline=time.time() + 7 * DAY,
        timeout_seconds=7 * DAY,
    )


# waiting now: SALES 2 min and 2 h; OPS 30 min and 3 days
WAITING = (
    ("wait-sales-1", SALES, 120),
    ("wait-sales-2", SALES, 7200),
    ("wait-ops-01", OPS, 1800),
    ("wait-ops-02", OPS, 3 * DAY),
)


async def write_scripted(store: Store) -> float:
    """The scripted history in the audit stream and the approvals waiting now; returns the history's base."""
    now = time.time()
    base = math.floor(now / DAY) * DAY - 3 * DAY
    await write_stream(store.redis, store.keys.audit, scripted_history(base))
    for approval_id, channel, age in WAITING:
        assert (
            await store.approvals.create(waiting_approval(approval_id, channel=channel, created_at=now - age)) == "ok"
        )
    # a decided approval whose id was left in `deadlines`: not waiting
    stray = waiting_approval("decided-stray", channel=SALES, created_at=now - 60)
    await store.redis.hset(store.keys.approval(stray.id), mapping={**stray.to_redis(), "status": "approved"})
    await store.redis.zadd(store.keys.deadlines, {stray.id: now + 60})
    return base


def day(base: float, n: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(base + n * DAY))


# ------------------------------------------------------------------------------------------ reading the page


class Page(HTMLParser):
    """Tables by id (rows of cell texts, entities decoded), every tag with its attributes, and the tag
    path of each <svg> (to find the figure it is in)."""

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.tags: list[tuple[str, dict[str, str]]] = []
        self.svg_in: list[str] = []  # the id of the <figure> each <svg> is in ("" when none)
        self.ids: list[str] = []
        self._table: str | None = None
        self._cell: list[str] | None = None
        self._figure = ""
        self.feed(text)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        named = {k: v or "" for k, v in attrs}
        self.tags.append((tag, named))
        if "id" in named:
            self.ids.append(named["id"])
        if tag == "table":
            self._table = named.get("id", "")
            self.tables[self._table] = []
        elif tag == "tr" and self._table is not None:
            self.tables[self._table].append([])
        elif tag in ("td", "th") and self._table is not None:
            self._cell = []
        elif tag == "figure":
            self._figure = named.get("id", "")
        elif tag == "svg":
            self.svg_in.append(self._figure)

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table is not None:
            self.tables[self._table][-1].append("".join(self._cell).strip())
            self._cell = None
        elif tag == "table":
            self._table = None
        elif tag == "figure":
            self._figure = ""

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)

    def rows(self, table_id: str) -> list[list[str]]:
        """The body rows (the header row left out)."""
        return self.tables[table_id][1:]

    def text_of(self, element_id: str, html: str) -> str:
        found = re.search(rf'id="{re.escape(element_id)}"[^>]*>(.*?)</(p|div|section)>', html, re.DOTALL)
        assert found, element_id
        return re.sub(r"<[^>]+>", "", found.group(1))


def assert_self_contained(html: str) -> None:
    """No external reference of any kind: no URL, script, stylesheet, font, image or frame; every
    `url(#id)` and `href="#id"` points inside the page."""
    assert "http://" not in html and "https://" not in html
    assert "@import" not in html and "@font-face" not in html
    page = Page(html)
    for tag, attrs in page.tags:
        assert tag not in ("script", "link", "img", "iframe", "object", "embed", "base", "image", "audio", "video")
        assert "src" not in attrs and "srcset" not in attrs and "xlink:href" not in attrs
        assert "http-equiv" not in attrs
        for name, value in attrs.items():
            assert not name.startswith("on"), (tag, name)  # no event handler
            assert "//" not in value or name == "d", (tag, name, value[:80])
        if "href" in attrs:
            assert attrs["href"].startswith("#") and attrs["href"][1:] in page.ids, attrs["href"]
    for target in re.findall(r"url\(([^)]*)\)", html):
        assert target.startswith("#") and target[1:] in page.ids, target
    assert len(page.ids) == len(set(page.ids)), "ids are unique"


# ------------------------------------------------------------------------------------------ the figures


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
        [DAVE, "20", "20", "0", "0", "0", "0", "2.0 s", "100%"],
        [BOB, "12", "12", "0", "0", "1", "0", "50 s", "100%"],
        [CAROL, "5", "2", "2", "1", "0", "1", "2 min", "40%"],
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


# ------------------------------------------------------------------------------------------ the command


async def cli(*args: str, redis_url: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "REDIS_URL": redis_url}
    command = [sys.executable, "-m", "bot", "report", *args]
    return await asyncio.to_thread(
        subprocess.run, command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


async def test_cli_writes_the_report_of_a_scripted_history(store: Store, redis_url: str, tmp_path: Path) -> None:
    await write_scripted(store)
    out = tmp_path / "report.html"
    done = await cli("--since", "30d", "--out", str(out), redis_url=redis_url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"wrote {out} (") and "41 decisions, 4 waiting now" in done.stdout
    assert "Traceback" not in done.stderr
    html = out.read_text()
    page = Page(html)
    assert page.rows("table-by-channel")[1] == [SALES, "12", "50 s", "1 min 40 s", "6 min 40 s", "4", "25%", "0"]
    assert page.text_of("tile-p90", html) == "2 minp90 time to decision"
    assert sorted(page.svg_in) == sorted(PLOT_IDS)
    assert_self_contained(html)
    assert [n for n in os.listdir(tmp_path) if n.startswith(".report-")] == []  # no temporary file left

    # one channel; and the rubber-stamp thresholds from the command line
    ops = tmp_path / "ops.html"
    args = ("--since", "30d", "--channel", OPS, "--out", str(ops), "--rubber-stamp-min", "21")
    done = await cli(*args, redis_url=redis_url)
    assert done.returncode == 0, done.stderr
    html = ops.read_text()
    page = Page(html)
    assert [row[0] for row in page.rows("table-by-channel")] == [OPS]
    assert page.text_of("tile-decisions", html) == "25decisions"  # 24 by people and the cancelled one
    assert page.text_of("tile-waiting", html) == "2waiting now"
    assert page.rows("table-automatic-modes") == [["terminate", "2", "0"], ["never", "0", "1"]]
    assert "at least 21 acts in the period" in html and 'id="rubber-stamp-none"' in html
    assert f"· {OPS} ·" in html  # the page names the channel


async def test_cli_empty_history_gives_a_clear_page(redis_url: str, tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    done = await cli("--since", "7d", "--out", str(out), redis_url=redis_url)
    assert done.returncode == 0, done.stderr
    assert "nothing in the period" in done.stdout
    html = out.read_text()
    assert 'id="empty"' in html and "Nothing to report" in html and "<figure" not in html
    assert_self_contained(html)


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (("--since", "soon"), ["--since: not a duration: 'soon'", "90s, 15m, 12h, 7d, 30d", "3650 days"]),
        (("--since", "0s"), ["--since: out of range: '0s'", "from 1 second to 3650 days"]),
        (("--since", "9999d"), ["--since: out of range", "3650 days"]),
        (("--since", "30d", "--channel", "#sales"), ["--channel: '#sales' is not a channel id", "C0123456789"]),
        (("--since", "30d", "--channel", "general"), ["--channel: 'general' is not a channel id", "not a #name"]),
        (("--since", "30d", "--channel", "C0OPS", "--channel", "c0lower"), ["--channel: 'c0lower'"]),
        (
            (
                "--rubber-stamp-rate",
                "1.5",
            ),
            ["--rubber-stamp-rate: 1.5 is out of range", "0.95 for 95%"],
        ),
        (
            (
                "--rubber-stamp-min",
                "0",
            ),
            ["--rubber-stamp-min: 0 is out of range"],
        ),
    ],
)
async def test_bad_arguments_are_refused_with_the_valid_forms(
    args: tuple[str, ...], expected: list[str], tmp_path: Path
) -> None:
    out = tmp_path / "report.html"
    # a Redis that is not there: the arguments are refused before anything is read
    done = await cli(*args, "--out", str(out), redis_url="redis://127.0.0.1:9/0")
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: ") and "Traceback" not in done.stderr
    for text in expected:
        assert text in done.stderr, (text, done.stderr)
    assert not out.exists() and os.listdir(tmp_path) == []


async def test_redis_unreachable_or_refusing_never_shows_the_url(tmp_path: Path) -> None:
    secret = "s3cr3t-Passw0rd"
    out = tmp_path / "report.html"
    # nothing listens there
    done = await cli("--out", str(out), redis_url=f"redis://:{secret}@127.0.0.1:9/0")
    assert done.returncode == 1 and "cannot read the audit log" in done.stderr and "REDIS_URL" in done.stderr
    assert secret not in done.stderr + done.stdout and "127.0.0.1:9" not in done.stderr
    assert "Traceback" not in done.stderr and not out.exists()
    # a Redis with a password: the right one works, a wrong one is refused; neither is ever shown
    server = start_redis()
    try:
        import redis as sync_redis

        admin = sync_redis.Redis(port=server.port)
        admin.config_set("requirepass", secret)
        admin.close()
        good = f"redis://:{secret}@127.0.0.1:{server.port}/0"
        done = await cli("--since", "1d", "--out", str(out), redis_url=good)
        assert done.returncode == 0, done.stderr
        html = out.read_text()
        assert secret not in html + done.stdout + done.stderr and str(server.port) not in html
        assert "redis://" not in html
        out.unlink()
        wrong = f"redis://:not-{secret}@127.0.0.1:{server.port}/0"
        done = await cli("--since", "1d", "--out", str(out), redis_url=wrong)
        assert done.returncode == 1 and "cannot read the audit log" in done.stderr
        assert secret not in done.stderr + done.stdout and not out.exists()
    finally:
        server.process.terminate()
        server.process.wait(timeout=10)


# ------------------------------------------------------------------------------------------ always-allow rules (#16)


def by_rule(
    approval: str, at: float, channel: str, *, rule_id: str, rule_by: str, tool: str, described: str
) -> dict[str, str]:
    """As ApprovalService.by_rule audits a call a rule approved (through lua/use_rule.lua)."""
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


def test_without_rule_approvals_the_page_has_no_rule_column_or_table() -> None:
    now = time.time()
    entries = [automatic("policy-0", now - 60, SALES, event="auto_approved", rule="mode policy: no risk word")]
    html = render(compute(entries, now=now, since=now - DAY))
    page = Page(html)
    assert NAMES["rule_approved"] not in page.tables["table-per-day"][0]
    assert "table-rules" not in page.tables and 'id="tile-rule-approved"' not in html
    assert page.rows("table-automatic-modes") == [["policy", "1", "0"]]


# ------------------------------------------------------------------------------------------ escaping


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

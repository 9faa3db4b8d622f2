"""A scripted approval history, written into the audit stream as the product writes it; the report page read back."""

from __future__ import annotations

import math
import re
import time
from html.parser import HTMLParser

from bot.core.records import ApprovalRecord
from bot.store import Store
from tests.benchmarks.report_build import write_stream
from tests.conftest import ALICE, APPROVALS, BOB, CAROL, SALES

DAVE, ERIN = "U0DAVE", "U0ERIN"


OPS = "C0OPS"


DAY = 86400


XSS_TOOL = "<img src=x onerror=alert(1)>"


XSS_RULE = "mode policy: $x$ --> <b>bold</b>"


SERIES_HEAD = ["approved", "rejected", "revised", "timed_out", "cancelled", "auto_approved", "auto_rejected"]


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


def _decide_step(approval: str, at: float, channel: str, event: str, *, by: str, latency_s: float) -> dict[str, str]:
    """What lua/lib/decide.lua begins each entry it appends with (`latency_ms` is math.floor of the milliseconds)."""
    return {"at": repr(at), "approval": approval, "run": "rscript01", "card_channel": APPROVALS,
            "origin_channel": channel, "event": event, "by": by, "latency_ms": str(math.floor(latency_s * 1000))}


def decided(
    approval: str, at: float, channel: str, *, outcome: str, by: str, latency_s: float, on_behalf: str = ""
) -> dict[str, str]:
    """As lua/lib/decide.lua appends a decision."""
    return _decide_step(approval, at, channel, "decision", by=by, latency_s=latency_s) | {
        "outcome": outcome, "for": on_behalf, "feedback": ""}


def voted(approval: str, at: float, channel: str, *, by: str, votes: int, latency_s: float) -> dict[str, str]:
    """As lua/lib/decide.lua appends a vote (a quorum of two) that did not decide yet."""
    return _decide_step(approval, at, channel, "vote", by=by, latency_s=latency_s) | {
        "for": "", "outcome": "approved", "votes": str(votes), "required": "2"}


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

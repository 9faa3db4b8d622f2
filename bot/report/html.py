"""The report as one self-contained HTML page: `render(figures) -> str`.

Plots are drawn by matplotlib (Agg canvas, SVG output with glyphs as paths, so no font is referenced)
and inlined; the page has no script and no external reference of any kind (no URL, font, image or
stylesheet): it opens offline, from a file or an email attachment. Every text that comes from the
audit stream (user, channel and tool ids, rules) is escaped with `html.escape` here, and drawn in the
plots as paths.
"""

from __future__ import annotations

import html
import io
import re
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import matplotlib
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

from bot.report import (
    AGE_BUCKETS,
    NO_TOOL,
    OUTCOMES,
    PEOPLE_OUTCOMES,
    REMINDER_WINDOW_SECONDS,
    SERIES,
    TOOL_NOT_RECORDED,
    Figures,
    RuleUse,
    Spread,
    duration_ms,
    percent,
)

# Plot ids: each plot is a <figure id="..."> holding one <svg>.
PLOT_IDS = (
    "plot-per-day",
    "plot-time",
    "plot-by-channel",
    "plot-by-approver",
    "plot-by-tool",
    "plot-backlog",
    "plot-load",
    "plot-rubber-stamp",
    "plot-automatic",
)
MOST_SHOWN = 15  # groups drawn in a plot (the tables list every one)
LABEL_CHARS = 28
COLORS = {
    "approved": "#2e7d32",
    "rejected": "#c62828",
    "revised": "#f9a825",
    "timed_out": "#757575",
    "cancelled": "#bdbdbd",
    "auto_approved": "#1565c0",
    "rule_approved": "#00838f",
    "auto_rejected": "#6a1b9a",
}
NAMES = {
    "approved": "approved",
    "rejected": "rejected",
    "revised": "revised",
    "timed_out": "timed out",
    "cancelled": "cancelled",
    "auto_approved": "approved automatically",
    "rule_approved": "approved by a rule",
    "auto_rejected": "rejected automatically",
}
_RC: dict[Any, Any] = {  # matplotlib types the keys as a Literal of every rc name
    "svg.fonttype": "path",  # glyphs as paths: no font is referenced
    "svg.hashsalt": "approvals-report",  # the same ids for the same plot
    "text.parse_math": False,  # a `$` in a label is a dollar sign, not TeX
    "font.size": 9,
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
}
_PROLOG = re.compile(r"^.*?(?=<svg)", re.DOTALL)
_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_METADATA = re.compile(r"<metadata>.*?</metadata>", re.DOTALL)
_STYLE = re.compile(r"<style[^>]*>.*?</style>", re.DOTALL)
_NAMESPACES = re.compile(r'\s+xmlns(:xlink)?="[^"]*"')
_SIZE = re.compile(r'<svg width="([\d.]+)pt" height="([\d.]+)pt"')
_ID = re.compile(r'id="([^"]+)"')
_REF = re.compile(r'(xlink:href="#|url\(#)([^")]+)')


def e(value: object) -> str:
    """Escaped text for the page (quotes too: safe in attributes)."""
    return html.escape(str(value), quote=True)


def short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


def when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


# ------------------------------------------------------------------------------------------ plots


@contextmanager
def _figure(width: float, height: float) -> Iterator[Figure]:
    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(width, height), layout="constrained")
        FigureCanvasAgg(figure)
        yield figure


def svg(figure: Figure, plot_id: str, label: str) -> str:
    """`figure` as an inline <svg> element: no XML prolog, namespaces, comments or metadata; its ids
    prefixed with `plot_id` (several plots share one page); sized to fit the page."""
    out = io.StringIO()
    with matplotlib.rc_context(_RC):
        figure.savefig(out, format="svg", metadata={"Date": None, "Creator": None, "Format": None, "Type": None})
    text = _PROLOG.sub("", out.getvalue(), count=1)
    text = _NAMESPACES.sub("", _STYLE.sub("", _METADATA.sub("", _COMMENT.sub("", text))))
    text = _ID.sub(lambda m: f'id="{plot_id}-{m.group(1)}"', text)
    text = _REF.sub(
        lambda m: ('href="#' if m.group(1).startswith("xlink") else "url(#") + f"{plot_id}-{m.group(2)}", text
    )
    size = _SIZE.search(text)
    width = size.group(1) if size else "600"
    return _SIZE.sub(
        f'<svg role="img" aria-label="{e(label)}" style="width:100%;max-width:{width}pt;height:auto"', text, count=1
    ).strip()


def shown_series(figures: Figures) -> tuple[str, ...]:
    """The series of the decisions per day: approvals by "always allow" rules only when there are some."""
    return tuple(s for s in SERIES if s != "rule_approved" or figures.outcomes.get(s))


def _bars_per_period(figures: Figures) -> Figure:
    with _figure(8.0, 3.2) as figure:
        ax = figure.subplots()
        x = list(range(len(figures.periods)))
        bottom = [0] * len(x)
        for series in shown_series(figures):
            heights = [p.counts.get(series, 0) for p in figures.periods]
            if any(heights):
                ax.bar(x, heights, bottom=bottom, color=COLORS[series], label=NAMES[series], width=0.8)
                bottom = [b + h for b, h in zip(bottom, heights, strict=True)]
        _date_ticks(ax, [p.label for p in figures.periods])
        ax.set_ylabel("decisions")
        if any(bottom):  # (a legend of nothing is a warning)
            ax.legend(loc="upper left", fontsize=7, ncols=4, frameon=False)
        ax.set_ylim(0, max([*bottom, 1]) * 1.3)
        return figure


def _date_ticks(ax: Axes, labels: Sequence[str]) -> None:
    step = max(1, len(labels) // 10)
    ticks = list(range(0, len(labels), step))
    ax.set_xticks(ticks, [labels[i][5:] for i in ticks], fontsize=7)
    ax.set_xlim(-0.6, len(labels) - 0.4)


def _log_edges(low_s: float, high_s: float) -> list[float]:
    edges = [0.1]
    while edges[-1] < high_s:
        edges.append(edges[-1] * 10**0.25)
    return [x for x in edges if x * 10**0.25 >= low_s] or [0.1, 1.0]


# Ticks of a log axis of seconds, as people read them (matplotlib's own would be TeX-like "10^2").
_SECOND_TICKS = (
    (0.1, "0.1 s"),
    (1, "1 s"),
    (5, "5 s"),
    (30, "30 s"),
    (60, "1 min"),
    (300, "5 min"),
    (900, "15 min"),
    (3600, "1 h"),
    (4 * 3600, "4 h"),
    (86400, "1 d"),
    (7 * 86400, "7 d"),
)


def _seconds_axis(ax: Axes) -> None:
    low, high = ax.get_xlim()
    chosen = [(at, label) for at, label in _SECOND_TICKS if low <= at <= high] or [(low, f"{low:g} s")]
    ax.set_xticks([at for at, _ in chosen], [label for _, label in chosen])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(low, high)


def _count_axis(ax: Axes) -> None:
    """A log axis of counts with plain numbers (1, 2, 5, 10, 20, 50...)."""
    low, high = ax.get_xlim()
    steps = [m * 10**p for p in range(0, 8) for m in (1, 2, 5)]
    ax.set_xticks([s for s in steps if low <= s <= high], [f"{s:g}" for s in steps if low <= s <= high])
    ax.xaxis.set_minor_formatter(NullFormatter())
    ax.set_xlim(low, high)


def _histogram(overall: Spread) -> Figure:
    seconds = [max(ms, 100) / 1000 for ms in overall.times_ms]
    with _figure(8.0, 3.0) as figure:
        ax = figure.subplots()
        edges = _log_edges(min(seconds), max(seconds) * 1.01)
        ax.hist(seconds, bins=edges, color="#5c6bc0")
        ax.set_xscale("log")
        _seconds_axis(ax)
        ax.set_xlabel("time to decision (log scale)")
        ax.set_ylabel("decisions")
        for name, ms, style in (
            ("p50", overall.p50_ms, "-"),
            ("p90", overall.p90_ms, "--"),
            ("p99", overall.p99_ms, ":"),
        ):
            ax.axvline(max(ms, 100) / 1000, color="#000000", linestyle=style, linewidth=1, label=name)
        ax.legend(frameon=False, fontsize=7)
        return figure


def _percentile_dots(groups: Sequence[Spread], what: str) -> Figure:
    shown = [g for g in groups if g.decided][:MOST_SHOWN]
    with _figure(8.0, 0.9 + 0.28 * len(shown)) as figure:
        ax = figure.subplots()
        y = list(range(len(shown)))[::-1]
        for g, row in zip(shown, y, strict=True):
            ax.plot([g.p50_ms / 1000, g.p99_ms / 1000], [row, row], color="#9e9e9e", linewidth=1)
        for key, marker, name in (("p50_ms", "o", "p50"), ("p90_ms", "s", "p90"), ("p99_ms", "^", "p99")):
            xs = [max(getattr(g, key), 100) / 1000 for g in shown]
            ax.scatter(xs, y, marker=marker, label=name, zorder=3, s=22)
        ax.set_yticks(y, [f"{short(g.label)} ({g.decided})" for g in shown], fontsize=7)
        ax.set_xscale("log")
        _seconds_axis(ax)
        ax.set_xlabel(f"time to decision (log scale), by {what}")
        ax.legend(frameon=False, fontsize=7, ncols=3, loc="lower right")
        ax.set_ylim(-0.7, len(shown) - 0.3)
        return figure


def _backlog_bars(figures: Figures) -> Figure:
    buckets = figures.backlog.buckets
    with _figure(8.0, 2.6) as figure:
        ax = figure.subplots()
        ax.bar(range(len(buckets)), [b.count for b in buckets], color="#ef6c00")
        ax.set_xticks(range(len(buckets)), [b.label for b in buckets], fontsize=7)
        ax.set_ylabel("approvals waiting")
        ax.set_xlabel("waiting for")
        return figure


def _load_bars(figures: Figures) -> Figure:
    shown = figures.approvers[:MOST_SHOWN]
    with _figure(8.0, 0.9 + 0.28 * len(shown)) as figure:
        ax = figure.subplots()
        y = list(range(len(shown)))[::-1]
        left = [0] * len(shown)
        for outcome in PEOPLE_OUTCOMES:
            widths = [getattr(a, outcome) for a in shown]
            ax.barh(y, widths, left=left, color=COLORS[outcome], label=outcome, height=0.7)
            left = [a + b for a, b in zip(left, widths, strict=True)]
        ax.set_yticks(y, [f"{short(a.user)} · median {duration_ms(a.median_ms)}" for a in shown], fontsize=7)
        ax.set_xlabel("acts (decisions and quorum votes)")
        ax.legend(frameon=False, fontsize=7, ncols=3, loc="lower right")
        return figure


def _rubber_stamp_scatter(figures: Figures) -> Figure:
    rule = figures.rubber_stamp
    with _figure(8.0, 3.2) as figure:
        ax = figure.subplots()
        for flagged, color, name in ((False, "#5c6bc0", "below the thresholds"), (True, "#c62828", "worth a look")):
            chosen = [a for a in figures.approvers if a.flagged(rule) == flagged]
            if chosen:
                ax.scatter(
                    [a.acts for a in chosen], [a.quick_rate * 100 for a in chosen], color=color, label=name, s=28
                )
            for a in chosen if flagged else ():
                ax.annotate(
                    short(a.user),
                    (a.acts, a.quick_rate * 100),
                    fontsize=7,
                    xytext=(-6, 6),
                    textcoords="offset points",
                    ha="right",
                )
        ax.axhline(rule.rate * 100, color="#000000", linestyle="--", linewidth=1)
        ax.axvline(rule.min_decisions, color="#000000", linestyle="--", linewidth=1)
        ax.set_xscale("log")
        ax.set_xlim(0.8, max([rule.min_decisions, *(a.acts for a in figures.approvers)]) * 1.5)
        _count_axis(ax)
        ax.set_xlabel("acts in the period (log scale)")
        ax.set_ylabel(f"% approved within {rule.seconds:g} s")
        ax.set_ylim(-5, 105)
        ax.legend(frameon=False, fontsize=7, loc="lower left", bbox_to_anchor=(0, 1.0), ncols=2)
        return figure


def _automatic_bars(figures: Figures) -> Figure:
    rows = figures.automatic.by_mode[:MOST_SHOWN]
    with _figure(8.0, 0.9 + 0.3 * len(rows)) as figure:
        ax = figure.subplots()
        y = list(range(len(rows)))[::-1]
        approved = [r[1] for r in rows]
        ax.barh(y, approved, color=COLORS["auto_approved"], label="approved automatically", height=0.7)
        ax.barh(
            y,
            [r[2] for r in rows],
            left=approved,
            color=COLORS["auto_rejected"],
            label="rejected automatically",
            height=0.7,
        )
        ax.set_yticks(y, [short(r[0]) for r in rows], fontsize=7)
        ax.set_xlabel("automatic steps, by input mode (“rule”: always-allow rules)")
        ax.legend(frameon=False, fontsize=7, loc="lower right")
        return figure


def _plot(plot_id: str, title: str, draw: Callable[[], Figure], method: str) -> str:
    return (
        f'<figure id="{plot_id}" class="plot">{svg(draw(), plot_id, title)}'
        f"<figcaption><b>{e(title)}.</b> {method}</figcaption></figure>"
    )


# ------------------------------------------------------------------------------------------ tables


def _ms_cell(ms: int) -> str:
    return f'<td class="n" data-ms="{ms}">{e(duration_ms(ms))}</td>'


def _rate(rate: float | None) -> str:
    return "–" if rate is None else percent(rate)


def _table(head: Sequence[str], rows: Sequence[str], *, table_id: str) -> str:
    cells = "".join(f"<th>{e(h)}</th>" for h in head)
    return f'<table id="{table_id}"><thead><tr>{cells}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _spread_rows(groups: Sequence[Spread], *, ended: bool) -> list[str]:
    rows = []
    for g in groups:
        times = (
            "".join(_ms_cell(ms) for ms in (g.p50_ms, g.p90_ms, g.p99_ms)) if g.decided else '<td colspan="3">–</td>'
        )
        extra = ""
        if ended:
            cells = (g.timed_out, _rate(g.timeout_rate), g.cancelled)
            extra = "".join(f'<td class="n">{cell}</td>' for cell in cells)
        rows.append(f'<tr><th scope="row">{e(g.label)}</th><td class="n">{g.decided}</td>{times}{extra}</tr>')
    return rows


# ------------------------------------------------------------------------------------------ sections

_CSS = """
:root{color-scheme:light;--ink:#1d1d1f;--muted:#5f6368;--line:#dadce0;--bg:#fafafa}
*{box-sizing:border-box}
body{margin:0;background:var(--bg);color:var(--ink);font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,
"Helvetica Neue",Arial,sans-serif}
main{max-width:1000px;margin:0 auto;padding:24px 20px 60px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:18px;margin:32px 0 8px;border-bottom:1px solid var(--line);
padding-bottom:4px}h3{font-size:15px;margin:20px 0 6px}
.meta,.note,figcaption{color:var(--muted)}figcaption{font-size:12.5px;margin-top:4px}
.tiles{display:grid;grid-template-columns:repeat(auto-fill,minmax(150px,1fr));gap:8px;margin:16px 0}
.tile{background:#fff;border:1px solid var(--line);border-radius:8px;padding:8px 10px}
.tile b{display:block;font-size:20px}.tile span{color:var(--muted);font-size:12px}
figure{margin:12px 0;background:#fff;border:1px solid var(--line);border-radius:8px;padding:10px}
svg *{stroke-linejoin:round;stroke-linecap:butt}
table{border-collapse:collapse;margin:8px 0 4px;background:#fff;font-size:13px}
th,td{border:1px solid var(--line);padding:3px 8px;text-align:left}td.n{text-align:right;
font-variant-numeric:tabular-nums}thead th{background:#f1f3f4}
.empty{background:#fff;border:1px solid var(--line);border-radius:8px;padding:20px;font-size:16px}
.flag{color:#c62828;font-weight:600}details{margin:8px 0}
"""


def _tile(value: str, label: str, tile_id: str) -> str:
    return f'<div class="tile" id="{tile_id}"><b>{e(value)}</b><span>{e(label)}</span></div>'


def _header(figures: Figures) -> str:
    channels = ", ".join(e(c) for c in figures.channels) if figures.channels else "all channels"
    return (
        "<header><h1>Approvals report</h1>"
        f'<p class="meta">From {e(when(figures.since))} to {e(when(figures.now))} · {channels} · '
        f"{figures.requested} approvals requested · {figures.entries} audit entries read · times in UTC</p></header>"
    )


def _tiles(figures: Figures) -> str:
    o, overall = figures.outcomes, figures.overall
    tiles = [
        _tile(str(figures.decisions), "decisions", "tile-decisions"),
        _tile(str(o["approved"]), "approved", "tile-approved"),
        _tile(str(o["rejected"]), "rejected", "tile-rejected"),
        _tile(str(o["revised"]), "revised", "tile-revised"),
        _tile(str(o["timed_out"]), "timed out", "tile-timed-out"),
        _tile(str(o["cancelled"]), "cancelled", "tile-cancelled"),
        _tile(str(o["auto_approved"]), "approved automatically", "tile-auto-approved"),
        *([_tile(str(o["rule_approved"]), "approved by a rule", "tile-rule-approved")] if o["rule_approved"] else []),
        _tile(_rate(figures.timeout_rate), "timeout rate", "tile-timeout-rate"),
    ]
    if overall.decided:
        tiles += [
            _tile(duration_ms(overall.p50_ms), "p50 time to decision", "tile-p50"),
            _tile(duration_ms(overall.p90_ms), "p90 time to decision", "tile-p90"),
            _tile(duration_ms(overall.p99_ms), "p99 time to decision", "tile-p99"),
        ]
    tiles.append(_tile(str(figures.backlog.total), "waiting now", "tile-waiting"))
    return f'<section class="tiles">{"".join(tiles)}</section>'


PERCENTILES = (
    "Percentiles are nearest-rank: the p-th percentile of n times, sorted, is the one at rank ⌈p/100 × n⌉ "
    "(no interpolation: each is a time that happened); the median is p50."
)


def _per_day(figures: Figures) -> str:
    unit = "day" if figures.period_days == 1 else "week"
    method = (
        f"Each bar is one {unit} (UTC), from the audit stream: <code>decision</code> entries by their outcome "
        "(approved, rejected and revised by a person; timed out by the channel's deadline; cancelled when the run "
        "was cancelled or the card could not be posted) and <code>auto_approved</code> / <code>auto_rejected</code> "
        "entries (steps an input mode or rule decided without a person). A quorum counts once, at its deciding vote."
    )
    series = shown_series(figures)
    if "rule_approved" in series:
        method += (
            " “Approved by a rule” are <code>auto_approved</code> entries naming an always-allow rule "
            "(<code>rule_id</code>); “approved automatically” are the others (input modes)."
        )
    rows = []
    for p in figures.periods:
        cells = "".join(f'<td class="n">{p.counts.get(s, 0)}</td>' for s in series)
        rows.append(f'<tr><th scope="row">{e(p.label)}</th>{cells}</tr>')
    totals = "".join(f'<td class="n">{figures.outcomes[s]}</td>' for s in series)
    rows.append(f'<tr><th scope="row">total</th>{totals}</tr>')
    table = _table([unit, *(NAMES[s] for s in series)], rows, table_id="table-per-day")
    return (
        f"<h2>Decisions per {unit}, by outcome</h2>"
        + _plot("plot-per-day", f"Decisions per {unit}", lambda: _bars_per_period(figures), method)
        + f"<details><summary>The numbers per {unit}</summary>{table}</details>"
    )


def _times(figures: Figures) -> str:
    overall = figures.overall
    out = ["<h2>Time to decision</h2>"]
    base = (
        "Time to decision is the <code>latency_ms</code> of a <code>decision</code> entry: from the request to "
        "the decision, as the decide step measured it. Only people's decisions (approved, rejected, revised) "
        "are timed; timed out and cancelled approvals are counted apart. "
    )
    if not overall.decided:
        out.append('<p class="note">No person decided an approval in this period.</p>')
        return "".join(out)
    stats = (
        f"{overall.decided} decisions by people: p50 {e(duration_ms(overall.p50_ms))}, "
        f"p90 {e(duration_ms(overall.p90_ms))}, p99 {e(duration_ms(overall.p99_ms))}."
    )
    out.append(f'<p id="overall-times">{stats}</p>')
    out.append(
        _plot(
            "plot-time",
            "Distribution of time to decision",
            lambda: _histogram(overall),
            base + "Bars count decisions in bins a quarter of a decade wide (times under 0.1 s in the first); "
            "the lines mark p50, p90 and p99. " + PERCENTILES,
        )
    )
    top = f"The plot shows the {MOST_SHOWN} groups with the most decisions; the table lists all. "
    out.append("<h3>By channel</h3>")
    out.append(
        _plot(
            "plot-by-channel",
            "Time to decision by channel",
            lambda: _percentile_dots(figures.by_channel, "channel"),
            base + "A decision belongs to the channel where its run started (<code>origin_channel</code>). "
            "Timeout rate = timed out / (decided by people + timed out). " + top + PERCENTILES,
        )
    )
    out.append(
        _table(
            ["channel", "decided by people", "p50", "p90", "p99", "timed out", "timeout rate", "cancelled"],
            _spread_rows(figures.by_channel, ended=True),
            table_id="table-by-channel",
        )
    )
    out.append("<h3>By approver</h3>")
    out.append(
        _plot(
            "plot-by-approver",
            "Time to decision by approver",
            lambda: _percentile_dots(figures.by_approver, "approver"),
            "Each person's acts: their decision of an approval, or their vote in its quorum (<code>vote</code> "
            "entries, timed from the request to the vote), once per approval. A decision made for someone away "
            "counts for the person who clicked. " + top + PERCENTILES,
        )
    )
    out.append(
        _table(
            ["approver", "acts", "p50", "p90", "p99"],
            _spread_rows(figures.by_approver, ended=False),
            table_id="table-by-approver",
        )
    )
    out.append("<h3>By tool</h3>")
    unrecorded = ""
    if figures.tool_not_recorded:
        unrecorded = (
            f" {figures.tool_not_recorded} decisions have no tool recorded (“{e(TOOL_NOT_RECORDED)}”): their "
            "<code>requested</code> entry names no kind or tool (written before the audit recorded them, or "
            "requested before the period), and nothing is guessed."
        )
    if any(g.decided for g in figures.by_tool):
        out.append(
            _plot(
                "plot-by-tool",
                "Time to decision by tool",
                lambda: _percentile_dots(figures.by_tool, "tool"),
                base + "The tool is the <code>tool</code> of the approval's <code>requested</code> entry; "
                f"“{e(NO_TOOL)}” is a turn of the conversation; “code” is code about to run." + unrecorded,
            )
        )
    out.append(
        _table(
            ["tool", "decided by people", "p50", "p90", "p99", "timed out", "timeout rate", "cancelled"],
            _spread_rows(figures.by_tool, ended=True),
            table_id="table-by-tool",
        )
    )
    return "".join(out)


def _nudges(figures: Figures) -> str:
    out = ["<h2>Timeouts, reminders and escalations</h2>"]
    rate = figures.timeout_rate
    out.append(
        f'<p id="timeout-rate">Timeout rate: <b>{_rate(rate)}</b> ({figures.outcomes["timed_out"]} timed out of '
        f"{figures.overall.decided + figures.outcomes['timed_out']} approvals decided by people or by their "
        "deadline; cancelled ones are left out). Per channel: the table above.</p>"
    )
    r = figures.reminders
    if r is None:
        out.append('<p class="note">No reminder in this period (<code>reminded</code> entries).</p>')
    else:
        window = duration_ms(r.window_s * 1000)
        rows = [
            f'<tr><th scope="row">{e(label)}</th><td class="n">{count}</td></tr>'
            for label, count in (
                ("approvals reminded", r.reminded),
                ("reminders sent", r.reminders),
                (f"decided by a person within {window} after a reminder", r.decided_soon),
                ("decided by a person later", r.decided_later),
                ("timed out", r.timed_out),
                ("cancelled", r.cancelled),
                ("not decided in the period", r.undecided),
            )
        ]
        out.append("<h3>Reminders</h3>")
        out.append(_table(["", "approvals"], rows, table_id="table-reminders"))
        out.append(
            f'<p class="note">From <code>reminded</code> entries: an approval counts once however many reminders '
            f"it had; “within {window}” compares its decision with the last reminder before it. This shows what "
            "followed reminders, not what they caused: some would have been decided anyway.</p>"
        )
    x = figures.escalations
    if x is None:
        out.append('<p class="note">No escalation in this period (<code>escalated</code> entries).</p>')
    else:
        rows = [
            f'<tr><th scope="row">{e(label)}</th><td class="n">{count}</td></tr>'
            for label, count in (
                ("approvals escalated", x.escalated),
                ("decided by someone it was escalated to", x.by_escalation),
                ("decided by someone else", x.by_others),
                ("timed out", x.timed_out),
                ("cancelled", x.cancelled),
                ("not decided in the period", x.undecided),
            )
        ]
        out.append("<h3>Escalations</h3>")
        out.append(_table(["", "approvals"], rows, table_id="table-escalations"))
        out.append(
            '<p class="note">From <code>escalated</code> entries: “someone it was escalated to” is a person named in '
            "the entry's <code>to</code> (or a decision made for them); members of a user group named there count "
            "as “someone else”, since the report cannot see group membership.</p>"
        )
    return "".join(out)


def _backlog(figures: Figures) -> str:
    b = figures.backlog
    out = ["<h2>Waiting now</h2>"]
    if not b.total:
        out.append('<p class="note" id="backlog-none">No approval is waiting now.</p>')
        return "".join(out)
    oldest = duration_ms((b.oldest_s or 0) * 1000)
    out.append(f'<p id="backlog-total">{b.total} approvals waiting; the oldest for {e(oldest)}.</p>')
    out.append(
        _plot(
            "plot-backlog",
            "Approvals waiting now, by age",
            lambda: _backlog_bars(figures),
            "Read from Redis when the report was made, not from the audit stream: every approval still pending "
            "(those with a deadline and those that never time out), its age = now − requested. "
            "Bucket bounds: lower included, upper excluded.",
        )
    )
    rows = [f'<tr><th scope="row">{e(k.label)}</th><td class="n">{k.count}</td></tr>' for k in b.buckets]
    channel_rows = [f'<tr><th scope="row">{e(c)}</th><td class="n">{n}</td></tr>' for c, n in b.by_channel]
    out.append(_table(["waiting for", "approvals"], rows, table_id="table-backlog"))
    out.append(_table(["channel", "approvals waiting"], channel_rows, table_id="table-backlog-channels"))
    return "".join(out)


def _load(figures: Figures) -> str:
    out = ["<h2>Each approver's load</h2>"]
    if not figures.approvers:
        out.append('<p class="note">No person decided or voted in this period.</p>')
        return "".join(out)
    out.append(
        _plot(
            "plot-load",
            "Acts per approver, by outcome",
            lambda: _load_bars(figures),
            "An act is a person's decision of an approval or their vote in its quorum, once per approval "
            "(a quorum's deciding vote is one act). Median = nearest-rank p50 of their acts' times. "
            f"The plot shows the {MOST_SHOWN} busiest; the table lists all.",
        )
    )
    rows = [
        f'<tr><th scope="row">{e(a.user)}</th><td class="n">{a.acts}</td><td class="n">{a.approved}</td>'
        f'<td class="n">{a.rejected}</td><td class="n">{a.revised}</td><td class="n">{a.votes}</td>'
        f'<td class="n">{a.for_others}</td>{_ms_cell(a.median_ms)}<td class="n">{percent(a.approve_rate)}</td></tr>'
        for a in figures.approvers
    ]
    head = ["approver", "acts", "approved", "rejected", "revised", "of them votes", "for someone away", "median time"]
    out.append(_table([*head, "approve rate"], rows, table_id="table-load"))
    return "".join(out)


def _rubber_stamp(figures: Figures) -> str:
    rule = figures.rubber_stamp
    out = ["<h2>Possible rubber-stamping</h2>"]
    thresholds = (
        f"at least {rule.min_decisions} acts in the period, of which at least {percent(rule.rate)} were approvals "
        f"made within {rule.seconds:g} s of the request"
    )
    out.append(
        f'<p id="rubber-stamp-thresholds">Thresholds: {e(thresholds)} (set with <code>--rubber-stamp-min</code>, '
        "<code>--rubber-stamp-rate</code> and <code>--rubber-stamp-seconds</code>).</p>"
    )
    if not figures.approvers:
        out.append('<p class="note">No person decided or voted in this period.</p>')
        return "".join(out)
    out.append(
        _plot(
            "plot-rubber-stamp",
            "Quick approvals per approver",
            lambda: _rubber_stamp_scatter(figures),
            "One dot per person: their acts in the period and the share of them that were approvals within "
            f"{rule.seconds:g} s of the request. Dashed lines: the thresholds; dots above and right of both are "
            "named. This is a pattern worth a conversation, not a finding: quick approvals can be right for "
            "routine, low-risk requests, and a person may have read the request elsewhere first.",
        )
    )
    flagged = figures.flagged
    if flagged:
        rows = [
            f'<tr><th scope="row" class="flag">{e(a.user)}</th><td class="n">{a.acts}</td>'
            f'<td class="n">{a.quick_approvals}</td><td class="n">{percent(a.quick_rate)}</td>'
            f'<td class="n">{percent(a.approve_rate)}</td>{_ms_cell(a.median_ms)}</tr>'
            for a in flagged
        ]
        out.append(
            _table(
                ["approver", "acts", f"approvals within {rule.seconds:g} s", "share", "approve rate", "median time"],
                rows,
                table_id="table-rubber-stamp",
            )
        )
    else:
        out.append('<p id="rubber-stamp-none">Nobody meets these thresholds in this period.</p>')
    return "".join(out)


def _automatic(figures: Figures) -> str:
    auto = figures.automatic
    out = ["<h2>Steps decided without a person</h2>"]
    people = figures.outcomes["approved"]
    share = auto.approved / (auto.approved + people) if auto.approved + people else None
    split = ""
    if auto.by_rules:
        split = f" ({auto.approved - auto.by_rules} by input modes, {auto.by_rules} by always-allow rules)"
    out.append(
        f'<p id="automatic-total">{auto.approved} steps approved{split} and {auto.rejected} rejected automatically '
        f"by input modes and rules; {_rate(share)} of all approvals (automatic and by people) were automatic.</p>"
    )
    if not auto.approved and not auto.rejected:
        return "".join(out)
    out.append(
        _plot(
            "plot-automatic",
            "Automatic steps by input mode",
            lambda: _automatic_bars(figures),
            "From <code>auto_approved</code> / <code>auto_rejected</code> entries. The mode is “rule” for an "
            "approval by an always-allow rule (an entry with a <code>rule_id</code>), else the entry's "
            "<code>mode</code>, else read from its rule (“mode policy: …”). In the rules table, numbers are "
            "shown as N, so “automatic reply 3 of 10” and “4 of 10” count as one rule.",
        )
    )
    mode_rows = [
        f'<tr><th scope="row">{e(name)}</th><td class="n">{a}</td><td class="n">{r}</td></tr>'
        for name, a, r in auto.by_mode
    ]
    rule_rows = [
        f'<tr><th scope="row">{e(name)}</th><td class="n">{a}</td><td class="n">{r}</td></tr>'
        for name, a, r in auto.by_rule
    ]
    out.append(_table(["input mode", "approved", "rejected"], mode_rows, table_id="table-automatic-modes"))
    out.append(_table(["rule", "approved", "rejected"], rule_rows, table_id="table-automatic-rules"))
    if auto.rules:
        out.append("<h3>Always-allow rules</h3>")
        out.append(
            _table(
                ["rule", "uses in the period", "created by", "channels", "tools", "what it matches"],
                [_rule_row(rule) for rule in auto.rules],
                table_id="table-rules",
            )
        )
        out.append(
            '<p class="note">One row per always-allow rule that approved calls in the period: its uses are its '
            "<code>auto_approved</code> entries (by <code>rule_id</code>); who created it is the entries' "
            "<code>rule_by</code>; what it matches is the description its latest entry recorded. Rules that "
            "approved nothing in the period are not listed (<code>/agent rules</code> lists the live ones).</p>"
        )
    return "".join(out)


def _rule_row(rule: RuleUse) -> str:
    cells = (rule.created_by, ", ".join(rule.channels), ", ".join(rule.tools), rule.described or "–")
    return (
        f'<tr><th scope="row">{e(rule.rule_id)}</th><td class="n">{rule.uses}</td>'
        + "".join(f"<td>{e(cell)}</td>" for cell in cells)
        + "</tr>"
    )


def _page(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>{e(title)}</title><style>{_CSS}</style></head><body><main>{body}</main></body></html>\n"
    )


def render(figures: Figures) -> str:
    """The report page for `figures`: one HTML string, self-contained."""
    title = f"Approvals report, {when(figures.since)[:10]} to {when(figures.now)[:10]}"
    if figures.empty:
        body = (
            _header(figures)
            + '<p class="empty" id="empty">Nothing to report: no approval was requested or decided in this '
            "period"
            + (" in these channels" if figures.channels else "")
            + ". Try a longer <code>--since</code>, or other channels.</p>"
            + _backlog(figures)
        )
        return _page(title, body)
    body = "".join(
        (
            _header(figures),
            _tiles(figures),
            _per_day(figures),
            _times(figures),
            _nudges(figures),
            _backlog(figures),
            _load(figures),
            _rubber_stamp(figures),
            _automatic(figures),
            f'<h2>Method</h2><p class="note">Every figure but “Waiting now” is computed from the audit stream '
            f"({figures.entries} entries from {e(when(figures.since))} to {e(when(figures.now))}, "
            "about the channels chosen as the run's channel or the card's). "
            f"{PERCENTILES} Outcomes counted: {', '.join(NAMES[o] for o in OUTCOMES)}. "
            f"Age buckets: {', '.join(label for label, _ in AGE_BUCKETS)}. Reminder window: "
            f"{REMINDER_WINDOW_SECONDS // 60} min.</p>",
        )
    )
    return _page(title, body)

"""The report's plots: matplotlib figures of `Figures`, each as an inline <svg> element.

Drawn on an Agg canvas and saved as SVG with glyphs as paths (no font is referenced, and no text from the
audit stream is ever markup in the page: user, channel and tool ids are shapes); the XML prolog, namespaces,
comments, metadata and style are cut, and each plot's ids are prefixed with its plot id so several plots
share one page. `plot_svg(figures, plot_id, label)` draws one as `markupsafe.Markup`: matplotlib's output,
trusted, put in the page as it is by the templates of `bot.report.html`.

matplotlib is imported when the first plot is drawn, not with this module (which `bot.server` imports through
`bot.report.html`): it costs a second of CPU, and a worker that never draws a report (or a test process collecting
the suite) should not pay it.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

from bot.report import PEOPLE_OUTCOMES, SERIES, Figures, Spread, duration_ms

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

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


def short(label: str) -> str:
    return label if len(label) <= LABEL_CHARS else label[: LABEL_CHARS - 1] + "…"


@contextmanager
def _figure(width: float, height: float) -> Iterator[Figure]:
    import matplotlib  # when the first plot is drawn (see the module's docstring)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with matplotlib.rc_context(_RC):
        figure = Figure(figsize=(width, height), layout="constrained")
        FigureCanvasAgg(figure)
        yield figure


def svg(figure: Figure, plot_id: str, label: str) -> Markup:
    """`figure` as an inline <svg> element: no XML prolog, namespaces, comments or metadata; its ids
    prefixed with `plot_id` (several plots share one page); sized to fit the page; `label` (escaped) names
    it for screen readers. Markup: matplotlib's output is put in the page as it is."""
    import matplotlib

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
    opening = f'<svg role="img" aria-label="{escape(label)}" style="width:100%;max-width:{width}pt;height:auto"'
    return Markup(_SIZE.sub(opening, text, count=1).strip())


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


def _null_formatter() -> Any:
    from matplotlib.ticker import NullFormatter

    return NullFormatter()


def _seconds_axis(ax: Axes) -> None:
    low, high = ax.get_xlim()
    chosen = [(at, label) for at, label in _SECOND_TICKS if low <= at <= high] or [(low, f"{low:g} s")]
    ax.set_xticks([at for at, _ in chosen], [label for _, label in chosen])
    ax.xaxis.set_minor_formatter(_null_formatter())
    ax.set_xlim(low, high)


def _count_axis(ax: Axes) -> None:
    """A log axis of counts with plain numbers (1, 2, 5, 10, 20, 50...)."""
    low, high = ax.get_xlim()
    steps = [m * 10**p for p in range(0, 8) for m in (1, 2, 5)]
    ax.set_xticks([s for s in steps if low <= s <= high], [f"{s:g}" for s in steps if low <= s <= high])
    ax.xaxis.set_minor_formatter(_null_formatter())
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


# Each plot by its id: a <figure id="..."> holding one <svg> (in the order of the page).
_DRAW: dict[str, Callable[[Figures], Figure]] = {
    "plot-per-day": _bars_per_period,
    "plot-time": lambda figures: _histogram(figures.overall),
    "plot-by-channel": lambda figures: _percentile_dots(figures.by_channel, "channel"),
    "plot-by-approver": lambda figures: _percentile_dots(figures.by_approver, "approver"),
    "plot-by-tool": lambda figures: _percentile_dots(figures.by_tool, "tool"),
    "plot-backlog": _backlog_bars,
    "plot-load": _load_bars,
    "plot-rubber-stamp": _rubber_stamp_scatter,
    "plot-automatic": _automatic_bars,
}
PLOT_IDS = tuple(_DRAW)


def plot_svg(figures: Figures, plot_id: str, label: str) -> Markup:
    """The plot `plot_id` (one of `PLOT_IDS`) of `figures`, as an inline <svg> element."""
    return svg(_DRAW[plot_id](figures), plot_id, label)

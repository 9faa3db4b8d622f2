"""The oversight report's plots (`Oversight` -> inline <svg>), drawn the one way the approvals report's are
(bot/report/plots.py: its canvas, SVG cleaning, percentile dots and axes); matplotlib is imported only when one is
drawn."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from markupsafe import Markup

from bot.report.oversight import Oversight
from bot.report.plots import COLORS, MOST_SHOWN, _figure, _percentile_dots, short, svg

if TYPE_CHECKING:
    from matplotlib.figure import Figure

# (what, its Route field, colour) of the signals plot
SIGNALS = (
    ("fast approvals", "fast", "#c62828"),
    ("at risk", "at_risk", "#f9a825"),
    ("breached", "breached", "#6a1b9a"),
    ("rerouted (fatigue)", "rerouted", "#00838f"),
    ("rejected", "rejected", COLORS["rejected"]),
    ("revised", "revised", COLORS["revised"]),
    ("stepped up", "stepped_up", "#1565c0"),
)


def _signals(oversight: Oversight) -> Figure:
    routes = oversight.routes[:MOST_SHOWN]
    with _figure(8.0, 1.2 + 0.55 * len(routes)) as figure:
        ax = figure.subplots()
        height = 0.8 / len(SIGNALS)
        for i, (name, attribute, color) in enumerate(SIGNALS):
            y = [len(routes) - 1 - n + 0.4 - (i + 0.5) * height for n in range(len(routes))]
            ax.barh(y, [getattr(r, attribute) for r in routes], height=height, color=color, label=name)
        ax.set_yticks(range(len(routes))[::-1], [f"{short(r.label)} ({r.acts})" for r in routes], fontsize=7)
        ax.set_xlabel("count in the period, by route (acts in brackets)")
        ax.legend(frameon=False, fontsize=7, ncols=4, loc="lower left", bbox_to_anchor=(0, 1.0))
        ax.set_ylim(-0.6, len(routes) - 0.4)
        return figure


def _drills(oversight: Oversight) -> Figure:
    drills = oversight.drills[-MOST_SHOWN:]
    with _figure(8.0, 1.2 + 0.35 * len(drills)) as figure:
        ax = figure.subplots()
        y = list(range(len(drills)))[::-1]
        freeze = [d.freeze_seconds or 0.0 for d in drills]
        ax.barh(y, freeze, color="#c62828", label="freeze took effect", height=0.7)
        ax.barh(y, [d.unfreeze_seconds or 0.0 for d in drills], left=freeze, color="#2e7d32",
                label="unfreeze took effect", height=0.7)
        labels = [f"{short(d.scope)}, {_day(d.at)}" + ("" if d.refused_during == "true" else " (NOT refused)")
                  for d in drills]
        ax.set_yticks(y, labels, fontsize=7)
        ax.set_xlabel("seconds")
        ax.legend(frameon=False, fontsize=7, ncols=2, loc="lower left", bbox_to_anchor=(0, 1.0))
        return figure


def _day(at: float) -> str:
    import time

    return time.strftime("%m-%d %H:%M", time.gmtime(at))


_DRAW: dict[str, Callable[[Oversight], Figure]] = {
    "plot-oversight-time": lambda o: _percentile_dots([r.decide for r in o.routes], "route"),
    "plot-oversight-signals": _signals,
    "plot-oversight-drills": _drills,
}
OVERSIGHT_PLOT_IDS = tuple(_DRAW)


def oversight_svg(oversight: Oversight, plot_id: str, label: str) -> Markup:
    """The plot `plot_id` (one of `OVERSIGHT_PLOT_IDS`) as an inline <svg> element."""
    return svg(_DRAW[plot_id](oversight), plot_id, label)

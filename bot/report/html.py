"""The report as one self-contained HTML page: `render(figures) -> str`.

The page is made from the jinja2 templates in `templates/` (`page.html` and a partial per section, with
the macros they share in `macros.html`); this module gives them what they show. Autoescaping is on for
every template and nothing the audit stream wrote is marked safe, so its text (user, channel and tool
ids, rules) is escaped wherever it is shown and stays text, never markup. The plots are matplotlib's
SVG (`plots.py`, glyphs as paths: no font is referenced), the only markup put in the page as it is.
The page has no script and no external reference of any kind (no URL, font, image or stylesheet): it
opens offline, from a file or an email attachment.
"""

from __future__ import annotations

import time
from functools import cache
from typing import Any

from jinja2 import Environment
from markupsafe import Markup

from bot.core.templates import environment as templates_environment
from bot.report import (
    AGE_BUCKETS,
    NO_TOOL,
    OUTCOMES,
    REMINDER_WINDOW_SECONDS,
    TOOL_NOT_RECORDED,
    Figures,
    duration_ms,
    percent,
    verdict_words,
)
from bot.report.entries import DAY
from bot.report.figures import SHADOW_DAYS
from bot.report.oversight import EVIDENCES, Oversight
from bot.report.oversight_plots import oversight_svg
from bot.report.plots import MOST_SHOWN, NAMES, PLOT_IDS, plot_svg, shown_series

__all__ = ["NAMES", "PLOT_IDS", "render", "render_oversight"]


def when(epoch: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(epoch))


def _rate(rate: float | None) -> str:
    return "–" if rate is None else percent(rate)


@cache
def _environment() -> Environment:
    environment = templates_environment("bot.report")  # autoescaped: what the audit stream wrote is text
    environment.filters.update(
        duration=duration_ms,  # milliseconds as people read them
        percent=percent,
        rate=_rate,  # a rate, or "–" when there is none
        g=lambda number: f"{number:g}",  # 5.0 -> "5"
        verdict=verdict_words,  # a policy verdict (allow, deny, ask, none) as people read it
    )
    return environment


def _context(figures: Figures) -> dict[str, Any]:
    auto, by_people = figures.automatic, figures.outcomes["approved"]

    def draw(plot_id: str, label: str) -> Markup:
        return plot_svg(figures, plot_id, label)

    series = shown_series(figures)
    return {
        "figures": figures,
        "when": when,
        "title": f"Approvals report, {when(figures.since)[:10]} to {when(figures.now)[:10]}",
        "since": when(figures.since),
        "now": when(figures.now),
        "draw": draw,  # the plots are drawn only where the page shows them
        "unit": "day" if figures.period_days == 1 else "week",
        "series": series,  # of the decisions per day
        "series_names": [NAMES[s] for s in series],
        "most_shown": MOST_SHOWN,
        "no_tool": NO_TOOL,
        "tool_not_recorded": TOOL_NOT_RECORDED,
        # automatic approvals over all approvals (automatic and by people)
        "automatic_share": auto.approved / (auto.approved + by_people) if auto.approved + by_people else None,
        "outcome_names": [NAMES[o] for o in OUTCOMES],
        "age_buckets": [label for label, _ in AGE_BUCKETS],
        "reminder_window_min": REMINDER_WINDOW_SECONDS // 60,
        "shadow_period": f"last {SHADOW_DAYS} days" if figures.now - figures.since > SHADOW_DAYS * DAY
        else "the whole period",
    }


def render(figures: Figures) -> str:
    """The report page for `figures`: one HTML string, self-contained."""
    return _environment().get_template("page.html").render(_context(figures))


def render_oversight(oversight: Oversight, *, channels: tuple[str, ...] = ()) -> str:
    """The oversight report's page (templates/oversight.html): one HTML string, self-contained."""

    def draw(plot_id: str, label: str) -> Markup:
        return oversight_svg(oversight, plot_id, label)

    return _environment().get_template("oversight.html").render(
        o=oversight, draw=draw, when=when, evidences=EVIDENCES, channels=channels,
        seconds=lambda value: "not recorded" if value is None else f"{value:.3f}",
        title=f"Oversight report, {when(oversight.since)[:10]} to {when(oversight.until)[:10]}",
        since=when(oversight.since), until=when(oversight.until),
    )

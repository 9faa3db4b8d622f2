"""How approvals are going: the offline HTML report (`python -m bot report`) and its headline numbers.

    figures.py   pure: audit entries (+ the approvals waiting now) -> `Figures`; `headline()` -> `Headline`
    html.py      `Figures` -> one self-contained HTML page, plots drawn by matplotlib as inline SVG
    cli.py       reads Redis (the audit stream, the pending approvals) and writes the page

Importing this package does not import matplotlib: `/agent report` and the App Home use `headline`.

    >>> from bot.report import headline
    >>> headline([], now=0.0).lines()
    ['No decisions in this period.']
"""

from __future__ import annotations

from bot.report.figures import Figures, Headline, RubberStamp, compute, duration_ms, headline, nearest_rank, percent

__all__ = ["Figures", "Headline", "RubberStamp", "compute", "duration_ms", "headline", "nearest_rank", "percent"]

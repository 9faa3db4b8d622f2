"""How approvals are going: the offline HTML report (`python -m bot report`) and its headline numbers, and the audit
export (audit integrity, `audit verify`: bot/audit/).

    entries.py         pure: what an audit entry says, and one pass over the entries
    figures.py         pure: entries (+ the approvals waiting now) -> `Figures`, what the page shows
    automatic.py       pure: what modes, rules and policies decided without a person, and programs' allow-lists
    follow_ups.py      pure: what came of reminders and escalations
    policies.py        pure: what the policies decided, and what those in shadow would have (`policy_shadow`)
    headline.py        pure: `headline()` -> `Headline`, the few numbers `/agent report` and the App Home
                       show; durations and rates as people read them
    headline_cache.py  a channel's headline numbers for its admins' Homes, cached in Redis
    plots.py           `Figures` -> plots, drawn by matplotlib as inline SVG
    html.py            `Figures` -> one self-contained HTML page, from the jinja2 templates in templates/ (and the
                       oversight report's page)
    oversight.py       pure: the oversight report's figures per route (`python -m bot report oversight`), its CSV rows
    reach_figures.py   pure: the oversight report's reach: time to decide per surface and per route step (#90)
    oversight_plots.py `Oversight` -> its plots, drawn as plots.py draws
    oversight_cli.py   `python -m bot report oversight --since DATE --until DATE`: reads the audit log, writes HTML and
                       CSV
    triage.py          pure: the triage model's readings beside people's decisions, per policy (`report triage`)
    triage_cli.py      `python -m bot report triage --since DATE --until DATE [--json]`: reads the audit log, prints
    templates/         the page's jinja2 templates
    cli.py             reads Redis (the audit stream, the pending approvals) and writes the page
    names.py           people's names for the report and the export, asked of Slack (ids offline)
    audit_export.py    `python -m bot audit`: the audit stream as JSON lines or CSV (or SEP-3004 records)
    mcp_audit.py       the audit log as MCP's tamper-evident audit records (SEP-3004); `audit check-records`
    evidence.py        `python -m bot audit evidence`: an audit period's population, proofs and summary, from the
                       archive
    span.py            a period's audit entries for the report and the export: Redis, and the archive (`--archive`)
                       for what Redis no longer holds

Importing this package does not import matplotlib or jinja2: `/agent report` and the App Home use
`headline`.

    >>> from bot.report import headline
    >>> headline([], now=0.0).lines()
    ['No decisions in this period.']

May import: `bot.core`, `bot.store` and `agents`."""

from __future__ import annotations

from bot.report.automatic import RuleUse
from bot.report.entries import (
    NO_TOOL,
    OUTCOMES,
    PEOPLE_OUTCOMES,
    SERIES,
    TOOL_NOT_RECORDED,
    Entry,
    mode_of,
    nearest_rank,
)
from bot.report.figures import (
    AGE_BUCKETS,
    Figures,
    RubberStamp,
    Spread,
    compute,
)
from bot.report.follow_ups import REMINDER_WINDOW_SECONDS
from bot.report.headline import Headline, duration_ms, headline, percent
from bot.report.policies import PolicyFigures, policy_figures, verdict_words

__all__ = [
    "AGE_BUCKETS",
    "NO_TOOL",
    "OUTCOMES",
    "PEOPLE_OUTCOMES",
    "REMINDER_WINDOW_SECONDS",
    "SERIES",
    "TOOL_NOT_RECORDED",
    "Entry",
    "Figures",
    "Headline",
    "PolicyFigures",
    "RubberStamp",
    "RuleUse",
    "Spread",
    "compute",
    "duration_ms",
    "headline",
    "mode_of",
    "nearest_rank",
    "percent",
    "policy_figures",
    "verdict_words",
]

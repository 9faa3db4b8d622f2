"""The metric names of docs/operators/monitoring.md's one table (what /metrics exposes, the rules and the dashboard
name)."""

from __future__ import annotations

from pathlib import Path

PAGE = Path(__file__).resolve().parents[2] / "docs" / "operators" / "monitoring.md"


def table_names() -> set[str]:
    """The metric names of the page's one table."""
    text = PAGE.read_text()
    start = text.index("| metric | type | labels | meaning |")
    rows = text[start: text.index("\n\n", start)].splitlines()[2:]
    return {row.split("|")[1].strip().strip("`") for row in rows}

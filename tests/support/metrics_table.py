"""The metric names of docs/operators/monitoring.md's one table (what /metrics exposes, the rules and the dashboard
name)."""

from __future__ import annotations

import re
from pathlib import Path

import aiohttp

from tests.support.oauth import Served

PAGE = Path(__file__).resolve().parents[2] / "docs" / "operators" / "monitoring.md"


def table_names() -> set[str]:
    """The metric names of the page's one table."""
    text = PAGE.read_text()
    start = text.index("| metric | type | labels | meaning |")
    rows = text[start: text.index("\n\n", start)].splitlines()[2:]
    return {row.split("|")[1].strip().strip("`") for row in rows}


async def scrape(worker: Served) -> str:
    """The worker's `/metrics` (loopback: no token needed): an in-process `Worker` or a `python -m bot` process."""
    async with aiohttp.ClientSession() as http, http.get(worker.url + "/metrics") as response:
        assert response.status == 200
        return await response.text()


def sample(text: str, name: str) -> float:
    """The value of the sample `name` (with its labels, as exposed) in `text`; 0 when absent."""
    found = re.search(rf"^{re.escape(name)} (\S+)$", text, re.M)
    return float(found.group(1)) if found else 0.0

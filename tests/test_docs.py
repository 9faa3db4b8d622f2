"""Every Markdown table in docs/ (and the README) is whole: a header, its `| --- |` line, and rows with as many cells
as the header, each table apart from the text before it. A row pasted after a paragraph (the paragraph swallows it)
or a row with a cell too many or too few fails, naming the page and line, so a table cannot break silently. And the
pages give one upgrade procedure, docs/operators/upgrades.md's: deploying.md links it, no page contradicts it."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.source import ROOT

PAGES = sorted([*(ROOT / "docs").rglob("*.md"), ROOT / "README.md"])
SEPARATOR = re.compile(r"\|?\s*:?-{3,}:?\s*(\|\s*:?-{3,}:?\s*)*\|?")


def cells(row: str) -> int:
    """How many cells a table row has, as Python-Markdown's `tables` counts them: a `|` escaped or inside a code
    span separates nothing."""
    text = re.sub(r"(`+).*?\1", "code", row.strip().replace("\\|", ""))
    return len(text.strip("|").split("|"))


def lines_outside_code(text: str) -> Iterator[tuple[int, str]]:
    """(line number, line) of a page, fenced code blocks left out."""
    fenced = False
    for number, line in enumerate(text.splitlines(), start=1):
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        yield number, ("" if fenced else line)


def table_faults(text: str) -> list[str]:
    """What is wrong with the page's tables, one line each ("line N: ...")."""
    faults, header, previous = [], 0, ""
    for number, line in lines_outside_code(text):
        row = line.strip().startswith("|")
        if row and not previous.strip().startswith("|"):  # a table starts: apart from the text, then its header line
            header = cells(line)
            if previous.strip():
                faults.append(f"line {number}: a table row right after text (the paragraph swallows it)")
        elif row and SEPARATOR.fullmatch(line.strip()) is None and cells(line) != header:
            faults.append(f"line {number}: {cells(line)} cells, its header has {header}")
        elif row and SEPARATOR.fullmatch(line.strip()) is not None and cells(line) != header:
            faults.append(f"line {number}: the header line has {cells(line)} cells, its header {header}")
        previous = line
    return faults


def test_the_checker_finds_a_swallowed_row_and_a_row_of_the_wrong_width() -> None:
    page = "| a | b |\n| --- | --- |\n| `x|y` | 2 |\n| 1 | 2 | 3 |\n\nSome text.\n| c | d |\n"
    assert table_faults(page) == ["line 4: 3 cells, its header has 2",
                                  "line 7: a table row right after text (the paragraph swallows it)"]
    assert table_faults("```\n| a |\n| b | c |\n```\n| x | y |\n| --- | --- |\n| a \\| b | c |\n") == []


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_table_in_the_docs_is_whole(page: Path) -> None:
    assert table_faults(page.read_text()) == []


UPGRADES = ROOT / "docs" / "operators" / "upgrades.md"
PROCEDURE = "upgrades.md#a-rolling-upgrade-step-by-step"
# what no page may say once upgrades.md says rolling upgrades are supported (deploying.md once did: #87)
NOT_ROLLING = re.compile(r"all workers at once|rather than one by one|cannot be upgraded one", re.I)


def upgrade_faults(pages: dict[str, str]) -> list[str]:
    """Pages that disagree with upgrades.md on how to upgrade: one that says workers are not replaced one at a time,
    or deploying.md's upgrading without the one procedure's link."""
    faults = [f"{name}: {m[0]!r}" for name, text in pages.items() for m in NOT_ROLLING.finditer(text)]
    deploying = pages.get("docs/operators/deploying.md", "")
    upgrading = re.search(r"\*\*Upgrading\.\*\*(.*?)(?=\n- \*\*|\n#)", deploying, re.S)
    if upgrading is None or PROCEDURE not in upgrading[1]:
        faults.append(f"docs/operators/deploying.md: its Upgrading does not link the one procedure ({PROCEDURE})")
    return faults


def test_deploying_and_upgrades_give_one_upgrade_procedure() -> None:
    """docs/operators/upgrades.md holds the procedure (a rolling upgrade, one worker at a time); deploying.md points
    at it, and no page says to replace the workers all at once."""
    upgrades = UPGRADES.read_text()
    assert "## A rolling upgrade, step by step" in upgrades and "**Rolling upgrades are supported.**" in upgrades
    assert upgrade_faults({str(p.relative_to(ROOT)): p.read_text() for p in PAGES}) == []


def test_the_upgrade_check_sees_a_page_that_disagrees() -> None:
    stale = "- **Upgrading.** Workers of an older version cannot read new approvals: replace all workers at once.\n"
    assert upgrade_faults({"docs/operators/deploying.md": stale}) == [
        "docs/operators/deploying.md: 'all workers at once'",
        f"docs/operators/deploying.md: its Upgrading does not link the one procedure ({PROCEDURE})"]

"""Every Markdown table in docs/ (and the README) is whole: a header, its `| --- |` line, and rows with as many cells
as the header, each table apart from the text before it. A row pasted after a paragraph (the paragraph swallows it)
or a row with a cell too many or too few fails, naming the page and line, so a table cannot break silently."""

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

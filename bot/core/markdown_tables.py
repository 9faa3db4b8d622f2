"""The docs' generated tables (docs/operators/configuration.md): a Markdown table's rows, and the `--markdown` command
that prints one (`python -m bot.core.settings_table --markdown`, `python -m bot.core.channel_options --markdown`)."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterable, Sequence


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> str:
    """A Markdown table: `header`, its rule, then `rows` (an empty cell is one space), each line ending in a newline."""
    lines = [row(*header), row(*("---" for _ in header)), *(row(*cells) for cells in rows)]
    return "\n".join(lines) + "\n"


def row(*cells: str) -> str:
    return "|" + "|".join(f" {cell} " if cell else " " for cell in cells) + "|"


def main(argv: Sequence[str], module: str, markdown: Callable[[], str]) -> int:
    """`python -m <module> --markdown`: print the table `markdown` makes (2 and the usage for anything else)."""
    if list(argv) != ["--markdown"]:
        print(f"usage: python -m {module} --markdown", file=sys.stderr)
        return 2
    sys.stdout.write(markdown())
    return 0

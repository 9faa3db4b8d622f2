"""The house stays easy to see (#88): fitness checks read from the source, no process started.

- No function, method or class of bot/ or agents/agent_approvals/ is ranked E or F by radon's cyclomatic complexity,
  and at most `MAX_D` of both together are ranked D (as `radon cc -s -n D bot agents/agent_approvals` lists them).
- The composition root's `create_services` (bot/root.py) stays under `MAX_CREATE_SERVICES` lines: its groups of
  parts are built by bot/services.py's builders, and what each part is told of is set in the root.

Module sizes are tests/test_layout.py's (`MAX_LINES`, `MAX_TEST_LINES`).
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest
from radon.complexity import cc_rank, cc_visit

from tests.support.source import ROOT

MAX_D = 2  # ranked D (21 to 30); E (31 to 40) and F (41 and over): none
MAX_CREATE_SERVICES = 80


def ranked(files: list[Path], *, worst_first: str) -> list[tuple[str, str]]:
    """The blocks of `files` ranked `worst_first` or worse: (rank, `path:line name (complexity)`)."""
    return [(rank, f"{path.relative_to(path.parents[1])}:{block.lineno} {block.name} ({block.complexity})")
            for path in files for block in cc_visit(path.read_text())
            if (rank := cc_rank(block.complexity)) >= worst_first]


@functools.cache
def bot_ranked_d() -> tuple[tuple[str, str], ...]:
    """bot/'s and agents/agent_approvals/'s blocks ranked D or worse (read once: two tests ask)."""
    return tuple(ranked([p for folder in (ROOT / "bot", ROOT / "agents" / "agent_approvals")
                         for p in sorted(folder.rglob("*.py")) if "__pycache__" not in p.parts], worst_first="D"))


def function_lines(source: str, name: str) -> int:
    """How many lines function `name` of `source` spans (its signature and docstring too); 0 when there is none."""
    return next((node.end_lineno - node.lineno + 1 for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.FunctionDef) and node.name == name and node.end_lineno), 0)


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
def test_nothing_in_bot_is_ranked_e_or_worse() -> None:
    assert [(rank, where) for rank, where in bot_ranked_d() if rank >= "E"] == []


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
def test_few_functions_in_bot_are_ranked_d() -> None:
    assert len(bot_ranked_d()) <= MAX_D, bot_ranked_d()


def test_create_services_is_short() -> None:
    lines = function_lines((ROOT / "bot" / "root.py").read_text(), "create_services")
    assert 0 < lines <= MAX_CREATE_SERVICES, lines


def test_the_house_checks_can_fail(tmp_path: Path) -> None:
    """A tangled function is ranked, D and E apart; a long `create_services` is measured whole."""
    (tmp_path / "pkg").mkdir()
    tangled = tmp_path / "pkg" / "tangled.py"
    branches = "".join(f"    if x == {i}:\n        return {i}\n" for i in range(32))
    tangled.write_text(f"def tangled(x):\n{branches}    return -1\n\n\ndef plain(x):\n    return x\n")
    assert ranked([tangled], worst_first="E") == [("E", "pkg/tangled.py:1 tangled (33)")]
    tangled.write_text(f"def tangled(x):\n{branches[:branches.index('    if x == 25')]}    return -1\n")
    assert ranked([tangled], worst_first="E") == []
    assert ranked([tangled], worst_first="D") == [("D", "pkg/tangled.py:1 tangled (26)")]
    long = "def create_services(settings):\n" + "    x = 1\n" * MAX_CREATE_SERVICES + "    return x\n"
    assert function_lines(long, "create_services") == MAX_CREATE_SERVICES + 2
    assert function_lines("def other():\n    pass\n", "create_services") == 0

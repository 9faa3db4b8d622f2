"""Every package's docstring map matches its folder, and every path a docstring names exists.

A package's map is the lines of its `__init__.py` docstring indented four spaces that begin with what the folder
holds: a module (`name.py`), a sub-package or a folder of files (`name/`), several joined by `, `; the words after
them say what it is. Every module and sub-package of the folder is on its map, and everything the map names is in
the folder. Beyond the maps, a path into `bot/` or `agents/` written in any docstring of the project names a file or
folder that exists.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.source import ROOT, statements

PACKAGES = (ROOT / "bot", ROOT / "agents" / "agent_approvals")
NAME = r"\w+(?:\.py|/)"
MAP_LINE = re.compile(rf"^ {{4}}({NAME}(?:, {NAME})*)(?:\s|$)")
# bot/store/lua/decide.lua, agents/agent_approvals/receipts.py, agent_approvals/receipts.py, bot/slackapp/
PATH = re.compile(r"(?<![\w./-])((?:bot|agents|agent_approvals)/[\w./]*[\w/])")


def packages() -> Iterator[Path]:
    """Every package folder under bot/ and agents/agent_approvals/, the top ones included."""
    for top in PACKAGES:
        yield from sorted(init.parent for init in top.rglob("__init__.py") if "__pycache__" not in init.parts)


def map_of(docstring: str) -> set[str]:
    """The names a package's docstring map gives (`x.py`, `y/`)."""
    return {name for line in docstring.splitlines() if (m := MAP_LINE.match(line)) for name in m[1].split(", ")}


def held_by(folder: Path) -> set[str]:
    """What a map must name: the folder's modules but `__init__.py`, and its sub-packages."""
    modules = {p.name for p in folder.glob("*.py") if p.name != "__init__.py"}
    return modules | {f"{p.name}/" for p in folder.iterdir() if (p / "__init__.py").is_file()}


def mismatch(folder: Path, docstring: str) -> dict[str, list[str]]:
    """What the folder holds and its map omits, and what the map names and the folder does not hold."""
    named = map_of(docstring)
    absent = [n for n in named if not ((folder / n[:-1]).is_dir() if n.endswith("/") else (folder / n).is_file())]
    return {k: sorted(v) for k, v in (("not on the map", held_by(folder) - named), ("not there", absent)) if v}


def docstring_of(path: Path) -> str:
    """A module's docstring as written (not cleaned: its indents are the map's)."""
    return ast.get_docstring(ast.parse(path.read_text()), clean=False) or ""


def test_every_package_has_a_map_that_matches_its_folder() -> None:
    wrong = {
        str(folder.relative_to(ROOT)): found
        for folder in packages()
        if (found := mismatch(folder, docstring_of(folder / "__init__.py")))
    }
    assert wrong == {}


def paths_in(text: str) -> set[str]:
    return set(PATH.findall(text))


def missing_paths(text: str) -> list[str]:
    """The paths into bot/ or agents/ that `text` names and that do not exist (`agent_approvals/...` is under
    agents/)."""
    def exists(path: str) -> bool:
        return (ROOT / ("agents/" + path if path.startswith("agent_approvals/") else path)).exists()

    return sorted(p for p in paths_in(text) if not exists(p))


def docstrings(path: Path) -> Iterator[str]:
    for node in statements(ast.parse(path.read_text())):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
            if text := ast.get_docstring(node):
                yield text


@pytest.mark.slow  # over 0.5 s of CPU (docs/contributors/tests.md)
def test_every_path_a_docstring_names_exists() -> None:
    wrong = {
        str(path.relative_to(ROOT)): found
        for top in PACKAGES
        for path in sorted(top.rglob("*.py"))
        if (found := sorted({p for text in docstrings(path) for p in missing_paths(text)}))
    }
    assert wrong == {}


def test_the_check_can_fail(tmp_path: Path) -> None:
    """A map that omits a module, names one that is gone, or misses a sub-package is caught; so is a dead path."""
    (tmp_path / "kept.py").write_text("")
    (tmp_path / "forgotten.py").write_text("")
    (tmp_path / "__init__.py").write_text("")
    (tmp_path / "inner").mkdir()
    (tmp_path / "inner" / "__init__.py").write_text("")
    (tmp_path / "data").mkdir()
    stale = "A package.\n\n    kept.py     here\n    gone.py, data/   moved away; data files\n    >>> 1\n"
    assert map_of(stale) == {"kept.py", "gone.py", "data/"}
    assert mismatch(tmp_path, stale) == {"not on the map": ["forgotten.py", "inner/"], "not there": ["gone.py"]}
    true = "A package.\n\n    kept.py, forgotten.py   both\n    inner/      a sub-package\n      continued.py\n"
    assert mismatch(tmp_path, true) == {}
    assert mismatch(tmp_path, "No map at all, though inner.py is named in prose.") == {
        "not on the map": ["forgotten.py", "inner/", "kept.py"]
    }
    assert missing_paths("see bot/core/signing_cli.py, (bot/core/signing.py) and `agent_approvals/nowhere.py`") == [
        "agent_approvals/nowhere.py", "bot/core/signing_cli.py"
    ]
    assert missing_paths("bot/store/lua/lib/decide.lua, bot/slackapp/ and agent_approvals/receipts.py.") == []

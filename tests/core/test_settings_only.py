"""The environment is read in one place: no module of `bot` but the settings modules (settings.py, environment.py)
touches `os.environ` or `os.getenv` (or their kin); every other module is given its settings (`Settings`,
`StoreSettings`, `NamingSettings`, `DevSettings`). Read from the source (`ast`), so a lazy read inside a function
counts."""

from __future__ import annotations

import ast

import pytest

from tests.support.source import modules

SETTINGS_MODULES = {"bot.core.settings", "bot.core.environment"}
ENVIRONMENT = {"environ", "environb", "getenv", "getenvb", "putenv", "unsetenv"}  # of `os` (and `posix`)


def environment_reads(source: str) -> list[str]:
    """Where `source` reaches the process environment: `os.environ`, `os.getenv(...)`, `from os import environ`,
    through any alias of `os`; each as `line N: what`."""
    tree = ast.parse(source)
    aliases = {"os", "posix"}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            aliases.update(a.asname or a.name for a in node.names if a.name in ("os", "posix"))
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in ("os", "posix"):
            found += [f"line {node.lineno}: from {node.module} import {a.name}" for a in node.names
                      if a.name in ENVIRONMENT]
        elif (isinstance(node, ast.Attribute) and node.attr in ENVIRONMENT and isinstance(node.value, ast.Name)
              and node.value.id in aliases):
            found.append(f"line {node.lineno}: {node.value.id}.{node.attr}")
    return found


@pytest.mark.slow  # more than 1 s of CPU on its own (tests/support/slow.py)
def test_only_the_settings_module_reads_the_environment() -> None:
    wrong = {
        name: reads
        for name, path in modules()
        if name.startswith("bot") and name not in SETTINGS_MODULES and (reads := environment_reads(path.read_text()))
    }
    assert wrong == {}


def test_the_settings_module_is_where_it_is_read() -> None:
    """The check sees reads where there are some (so a green run means something)."""
    found = {name: environment_reads(path.read_text()) for name, path in modules() if name in SETTINGS_MODULES}
    assert all(found.values()) and set(found) == SETTINGS_MODULES


def test_the_check_can_fail() -> None:
    assert environment_reads("import os\nos.environ.get('X')") == ["line 2: os.environ"]
    assert environment_reads("import os as o\ndef f():\n    return o.getenv('X')") == ["line 3: o.getenv"]
    assert environment_reads("from os import environ as e") == ["line 1: from os import environ"]
    assert environment_reads("import os\nos.environ['X'] = '1'\nos.environ.pop('X')") == [
        "line 2: os.environ", "line 3: os.environ"
    ]
    assert environment_reads("import os\nos.path.join('a')\nenviron = {}\nenviron.get('X')") == []

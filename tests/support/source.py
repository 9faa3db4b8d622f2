"""The project's own modules and what each imports, read from the source (`ast`)."""

from __future__ import annotations

import ast
import functools
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def modules() -> Iterator[tuple[str, Path]]:
    for base, top in ((ROOT, "bot"), (ROOT / "agents", "agent_approvals")):
        for path in sorted((base / top).rglob("*.py")):
            parts = list(path.relative_to(base).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            yield ".".join(parts), path


def ours(name: str) -> bool:
    return name in ("bot", "agent_approvals") or name.startswith(("bot.", "agent_approvals."))


def imports(name: str, path: Path, *, run_time: bool = False) -> set[str]:
    """The modules of ours `name` imports, at its top or inside a function (a lazy import); `run_time`: only
    those it can import when it runs (not the ones under `if TYPE_CHECKING:`, which only a type checker reads).
    Read once per content (size and time) in a test process: the layout tests ask about every module often."""
    stat = path.stat()
    return set(_imports(name, path, run_time, (stat.st_mtime_ns, stat.st_size)))


@functools.cache
def _imports(name: str, path: Path, run_time: bool, stamp: tuple[int, int]) -> frozenset[str]:
    tree = ast.parse(path.read_text(), str(path))
    nodes = list(_run_time_nodes(tree)) if run_time else list(statements(tree))
    found: set[str] = set()
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in nodes:
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if ours(alias.name))
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            if ours(base):
                found.add(base)
                # `from bot.slackapp import listeners` imports a module too
                found.update(f"{base}.{alias.name}" for alias in node.names if is_module(f"{base}.{alias.name}"))
    return frozenset(found)


BODIES = ("body", "orelse", "finalbody", "handlers", "cases")  # where statements hold statements


def statements(node: ast.AST) -> Iterator[ast.AST]:
    """`node` and every statement below it, at any depth (in bodies, branches, handlers and cases), and no expression:
    all an import, a definition or a docstring can be, at a tenth of what `ast.walk` visits (the layout tests read
    every module's imports, and the maps every docstring, in each test process)."""
    yield node
    for field in BODIES:
        for child in getattr(node, field, ()):
            if isinstance(child, ast.stmt | ast.excepthandler | ast.match_case):
                yield from statements(child)


def _run_time_nodes(node: ast.AST) -> Iterator[ast.AST]:
    """`node` and the statements below it, but what an `if TYPE_CHECKING:` block holds (its `else:` does run)."""
    yield node
    for field in BODIES:
        for child in getattr(node, field, ()):
            if isinstance(child, ast.If) and _type_checking(child.test):
                for stmt in child.orelse:
                    yield from _run_time_nodes(stmt)
            elif isinstance(child, ast.stmt | ast.excepthandler | ast.match_case):
                yield from _run_time_nodes(child)


def _type_checking(test: ast.expr) -> bool:
    """Whether `test` is `TYPE_CHECKING` or `typing.TYPE_CHECKING`."""
    return ((isinstance(test, ast.Name) and test.id == "TYPE_CHECKING")
            or (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"))


def is_module(name: str) -> bool:
    path = (ROOT / "agents" if name.startswith("agent_approvals") else ROOT).joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()

"""The project's own modules and what each imports, read from the source (`ast`)."""

from __future__ import annotations

import ast
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


def imports(name: str, path: Path, *, top_level_only: bool = False) -> set[str]:
    """The modules of ours `name` imports: all of them, or those it imports when it is loaded or run
    (`top_level_only`: its top level, and its `if __name__ == "__main__":` block)."""
    tree = ast.parse(path.read_text(), str(path))
    if top_level_only:
        nodes = [*tree.body, *(node for stmt in tree.body if _runs_as_main(stmt) for node in ast.walk(stmt))]
    else:
        nodes = list(ast.walk(tree))
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
    return found


def _runs_as_main(stmt: ast.stmt) -> bool:
    """Whether `stmt` is `if __name__ == "__main__":`."""
    test = stmt.test if isinstance(stmt, ast.If) else None
    return (isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and test.left.id == "__name__"
            and len(test.comparators) == 1 and isinstance(test.comparators[0], ast.Constant)
            and test.comparators[0].value == "__main__")


def is_module(name: str) -> bool:
    path = (ROOT / "agents" if name.startswith("agent_approvals") else ROOT).joinpath(*name.split("."))
    return path.with_suffix(".py").exists() or (path / "__init__.py").exists()

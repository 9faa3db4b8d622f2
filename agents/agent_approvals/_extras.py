"""An integration whose framework is not installed says which extra brings it (as pydantic-ai's models do)."""

from __future__ import annotations


def missing_extra(module: str, extra: str, exc: ImportError) -> ImportError:
    """The ImportError to raise from `module` when its framework (`exc.name`) is missing."""
    return ImportError(
        f"{module} needs {exc.name or 'its framework'}, which is not installed: "
        f'pip install "agent-approvals[{extra}]"',
        name=exc.name,
    )

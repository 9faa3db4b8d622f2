"""A module imported when first used: `with_langgraph = lazy("agent_approvals.integrations.langgraph")` at a test
module's top costs nothing until a test reads `with_langgraph.invoke_with_approvals`.

Every test process imports every test module to collect it (xdist's workers each collect the whole suite), so a
framework imported at a module's top costs each of them its seconds of CPU, though one process runs its tests: the
fast loop's budget (docs/contributors/tests.md). `tests/test_fast_loop.py` checks that collecting imports none."""

from __future__ import annotations

import importlib
from typing import Any


class LazyModule:
    """Stands for the module `name`, imported at the first read of a public attribute (then as the module itself).
    Private and dunder names are not forwarded: pytest's collection probes every object of a test module
    (`__test__`, `_pytestfixturefunction`...), and such a probe must not import the module."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, attribute: str) -> Any:
        if attribute.startswith("_"):
            raise AttributeError(attribute)
        return getattr(importlib.import_module(self._name), attribute)

    def __repr__(self) -> str:
        return f"<lazy module {self._name!r}>"


def lazy(name: str) -> Any:
    """The module `name`, imported when a test first uses it."""
    return LazyModule(name)

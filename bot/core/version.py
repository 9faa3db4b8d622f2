"""The project's one version: the bot's (`bot.__version__`), the agent package's, the npm package's and both
pyproject.toml's (tests/test_version.py checks they agree; CHANGELOG.md; docs/operators/upgrades.md)."""

from __future__ import annotations

__version__ = "0.1.0"

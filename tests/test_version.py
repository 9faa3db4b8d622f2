"""The project's one version (docs/operators/upgrades.md): the bot's, the agent package's, the npm package's and
pyproject's agree, and CHANGELOG.md starts with its Unreleased section."""

from __future__ import annotations

import json
import re
import tomllib

import agent_approvals

import bot
from tests.support.source import ROOT


def test_every_package_says_the_same_version() -> None:
    versions = {
        "pyproject.toml": tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"],
        "agents/pyproject.toml": tomllib.loads((ROOT / "agents/pyproject.toml").read_text())["project"]["version"],
        "agents/typescript/package.json": json.loads((ROOT / "agents/typescript/package.json").read_text())["version"],
        "bot.__version__": bot.__version__,
        "agent_approvals.__version__": agent_approvals.__version__,
        "agents/typescript/src/wire.ts VERSION": re.findall(r'^export const VERSION = "([^"]+)";$',
                                                            (ROOT / "agents/typescript/src/wire.ts").read_text(),
                                                            flags=re.MULTILINE)[0],
    }
    assert set(versions.values()) == {bot.__version__}, versions


def test_the_changelog_starts_with_unreleased_and_names_no_version_above_this_one() -> None:
    headings = re.findall(r"^## \[([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(), flags=re.MULTILINE)
    assert headings[:1] == ["Unreleased"], headings
    released = [tuple(int(n) for n in heading.split(" ")[0].split(".")) for heading in headings[1:]]
    assert all(v <= tuple(int(n) for n in bot.__version__.split(".")) for v in released), headings

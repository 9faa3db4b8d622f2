"""The project's one version (docs/operators/upgrades.md): the bot's, the agent package's, the npm package's and
pyproject's agree, and CHANGELOG.md starts with its Unreleased section."""

from __future__ import annotations

import json
import re
import tomllib
from pathlib import Path

import agent_approvals
import pytest
from prometheus_client import generate_latest

import bot
from bot.__main__ import main
from bot.core.metrics import Metrics
from bot.core.version import COMMIT_FILE, build_commit, described, is_development, npm_form, parts, release_of
from tests.support.source import ROOT


def test_every_package_says_the_same_version() -> None:
    """The Python packages' form (PEP 440: X.Y.Z, X.Y.Z.devN between releases) and npm's (semver: X.Y.Z-dev.N)."""
    python = {
        "pyproject.toml": tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"],
        "agents/pyproject.toml": tomllib.loads((ROOT / "agents/pyproject.toml").read_text())["project"]["version"],
        "bot.__version__": bot.__version__,
        "agent_approvals.__version__": agent_approvals.__version__,
    }
    npm = {
        "agents/typescript/package.json": json.loads((ROOT / "agents/typescript/package.json").read_text())["version"],
        "agents/typescript/src/wire.ts VERSION": re.findall(r'^export const VERSION = "([^"]+)";$',
                                                            (ROOT / "agents/typescript/src/wire.ts").read_text(),
                                                            flags=re.MULTILINE)[0],
    }
    assert set(python.values()) == {bot.__version__}, python
    assert set(npm.values()) == {npm_form(bot.__version__)}, npm


@pytest.mark.parametrize(("version", "npm", "release", "development"), [
    ("0.9.0", "0.9.0", "0.9.0", False), ("0.9.0.dev0", "0.9.0-dev.0", "0.9.0", True),
    ("1.10.2.dev3", "1.10.2-dev.3", "1.10.2", True)])
def test_a_version_in_each_form(version: str, npm: str, release: str, development: bool) -> None:
    assert (npm_form(version), release_of(version), is_development(version)) == (npm, release, development)


def test_a_development_version_comes_before_its_release_and_after_the_one_before() -> None:
    assert parts("0.8.0") < parts("0.9.0.dev0") < parts("0.9.0.dev1") < parts("0.9.0") < parts("0.10.0.dev0")
    for bad in ("0.9", "v0.9.0", "0.9.0-dev.0", "0.9.0rc1", "09.0.0"):
        with pytest.raises(ValueError, match="no version"):
            parts(bad)


def test_the_changelog_starts_with_unreleased_and_names_no_version_above_this_one() -> None:
    headings = re.findall(r"^## \[([^\]]+)\]", (ROOT / "CHANGELOG.md").read_text(), flags=re.MULTILINE)
    assert headings[:1] == ["Unreleased"], headings
    assert all(parts(heading.split(" ")[0]) < parts(bot.__version__) or heading.split(" ")[0] == bot.__version__
               for heading in headings[1:]), headings


def test_python_m_bot_version_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    """A release's version alone; a development build's says it is one (main between releases)."""
    with pytest.raises(SystemExit) as ended:
        main(["--version"], environ={})
    assert ended.value.code == 0
    assert capsys.readouterr().out == f"slack-agent-approvals {described(bot.__version__)}\n"
    assert described("0.9.0") == "0.9.0" and described("0.9.0.dev0").endswith("(a development build, not a release)")


def test_the_build_commit_comes_from_the_file_written_at_build_time_else_unknown(tmp_path: Path) -> None:
    written = tmp_path / "BUILD_COMMIT"
    assert build_commit(written) == "unknown"  # a clone: nothing asks git at run time
    written.write_text("0123abc\n")
    assert build_commit(written) == "0123abc"  # a release's wheel (scripts/release.py writes the file)
    written.write_text("\n")
    assert build_commit(written) == "unknown"
    assert not COMMIT_FILE.exists(), "bot/core/BUILD_COMMIT is written into a release's wheel only, never left"


def test_hitl_build_info_names_the_version_and_commit() -> None:
    lines = generate_latest(Metrics(commit="0123abc").registry).decode().splitlines()
    assert f'hitl_build_info{{commit="0123abc",version="{bot.__version__}"}} 1.0' in lines, lines


def test_each_release_in_the_changelog_is_dated_and_names_its_upgrade_notes() -> None:
    """Keep a Changelog's form: `## [X.Y.Z] - YYYY-MM-DD` per release (scripts/release.py writes it), each with its
    `### Upgrade notes` (the stored format, which versions serve one Redis side by side); Unreleased has them too
    while it holds changes, as the release script refuses a release without them."""
    text = (ROOT / "CHANGELOG.md").read_text()
    sections = re.split(r"^(?=## \[)", text, flags=re.MULTILINE)[1:]
    for section in sections:
        heading = section.splitlines()[0]
        if heading == "## [Unreleased]" and "\n### " not in section:
            continue  # just after a release: nothing yet
        assert heading == "## [Unreleased]" or re.fullmatch(r"## \[\d+\.\d+\.\d+\] - \d{4}-\d\d-\d\d", heading), heading
        assert "\n### Upgrade notes\n" in section, heading

"""scripts/release.py's own steps, on a copy of the repository's versioned files: the bump writes the new version in
every place tests/test_version.py reads, CHANGELOG.md's Unreleased becomes the release's section, a release without
upgrade notes or a version not after the current one is refused, and SHA256SUMS is what `sha256sum -c` reads."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path
from types import ModuleType

import pytest

from tests.support.source import ROOT


def load_release() -> ModuleType:
    spec = importlib.util.spec_from_file_location("release", ROOT / "scripts" / "release.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


release = load_release()


PENDING = "### Upgrade notes\n- Stored format 2, as before.\n\n### Added\n- Something new.\n"


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The versioned files and the changelog, copied; the changelog's Unreleased given something to release (the
    repository's own may be empty, just after a release)."""
    for name in [*release.VERSIONED, *release.NPM_JSON, "CHANGELOG.md"]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, tmp_path / name)
    changelog = tmp_path / "CHANGELOG.md"
    text = changelog.read_text()
    head, rest = text.split("## [Unreleased]\n", 1)
    after = rest.split("\n## [", 1)
    changelog.write_text(head + "## [Unreleased]\n\n" + PENDING + ("\n## [" + after[1] if len(after) > 1 else ""))
    return tmp_path


def versions(root: Path) -> dict[str, str]:
    """Every version tests/test_version.py compares, read from `root` (npm's in its form)."""
    found = {name: re.search(pattern, (root / name).read_text(), re.M).group(2)  # type: ignore[union-attr]
             for name, pattern in release.VERSIONED.items()}
    found["pyproject.toml"] = tomllib.loads((root / "pyproject.toml").read_text())["project"]["version"]
    found["agents/pyproject.toml"] = tomllib.loads((root / "agents/pyproject.toml").read_text())["project"]["version"]
    package = json.loads((root / "agents/typescript/package.json").read_text())
    lock = json.loads((root / "agents/typescript/package-lock.json").read_text())
    found["package.json"], found["package-lock.json"] = package["version"], lock["packages"][""]["version"]
    suite = json.loads((root / "tests/agents/typescript/project/package-lock.json").read_text())
    found["the suite's link"] = suite["packages"]["../../../../agents/typescript"]["version"]
    return found


NPM_WRITTEN = {"agents/typescript/src/wire.ts", "package.json", "package-lock.json", "the suite's link"}
RELEASES_ONLY = {"deploy/kubernetes/kustomization.yaml"}


def written(root: Path) -> tuple[set[str], set[str], set[str]]:
    """The versions `root` says: the Python packages', npm's, the manifests' image tag."""
    found = versions(root)
    return ({v for k, v in found.items() if k not in NPM_WRITTEN | RELEASES_ONLY},
            {v for k, v in found.items() if k in NPM_WRITTEN}, {v for k, v in found.items() if k in RELEASES_ONLY})


def test_the_bump_writes_the_version_everywhere_in_each_form(copy: Path) -> None:
    """A release's everywhere; a development version's in npm's form where npm reads it, and not in the manifests'
    image tag, which keeps naming the last release (what one deploys)."""
    now = release.current_version()
    assert written(copy)[:2] == ({now}, {release.VERSIONS.npm_form(now)})
    release.bump("7.8.9", root=copy)
    assert written(copy) == ({"7.8.9"}, {"7.8.9"}, {"7.8.9"}), versions(copy)
    release.bump("7.9.0.dev0", root=copy)
    assert written(copy) == ({"7.9.0.dev0"}, {"7.9.0-dev.0"}, {"7.8.9"}), versions(copy)
    assert written(ROOT)[0] == {now}  # the repository's own untouched


@pytest.mark.slow  # the script and git, run
def test_a_release_is_one_commit_then_the_next_development_version_another(copy: Path) -> None:
    """`release.py X.Y.Z` (in a repository of the versioned files): "Release X.Y.Z", tagged, says X.Y.Z everywhere;
    the commit after it says X.(Y+1).0.dev0 (npm: X.(Y+1).0-dev.0), the manifests still the release."""
    (copy / "scripts").mkdir()
    shutil.copy2(ROOT / "scripts" / "release.py", copy / "scripts" / "release.py")
    git = ("git", "-c", "user.name=release test", "-c", "user.email=release@example.com")
    for command in (("init", "-q"), ("add", "-A"), ("commit", "-q", "-m", "before")):
        subprocess.run([*git, *command], cwd=copy, check=True, capture_output=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t",
           "GIT_COMMITTER_EMAIL": "t@example.com"}
    done = subprocess.run([sys.executable, "scripts/release.py", "7.8.9", "--no-build", "--date", "2026-11-28"],
                          cwd=copy, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    log = subprocess.run(["git", "log", "--format=%s", "-3"], cwd=copy, capture_output=True, text=True, check=True)
    assert log.stdout.splitlines() == ["Begin 7.9.0.dev0 (after the release 7.8.9)", "Release 7.8.9", "before"]
    assert written(copy) == ({"7.9.0.dev0"}, {"7.9.0-dev.0"}, {"7.8.9"}), versions(copy)
    subprocess.run(["git", "checkout", "-q", "v7.8.9"], cwd=copy, check=True)
    assert written(copy) == ({"7.8.9"}, {"7.8.9"}, {"7.8.9"}), versions(copy)
    assert "## [7.8.9] - 2026-11-28" in (copy / "CHANGELOG.md").read_text()


def test_unreleased_becomes_the_releases_section_under_a_new_empty_one(copy: Path) -> None:
    before = (copy / "CHANGELOG.md").read_text()
    unreleased = before[before.index("## [Unreleased]\n") + 16:].split("\n## [", 1)[0].strip()
    release.move_unreleased("7.8.9", "2026-11-27", root=copy)
    after = (copy / "CHANGELOG.md").read_text()
    headings = re.findall(r"^## .*$", after, re.M)
    assert headings[:2] == ["## [Unreleased]", "## [7.8.9] - 2026-11-27"], headings
    section = after.split("## [7.8.9] - 2026-11-27\n", 1)[1].split("\n## [", 1)[0].strip()
    assert section == unreleased and "### Upgrade notes" in section
    with pytest.raises(release.ReleaseError, match="empty: nothing to release"):
        release.move_unreleased("7.8.10", "2026-11-28", root=copy)  # the new Unreleased has nothing yet


def test_a_release_without_upgrade_notes_is_refused(copy: Path) -> None:
    path = copy / "CHANGELOG.md"
    path.write_text(path.read_text().replace("### Upgrade notes", "### Notes", 1))
    with pytest.raises(release.ReleaseError, match="no '### Upgrade notes'"):
        release.move_unreleased("7.8.9", "2026-11-27", root=copy)
    assert "## [7.8.9]" not in path.read_text()


@pytest.mark.parametrize("given", ["0.0.1", release.current_version(), "v9.0.0", "9.0", "09.0.0", "9.0.0-rc1",
                                   "9.0.0.dev0", "0.8.0"])
def test_a_version_not_after_the_current_one_or_not_semver_is_refused(given: str) -> None:
    with pytest.raises(release.ReleaseError):
        release.cut(given, date="2026-11-27", git=False)


def test_sha256sums_lists_every_artefact_as_sha256sum_reads_it(tmp_path: Path) -> None:
    (tmp_path / "a.whl").write_bytes(b"wheel")
    (tmp_path / "b.tgz").write_bytes(b"tarball")
    lines = release.checksums(tmp_path).read_text().splitlines()
    assert lines == [f"{hashlib.sha256(b'wheel').hexdigest()}  a.whl",
                     f"{hashlib.sha256(b'tarball').hexdigest()}  b.tgz"]


def test_the_npm_sboms_tool_is_the_releases_own_and_the_package_installs_nothing_built_from_sources() -> None:
    """cyclonedx-npm, whose optional XML validator (libxmljs2) npm builds from its sources (minutes of CPU), is in
    the release's own npm project (scripts/sbom, one exact version: the same SBOM each time), not in the package's
    devDependencies, which every contributor's and every fresh clone's `npm install` of the package installs."""
    package = json.loads((ROOT / "agents/typescript/package.json").read_text())
    locked = json.loads((ROOT / "agents/typescript/package-lock.json").read_text())["packages"]
    built = sorted(name for name, entry in locked.items() if entry.get("hasInstallScript"))
    assert built == [], f"the package's npm install runs these packages' install scripts: {built}"
    assert "@cyclonedx/cyclonedx-npm" not in {**package.get("dependencies", {}), **package["devDependencies"]}
    tool = json.loads((release.SBOM_TOOL / "package.json").read_text())["devDependencies"]["@cyclonedx/cyclonedx-npm"]
    assert re.fullmatch(r"\d+\.\d+\.\d+", tool), tool
    tool_lock = json.loads((release.SBOM_TOOL / "package-lock.json").read_text())["packages"]
    assert tool_lock["node_modules/@cyclonedx/cyclonedx-npm"]["version"] == tool

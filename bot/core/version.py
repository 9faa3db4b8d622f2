"""The project's one version: the bot's (`bot.__version__`), the agent package's, the npm package's and both
pyproject.toml's (tests/test_version.py checks they agree; `scripts/release.py` changes them all; CHANGELOG.md;
docs/operators/upgrades.md), and the commit it was built from (`build_commit`, for `hitl_build_info`).

A release is `X.Y.Z`; between releases `main` says the next one's development version, `X.Y.Z.devN` (PEP 440: the
Python packages'), written `X.Y.Z-dev.N` where npm wants semver (the npm package's, `npm_form`)."""

from __future__ import annotations

import re
from pathlib import Path

__version__ = "0.9.0.dev0"

# a release X.Y.Z, or a development version X.Y.Z.devN before it (scripts/release.py writes nothing else)
VERSION_FORM = re.compile(r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:\.dev(0|[1-9]\d*))?$")

# written at build time (scripts/release.py, before `python -m build`; an image's build the same way), never committed
COMMIT_FILE = Path(__file__).with_name("BUILD_COMMIT")


def build_commit(file: Path = COMMIT_FILE) -> str:
    """The commit this worker was built from: what the `BUILD_COMMIT` file a release's wheel carries says, else
    "unknown" (a clone: nothing runs git at run time)."""
    try:
        written = file.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return "unknown"
    return written[:40] or "unknown"


def parts(version: str) -> tuple[int, int, int, int, int]:
    """`version`'s order: (major, minor, patch, 1 for a release or 0 for a development version, N of .devN), so that
    X.Y.Z.devN sorts before X.Y.Z. ValueError for another form."""
    found = VERSION_FORM.match(version)
    if found is None:
        raise ValueError(f"{version!r} is no version X.Y.Z or X.Y.Z.devN")
    major, minor, patch, dev = found.groups()
    return int(major), int(minor), int(patch), 0 if dev is not None else 1, int(dev or 0)


def is_development(version: str = __version__) -> bool:
    """Whether `version` is a development build's (X.Y.Z.devN: `main` between releases), not a release's."""
    return parts(version)[3] == 0


def release_of(version: str = __version__) -> str:
    """The release `version` is or leads to: X.Y.Z (where only a release's form is taken: the Teams manifest)."""
    return ".".join(str(part) for part in parts(version)[:3])


def npm_form(version: str = __version__) -> str:
    """`version` as npm writes it (semver): X.Y.Z, or X.Y.Z-dev.N for X.Y.Z.devN."""
    major, minor, patch, released, dev = parts(version)
    return f"{major}.{minor}.{patch}" if released else f"{major}.{minor}.{patch}-dev.{dev}"


def described(version: str = __version__) -> str:
    """What `python -m bot --version` says after the package's name."""
    return f"{version} (a development build, not a release)" if is_development(version) else version

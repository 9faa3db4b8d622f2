"""The project's one version: the bot's (`bot.__version__`), the agent package's, the npm package's and both
pyproject.toml's (tests/test_version.py checks they agree; `scripts/release.py` changes them all; CHANGELOG.md;
docs/operators/upgrades.md), and the commit it was built from (`build_commit`, for `hitl_build_info`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

__version__ = "0.1.0"

COMMIT_VARIABLE = "BOT_COMMIT"  # set by an image's build (the Dockerfile's ARG), it wins over the file
COMMIT_FILE = Path(__file__).with_name("BUILD_COMMIT")  # written by scripts/release.py into the wheel, never committed


def build_commit(environ: Mapping[str, str] | None = None, *, file: Path = COMMIT_FILE) -> str:
    """The commit this worker was built from: `BOT_COMMIT` when set, else the `BUILD_COMMIT` file a release's wheel
    carries, else "unknown" (a clone: nothing runs git at run time)."""
    given = (os.environ if environ is None else environ).get(COMMIT_VARIABLE, "").strip()
    if given:
        return given[:40]
    try:
        written = file.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError):
        return "unknown"
    return written[:40] or "unknown"

"""The project's one version: the bot's (`bot.__version__`), the agent package's, the npm package's and both
pyproject.toml's (tests/test_version.py checks they agree; `scripts/release.py` changes them all; CHANGELOG.md;
docs/operators/upgrades.md), and the commit it was built from (`build_commit`, for `hitl_build_info`)."""

from __future__ import annotations

from pathlib import Path

__version__ = "0.8.0"

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

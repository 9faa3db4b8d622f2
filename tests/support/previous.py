"""A previous commit's tree, from this clone's history (`git archive`): what the rolling upgrade and the move tests
run as a worker of the release before."""

from __future__ import annotations

import io
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.support.source import ROOT

PREVIOUS_COMMIT = "0ed12e0115bb87bcce490e1ee792e1725ece805c"  # main before versions (the last commit without them)


def previous_tree(into: Path, *, commit: str = PREVIOUS_COMMIT) -> Path:
    """The previous version's files (`commit`'s), from this clone's history. A clone without that commit fails the
    test (CI clones the whole history): never a skip."""
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", "--format=tar", commit],
                                 capture_output=True, check=True, timeout=120).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        stderr = getattr(exc, "stderr", b"") or b""
        pytest.fail(f"the rolling upgrade test needs commit {commit} in this clone's history (git clone"
                    f" without --depth, or git fetch --unshallow): {stderr.decode(errors='replace').strip() or exc}")
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        tar.extractall(into, filter="data")
    return into

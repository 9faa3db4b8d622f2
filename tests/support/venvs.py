"""Fresh venvs for the tests that install packages as a user does (tests/agents/test_packaging.py,
tests/release/test_dist.py): each a copy of one venv made once per test run (`python -m venv`, its own pip, nothing
else installed), which costs a copy (milliseconds) instead of `ensurepip` installing and compiling pip again (5 s of
CPU a venv). A copy is that venv as it was made: the interpreter a link to this Python, pip in its site-packages; run
its pip as `<venv>/bin/python -m pip` (the scripts in the copy's bin/ name the original's path). With xdist, the
first test process to ask makes it in the run's shared folder while the others wait on its lock."""

from __future__ import annotations

import fcntl
import shutil
import sys
import venv
from pathlib import Path

import pytest

# what the installs skip: compiling each installed module to .pyc up front (a third of pip's CPU over a framework's
# thousands of files; Python compiles what it imports anyway). What is installed, and from where, is unchanged.
NO_COMPILE = "--no-compile"


def shared_folder(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """The folder the test processes of this run share (this process's own without xdist)."""
    return tmp_path_factory.getbasetemp() if worker_id == "master" else tmp_path_factory.getbasetemp().parent


def python_of(where: Path) -> Path:
    return where / ("Scripts" if sys.platform == "win32" else "bin") / "python"


def fresh_venv(shared: Path, where: Path) -> Path:
    """A new venv at `where` (its own pip, nothing else), copied from the run's template in `shared`: its python."""
    template = shared / "venv-template"
    with (shared / "venv-template.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (template / "made").exists():
            shutil.rmtree(template, ignore_errors=True)
            venv.create(template / "venv", with_pip=True)
            (template / "made").touch()
    shutil.copytree(template / "venv", where, symlinks=True)
    return python_of(where)

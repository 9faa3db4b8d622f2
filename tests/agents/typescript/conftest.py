"""The package's dist/ (agents/typescript/dist, built in place: build.mjs removes it first) and the suite's project's,
built once per test session with every adapter (`tests.support.typescript.build`): with xdist, the first test process
to need them builds them while the others wait on its lock, and none rebuilds them under another's node (a rebuild
removed dist/src/index.js while the package's tests ran in another process)."""

from __future__ import annotations

import fcntl

import pytest

from tests.support.typescript import build


@pytest.fixture(scope="session")
def typescript_built(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> None:
    if worker_id == "master":  # no xdist: this process alone
        build()
        return
    shared = tmp_path_factory.getbasetemp().parent
    with (shared / "typescript-built.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not (shared / "typescript-built").exists():
            build()
            (shared / "typescript-built").touch()

"""What tests/release/ shares: whether a server the test started answers yet."""

from __future__ import annotations

import subprocess

from tests.support.dev import http


def answers(server: subprocess.Popen[bytes], url: str) -> bool:
    """Whether `server` (still running: it fails at once when it ended) answers `url` with a 200."""
    assert server.poll() is None, f"{server.args} ended ({server.returncode})"
    try:
        return http("GET", url, timeout=5)[0] == 200
    except OSError:  # not listening yet
        return False

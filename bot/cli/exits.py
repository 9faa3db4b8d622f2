"""How an operator's command that cannot go on ends: `error: <what>` on stderr, and its exit code."""

from __future__ import annotations

import sys


def failed(message: str, code: int) -> int:
    """Say `message` as the command's error and give back its exit `code` (2: a bad argument, setting or file; 1: what
    was asked for is wrong or out of reach, e.g. Redis)."""
    print(f"error: {message}", file=sys.stderr)
    return code

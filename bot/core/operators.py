"""Who ran an operator's command (`python -m bot keys`, `freeze`, `audit export`...), as its audit entries name them:
`cli:<--as NAME>`, else `cli:<OS user>@<host>`; never "cli" alone."""

from __future__ import annotations

import argparse
import getpass
import re
import socket

CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
LONGEST = 80


def operator_name(given: str | None = None) -> str:
    """The audit log's `by` of a command run by `given` (`--as`; control characters dropped, 80 characters at most),
    else by the OS user at this host."""
    who = CONTROLS.sub("", given or "").strip()[:LONGEST]
    if not who:
        try:
            user = getpass.getuser()
        except (KeyError, OSError):  # no name for this uid (a container's)
            user = "uid-unknown"
        who = f"{user}@{socket.gethostname()}"[:LONGEST]
    return f"cli:{who}"


def add_as(parser: argparse.ArgumentParser) -> None:
    """The `--as NAME` argument every audited command takes."""
    parser.add_argument("--as", dest="who", default="", help="who runs it, for the audit log (default: user@host)")

"""Who ran an operator's command (`python -m bot keys`, `freeze`, `signing rotate`, `audit export`...), as its audit
entries name them: `by` is always `cli:<OS user>@<host>` (what the machine says, never "cli" alone), with `os_user`
and `host` apart, and the name given with `--as NAME` only as `claimed`: a claim the command cannot check, never
taken for a verified person (docs/operators/security.md).

Example:
    `op = operator_of(args.who); await store.audit.append("frozen", by=op.by, **op.fields())`
"""

from __future__ import annotations

import argparse
import getpass
import re
import socket
from dataclasses import dataclass

CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f]")
LONGEST = 80


@dataclass(frozen=True, slots=True)
class Operator:
    """Who ran a command: the OS user and host (always), and the name they claimed with `--as` ("" for none)."""

    os_user: str
    host: str
    claimed: str = ""

    @property
    def by(self) -> str:
        """The audit log's `by`: `cli:<OS user>@<host>`, whatever `--as` said."""
        return f"cli:{self.os_user}@{self.host}"[: len("cli:") + LONGEST]

    def fields(self) -> dict[str, str]:
        """What an audit entry records besides `by`: `os_user`, `host`, and `claimed` when `--as` was given."""
        return {"os_user": self.os_user, "host": self.host, **({"claimed": self.claimed} if self.claimed else {})}


def operator_of(given: str | None = None) -> Operator:
    """Who runs this command: the OS user at this host, and `given` (`--as`; control characters dropped, 80 characters
    at most) as a claim."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for this uid (a container's)
        user = "uid-unknown"
    return Operator(os_user=clean(user), host=clean(socket.gethostname()), claimed=clean(given or ""))


def clean(text: str) -> str:
    return CONTROLS.sub("", text).strip()[:LONGEST]


def operator_name(given: str | None = None) -> str:
    """The audit log's `by` of a command run here (`Operator.by`: the OS user at this host; `given`, the `--as` name,
    is recorded apart as a claim, `Operator.fields`)."""
    return operator_of(given).by


def add_as(parser: argparse.ArgumentParser) -> None:
    """The `--as NAME` argument every audited command takes."""
    parser.add_argument("--as", dest="who", default="", help="who you say you are, recorded as `claimed` beside the"
                        " OS user and host (a claim: not checked)")

"""`python -m bot <command> ...` run in this process: `bot.__main__.main` with its arguments and an explicit
environment, what it prints captured. The same parser and code as the process, without an interpreter's start (a
second or more each on a busy machine); each command keeps one test that runs it as a real process (marked slow)."""

from __future__ import annotations

import asyncio
import contextlib
import io
import threading
from collections.abc import Mapping
from dataclasses import dataclass

from bot.__main__ import main

ONE_AT_A_TIME = threading.Lock()  # standard output is the process's: two commands at once would mix what they print


@dataclass(frozen=True)
class Ran:
    """What a command did, read as a finished process reads (`subprocess.CompletedProcess`)."""

    returncode: int
    stdout: str
    stderr: str


def run_bot(*args: str, environ: Mapping[str, str]) -> Ran:
    """`python -m bot *args` with `environ` as its whole environment. A usage error (argparse's exit 2) is an exit
    code too."""
    out, err = io.StringIO(), io.StringIO()
    with ONE_AT_A_TIME, contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            code = main(list(args), environ=dict(environ))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
    return Ran(returncode=code, stdout=out.getvalue(), stderr=err.getvalue())


async def bot_command(*args: str, environ: Mapping[str, str]) -> Ran:
    """`run_bot` from a test's event loop: in a thread, since a command runs an event loop of its own."""
    return await asyncio.to_thread(run_bot, *args, environ=environ)

"""How run_all.py starts the benchmark scripts: a process each, or (`--small`) forked from one that imported once.

A script's own work at its small size is a few seconds; importing the bot and what `common.py` brings (about 2.5 s
of CPU) and tearing the interpreter down again (0.6 s) cost as much. `run_forked` imports that once in run_all's
process (`preload`), then forks a child per script that runs it as `python <script> <args>` would
(`runpy.run_path` as `__main__`, its output to its log) and leaves with `os._exit`. Its helper processes are started
as before (each its own interpreter). Full-size runs keep a fresh interpreter per script (`run_process`), so no
figure of theirs is measured in a process that inherited another's memory.

Both report each script's exit code, wall seconds and CPU seconds (user + system, its reaped helpers included:
`wait4`'s resource usage), the last a figure the machine's other load changes less than the wall time.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import runpy
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import NoReturn

REPO = Path(__file__).resolve().parents[2]
PRELOAD = ("tests.benchmarks.common", "tests.benchmarks.procs")  # what almost every script imports first


@dataclass(frozen=True, slots=True)
class Ran:
    name: str
    code: int
    seconds: float
    cpu_seconds: float


def run_process(name: str, cmd: Sequence[str], log: Path) -> Ran:
    """`cmd` in a process of its own (output to `log`), waited for with its resource usage."""
    started = time.perf_counter()
    with log.open("w") as out:
        process = subprocess.Popen(list(cmd), cwd=REPO, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
        process.returncode = os.waitstatus_to_exitcode(status)
    return Ran(name, process.returncode, time.perf_counter() - started, usage.ru_utime + usage.ru_stime)


def preload() -> None:
    """Import once what the scripts import (in the process that forks them): no thread and no event loop made."""
    if str(REPO) not in sys.path:
        sys.path.insert(0, str(REPO))
    for module in PRELOAD:
        importlib.import_module(module)


def _child(script: Path, args: Sequence[str], log: Path) -> NoReturn:
    code = 1
    try:
        fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(fd, 1)
        os.dup2(fd, 2)
        os.close(fd)
        os.chdir(REPO)
        sys.argv = [str(script), *args]
        runpy.run_path(str(script), run_name="__main__")
        code = 0
    except SystemExit as exc:  # as the interpreter treats it: None is 0, a text is printed and is 1
        if exc.code is None or isinstance(exc.code, int):
            code = int(exc.code or 0)
        else:
            print(exc.code, file=sys.stderr)
    except BaseException:
        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def run_forked(scripts: Sequence[tuple[str, Path, Sequence[str], Path]], jobs: int) -> Iterator[Ran]:
    """Each (name, script, args, log) forked from this process, `jobs` at a time; each as it ends. No thread runs
    here while it forks (the caller's loop waits in `os.wait4`)."""
    preload()
    waiting = list(scripts)
    running: dict[int, tuple[str, float]] = {}
    while waiting or running:
        while waiting and len(running) < max(1, jobs):
            name, script, args, log = waiting.pop(0)
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                _child(script, args, log)
            running[pid] = (name, time.perf_counter())
        pid, status, usage = os.wait4(-1, 0)
        if pid not in running:
            continue
        name, started = running.pop(pid)
        yield Ran(name, os.waitstatus_to_exitcode(status), time.perf_counter() - started,
                  usage.ru_utime + usage.ru_stime)

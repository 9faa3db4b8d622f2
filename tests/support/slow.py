"""The `slow` mark, kept true: a test that starts a process (a worker, `python -m bot ...`, node, the `claude` CLI,
a Temporal server, a browser...), or that takes more than `SLOW_CPU` seconds of CPU on its own, is marked slow, and
`pytest -m "not slow"` runs the others, the everyday loop.

What a test starts is watched through Python's audit events (`subprocess.Popen`, `os.posix_spawn`, `os.fork`,
`os.system`), so it is seen whoever starts it: the test, a helper, a fixture or a library (Playwright starts its
driver, which starts Chromium). A test that starts one without the mark fails, naming the program: the marks cannot
drift from what the tests do. A `redis-server` is the tests' shared infrastructure (one per test process, started by
`tests/conftest.py`, in milliseconds): it makes no test slow.

A test is slow when it (or its module, `pytestmark = pytest.mark.slow`) carries the mark, or when it uses a fixture
of `SLOW_FIXTURES`, which start processes for every test that uses them.

The CPU a test takes is its test process's (`time.process_time`) over its setup, call and teardown. A fast test over
`SLOW_CPU` is named at the end of the run ("fast tests over 0.3 s of CPU: mark them slow"), not failed: what it takes
varies with the machine's load and with what it is the first in its process to import (a lazily imported SDK), and
a test that fails by chance is worse than a line to read. So is a fast test over `SLOW_WALL` seconds of the clock
(`time.perf_counter`, the same phases: "fast tests over 0.5 s: mark them slow"): one that waits (a product's timer, a
window, an expiry, a patience) holds its test process as long as one that computes. Give it a short setting or wait
on the event; where the wait is what it proves, it is slow.
"""

from __future__ import annotations

import ast
import os
import platform
import re
import sys
import time
from pathlib import Path
from typing import Any

import pytest

SLOW_FIXTURES = frozenset({
    "browser",  # Debian's Chromium, through Playwright's node driver (tests/conftest.py)
    "cluster",  # workers as `python -m bot` processes (tests/conftest.py)
})
STARTS = frozenset({"subprocess.Popen", "os.posix_spawn", "os.posix_spawnp", "os.fork", "os.forkpty", "os.system"})
INFRASTRUCTURE = frozenset({"redis-server"})
SEEN = pytest.StashKey[int]()  # how many of the item's programs its earlier phases already reported
SLOW_CPU = 0.3  # seconds of CPU (setup, call and teardown) past which a test is slow
CPU = pytest.StashKey[float]()  # the CPU the item's phases took so far
OVER = pytest.StashKey[list[tuple[str, float]]]()  # the session's fast tests over SLOW_CPU: (node id, seconds)
SLOW_WALL = 0.5  # seconds of the clock (setup, call and teardown) past which a test is slow
WALL_OVER = pytest.StashKey[list[tuple[str, float]]]()  # the session's fast tests over SLOW_WALL: (node id, seconds)

_watching: list[list[str]] = []  # the programs started by each item being run, the innermost (pytester's) last


def program_of(event: str, args: tuple[Any, ...]) -> str:
    """The program an audit event starts (`python`, `node`, `chromium`...), or the event when it names none."""
    if event == "subprocess.Popen":
        executable, argv = args[0], args[1]
        if not executable:
            argv = argv.split() if isinstance(argv, str | bytes) else list(argv)
            executable = argv[0] if argv else None
        return os.path.basename(os.fsdecode(executable)) if executable else event
    if event in ("os.posix_spawn", "os.posix_spawnp"):
        return os.path.basename(os.fsdecode(args[0]))
    return event


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event in STARTS and _watching:
        try:
            program = program_of(event, args)
        except Exception:  # an audit hook must never break the call it watches
            program = event
        if program not in INFRASTRUCTURE:
            _watching[-1].append(program)


_installed: list[bool] = []


def pytest_configure(config: pytest.Config) -> None:
    """Watch from now on (an audit hook stays for the process's life: installed once, however many sessions)."""
    if not _installed:
        platform.processor()  # (the OpenAI SDK's headers read it: `uname -p` once a process, a library's probe, not a
        sys.addaudithook(_audit)  # process a test starts; read here, before watching, it is cached for them all)
        _installed.append(True)


def marked_slow_whole(path: Path) -> bool:
    """Whether the test module at `path` marks all its tests slow: a top-level `pytestmark = pytest.mark.slow` (or a
    list or tuple holding it). Only that statement is parsed (each test process asks it of every test module: parsing
    them whole took a tenth of a second of CPU apiece)."""
    text = path.read_text(encoding="utf-8")
    found = [at.start() for at in re.finditer(r"^pytestmark\b", text, re.MULTILINE)  # (not in a triple-quoted string)
             if text.count('"""', 0, at.start()) % 2 == 0 and text.count("'''", 0, at.start()) % 2 == 0]
    if not found:
        return False
    lines = text[found[0]:].splitlines()
    for end in range(1, len(lines) + 1):  # the statement's lines: as many as it takes to parse
        try:
            node = ast.parse("\n".join(lines[:end])).body[0]
        except SyntaxError:
            continue
        if not isinstance(node, ast.Assign | ast.AnnAssign) or node.value is None:
            return False
        marks = node.value.elts if isinstance(node.value, ast.List | ast.Tuple) else [node.value]
        return any(ast.unparse(mark) == "pytest.mark.slow" for mark in marks)
    return False


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Under `-m "not slow"` a module marked slow as a whole is not imported: none of its tests would run, and its
    imports (Temporal, DBOS, Playwright...) would cost each test process CPU for nothing."""
    selects = str(config.getoption("markexpr", "") or "").strip()
    if selects != "not slow" or collection_path.suffix != ".py" or not collection_path.name.startswith("test_"):
        return None
    return True if marked_slow_whole(collection_path) else None


def pytest_itemcollected(item: pytest.Item) -> None:
    """Mark slow a test that uses a fixture of SLOW_FIXTURES (before `-m` selects)."""
    if SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
        item.add_marker(pytest.mark.slow)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    _watching.append([])
    item.stash[SEEN] = 0
    started, began = time.process_time(), time.perf_counter()
    try:
        return (yield)
    finally:
        _watching.pop()
        took, lasted = time.process_time() - started, time.perf_counter() - began
        if item.get_closest_marker("slow") is None:
            if took > SLOW_CPU:
                item.config.stash.setdefault(OVER, []).append((item.nodeid, took))
            if lasted > SLOW_WALL:
                item.config.stash.setdefault(WALL_OVER, []).append((item.nodeid, lasted))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """(xdist) A test process tells its fast tests over SLOW_CPU and SLOW_WALL to the one that writes the summary."""
    if hasattr(session.config, "workeroutput"):
        session.config.workeroutput["slow_cpu_over"] = session.config.stash.get(OVER, [])
        session.config.workeroutput["slow_wall_over"] = session.config.stash.get(WALL_OVER, [])


@pytest.hookimpl(optionalhook=True)
def pytest_testnodedown(node: Any, error: Any) -> None:
    said = getattr(node, "workeroutput", {})
    for key, name in ((OVER, "slow_cpu_over"), (WALL_OVER, "slow_wall_over")):
        node.config.stash.setdefault(key, []).extend((nodeid, took) for nodeid, took in said.get(name, []))


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    """Name the fast tests that took more than SLOW_CPU of CPU or SLOW_WALL of the clock: the everyday loop stays
    short when they are marked."""
    titles: tuple[tuple[pytest.StashKey[list[tuple[str, float]]], str], ...] = (
        (OVER, f"fast tests over {SLOW_CPU:g} s of CPU"), (WALL_OVER, f"fast tests over {SLOW_WALL:g} s"))
    for key, title in titles:
        named: list[tuple[str, float]] = config.stash.get(key, [])
        over = sorted(named, key=lambda found: -found[1])
        if over:
            terminalreporter.section(f"{title}: mark them slow (tests/support/slow.py)")
            for nodeid, took in over:
                terminalreporter.line(f"{took:5.1f} s  {nodeid}")


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """A phase (setup, call, teardown) that started a program fails when the test is not marked slow."""
    report: pytest.TestReport = yield
    started = _watching[-1] if _watching else []
    new, item.stash[SEEN] = started[item.stash.get(SEEN, 0):], len(started)
    if new and report.passed and item.get_closest_marker("slow") is None:
        report.outcome = "failed"
        report.longrepr = (
            f"{item.nodeid} started {', '.join(sorted(set(new)))} in its {report.when} but is not marked slow: "
            "mark it (`@pytest.mark.slow`, or the module's `pytestmark = pytest.mark.slow`) so that "
            '`pytest -m "not slow"` stays the fast loop (docs/contributors/tests.md)')
    return report

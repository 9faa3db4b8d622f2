"""The suite's shape: `pytest -m "not slow"` is the everyday loop, so a test that starts a process must say so
(`tests/support/slow.py` fails it otherwise), a fast test that takes more than 0.3 s of CPU or 0.5 s of the clock is
named at the end of the run, the loop's number of test processes is chosen (`test_processes`), collecting it imports
no agent framework (each test process collects the whole loop: tests/support/lazy.py), and test files are named after
what they test."""

from __future__ import annotations

import gc
import json
import re
import subprocess
import sys

import pytest

from tests import conftest
from tests.support import slow
from tests.support.source import ROOT

TESTS = """
import os, subprocess, sys
import pytest

def test_starts_python_unmarked():
    subprocess.run([sys.executable, "-c", "pass"], check=True)

@pytest.mark.slow
def test_starts_python_marked():
    subprocess.run([sys.executable, "-c", "pass"], check=True)

def test_starts_a_shell_unmarked():
    os.system("true")

def test_starts_redis_unmarked():
    subprocess.run(["redis-server", "--version"], check=True, capture_output=True)

def test_starts_nothing():
    assert sum(range(3)) == 3

@pytest.fixture
def browser():
    yield "no browser here, but the name says one"

def test_uses_a_slow_fixture(browser):
    subprocess.run([sys.executable, "-c", "pass"], check=True)
"""
INNER = ("-p", "tests.support.slow", "-p", "no:cacheprovider", "-p", "no:benchmark", "-n", "0",
         "-p", "no:langsmith_plugin")  # (as pyproject's addopts: an unused plugin, a second of CPU each run)


@pytest.mark.slow
def test_a_test_that_starts_a_process_unmarked_fails_naming_it(pytester: pytest.Pytester) -> None:
    pytester.makeini('[pytest]\nmarkers =\n    slow: starts a process\n')
    pytester.makepyfile(test_inner=TESTS)
    result = pytester.runpytest_inprocess(*INNER)
    result.assert_outcomes(passed=4, failed=2)
    failed = {line.split("::")[1].split()[0] for line in result.outlines if line.startswith("FAILED")}
    assert failed == {"test_starts_python_unmarked", "test_starts_a_shell_unmarked"}
    said = result.stdout.str()
    assert re.search(r"test_starts_python_unmarked started python[\d.]* in its call but is not marked slow", said)
    assert "test_starts_a_shell_unmarked started os.system in its call" in said


def test_not_slow_leaves_out_the_marked_and_those_using_a_slow_fixture(pytester: pytest.Pytester) -> None:
    pytester.makeini('[pytest]\nmarkers =\n    slow: starts a process\n')
    pytester.makepyfile(test_inner=TESTS)
    result = pytester.runpytest_inprocess(*INNER, "-m", "not slow", "--collect-only", "-q")
    collected = {line.split("::")[1] for line in result.outlines if "::" in line}
    assert collected == {"test_starts_python_unmarked", "test_starts_a_shell_unmarked", "test_starts_redis_unmarked",
                         "test_starts_nothing"}


BURNERS = """
import time
import pytest

def burn(seconds):
    started = time.process_time()  # the CPU this process takes, whatever the machine's load
    while time.process_time() - started < seconds:
        sum(range(1000))

def test_burns_unmarked():
    burn(0.15)

@pytest.mark.slow
def test_burns_marked():
    burn(0.15)

def test_burns_nothing():
    assert sum(range(3)) == 3
"""


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
def test_a_fast_test_over_its_cpu_is_named_at_the_end(pytester: pytest.Pytester,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(slow, "SLOW_CPU", 0.1)  # (0.3 s in the suite: a third of it is quicker to burn here)
    pytester.makeini('[pytest]\nmarkers =\n    slow: starts a process\n')
    pytester.makepyfile(test_inner=BURNERS)
    result = pytester.runpytest_inprocess(*INNER)
    result.assert_outcomes(passed=3)  # named, not failed
    said = result.stdout.str()
    assert "fast tests over 0.1 s of CPU: mark them slow" in said
    named = [line for line in result.outlines if re.match(r"\s*\d+\.\d s  ", line)]
    assert len(named) == 1 and named[0].endswith("test_inner.py::test_burns_unmarked")


WAITERS = """
import threading
import pytest

def test_waits_unmarked():
    threading.Event().wait(0.3)  # a patience nobody ends: waited out

@pytest.mark.slow
def test_waits_marked():
    threading.Event().wait(0.3)

def test_waits_for_nothing():
    assert threading.Event().wait(0) is False
"""


@pytest.mark.slow  # over 0.5 s of the clock (it waits, and runs pytest in it)
def test_a_fast_test_over_its_wall_time_is_named_at_the_end(pytester: pytest.Pytester,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    """A test that waits holds its test process as one that computes: named at the end too (not failed)."""
    monkeypatch.setattr(slow, "SLOW_WALL", 0.2)  # (0.5 s in the suite)
    pytester.makeini('[pytest]\nmarkers =\n    slow: starts a process\n')
    pytester.makepyfile(test_inner=WAITERS)
    result = pytester.runpytest_inprocess(*INNER)
    result.assert_outcomes(passed=3)
    assert "fast tests over 0.2 s: mark them slow" in result.stdout.str()
    named = [line for line in result.outlines if re.match(r"\s*\d+\.\d s  ", line)]
    assert len(named) == 1 and named[0].endswith("test_inner.py::test_waits_unmarked"), named


def test_the_fast_loop_runs_one_test_process_more_than_the_cores() -> None:
    """`-n auto` (pyproject's addopts) under `-m "not slow"`: one more than the cores (the fast tests compute more than
    they wait, and each process collects them all); the whole suite waits more than it computes, so twice as many
    as the cores there, at least 4."""
    assert [conftest.test_processes(selects="not slow", cores=cores) for cores in (1, 2, 8, 64)] == [2, 3, 9, 16]
    assert [conftest.test_processes(selects=s, cores=2) for s in ("", "slow", "not slow and api")] == [4, 4, 4]
    assert conftest.test_processes(selects="", cores=12) == 16


def test_a_test_process_leaves_what_collecting_made_out_of_the_garbage_collection() -> None:
    """The collector walked the product, its libraries and the test modules again and again: a sixth of the CPU."""
    assert gc.get_freeze_count() > 100_000
    assert gc.get_threshold() == conftest.GC_THRESHOLDS


class Ended:
    """What `pytest_sessionfinish` reads of a session: its config, a test process's (xdist's `workerinput`) or not."""

    def __init__(self, *, worker: bool) -> None:
        self.config = type("Config", (), {"workerinput": {"workerid": "gw0"}} if worker else {})()


def test_a_test_process_whose_tests_are_over_ends_without_collecting_its_garbage() -> None:
    """xdist's controller waited up to 10 s for each test process's five collections after its session, then killed
    it: the process freezes what it holds instead (`-n 0`, the only process, keeps pytest's collections)."""
    made: list[list[int]] = [[] for _ in range(1000)]
    assert all(gc.is_tracked(each) for each in made)
    before = gc.get_freeze_count()
    conftest.pytest_sessionfinish(Ended(worker=False))  # type: ignore[arg-type]
    assert gc.get_freeze_count() == before
    conftest.pytest_sessionfinish(Ended(worker=True))  # type: ignore[arg-type]
    assert gc.get_freeze_count() >= before + len(made)


SLOW_MODULE = """
import pytest

pytestmark = pytest.mark.slow  # the marks of all its tests

raise RuntimeError("imported")

def test_in_a_slow_module():
    pass
"""


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
def test_not_slow_does_not_import_a_module_marked_slow_as_a_whole(pytester: pytest.Pytester) -> None:
    pytester.makeini('[pytest]\nmarkers =\n    slow: starts a process\n')
    pytester.makepyfile(test_inner=TESTS, test_slow_module=SLOW_MODULE)
    result = pytester.runpytest_inprocess(*INNER, "-m", "not slow", "--collect-only", "-q")
    assert result.ret == 0 and "imported" not in result.stdout.str()
    assert len([line for line in result.outlines if "::" in line]) == 4
    whole = pytester.runpytest_inprocess(*INNER, "--collect-only", "-q")  # any other selection imports it
    assert whole.ret != 0 and "RuntimeError: imported" in whole.stdout.str()


FRAMEWORKS = ("agents", "agent_framework", "claude_agent_sdk", "google.adk", "google.genai", "langchain",
              "langchain_core", "langgraph", "matplotlib", "mcp", "pydantic_ai",  # seconds of CPU, all together
              "ocsf_emitter")  # OCSF 1.5's 200 event models (tests/support/siem.py): 2.5 s of CPU
COLLECT = f"""
import json, sys
import pytest
pytest.main(["-m", "not slow", "--collect-only", "-q", "-n", "0", "-p", "no:cacheprovider", "tests"])
print(json.dumps(sorted(m for m in {FRAMEWORKS!r} if m in sys.modules)))
"""


@pytest.mark.slow
def test_collecting_the_fast_loop_imports_no_framework() -> None:
    """Every test process (each xdist worker) imports every fast test module to collect it: a framework (or the
    report's matplotlib) imported at a module's top costs each of them its CPU, though one runs its tests. Test
    modules and helpers import them when a test uses them (tests/support/lazy.py, tests/support/frameworks.py)."""
    done = subprocess.run([sys.executable, "-c", COLLECT], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    imported = json.loads(done.stdout.strip().splitlines()[-1])
    assert imported == [], f"collecting the fast loop imports {imported}: import them where a test uses them"


NAMED_AFTER_HISTORY = re.compile(r"pass\d|second_pass|third_pass|issue|_\d+\.py$")


def test_test_files_are_named_after_what_they_test() -> None:
    named = [str(path.relative_to(ROOT)) for path in (ROOT / "tests").rglob("test_*.py")
             if NAMED_AFTER_HISTORY.search(path.name)]
    assert named == [], "a test file names a pass, an issue or a number: name it after the concept it tests"


def test_a_test_process_imports_jsonschema_as_a_worker_does() -> None:
    """Without the release extra's `rfc3987_syntax` (its import builds 39 Lark grammars, 2.5 s of CPU a test
    process): tests/__init__.py leaves it out, as a worker's install does not have it."""
    import jsonschema

    assert "iri" not in jsonschema.FormatChecker.checkers  # (the format rfc3987_syntax checks)
    assert sys.modules.get("rfc3987_syntax") is None and "lark" not in sys.modules


@pytest.mark.slow  # (starts `python -m bot`)
def test_a_worker_process_imports_jsonschema_as_an_installed_worker_does() -> None:
    """Each `python -m bot` (every worker and command the tests start, dev's too) leaves out `rfc3987_syntax` as the
    test processes do (bot/__main__.py): its 39 Lark grammars were 2.5 s of CPU a start, half a worker's."""
    found = subprocess.run([sys.executable, "-X", "importtime", "-m", "bot", "--version"], cwd=ROOT,
                           capture_output=True, text=True, check=True, timeout=120)
    imported = {line.rsplit("|", 1)[-1].strip() for line in found.stderr.splitlines() if line.startswith("import")}
    assert "jsonschema" in imported  # (the agent package's schemas: what pulled it in)
    assert "rfc3987_syntax.syntax_helpers" not in imported and "lark" not in imported  # (its import tried, failing)


class Options:
    """What `runs_tests` reads of a config: xdist's options, and a test process's `workerinput`."""

    def __init__(self, *, dist: str, tx: list[str], collectonly: bool = False, worker: bool = False) -> None:
        self.option = type("Option", (), {"dist": dist, "tx": tx})()
        self._collectonly = collectonly
        if worker:
            self.workerinput = {"workerid": "gw0"}

    def getoption(self, name: str) -> bool:
        return self._collectonly if name == "collectonly" else False


def test_xdists_controller_loads_no_fixture_of_the_products_parts() -> None:
    """The controller hands the tests out and collects none: the fixtures of the product's parts (tests/conftest.py's
    `PARTS`) are loaded where tests run or are collected."""
    controller = Options(dist="worksteal", tx=["popen"] * 3)
    assert not conftest.runs_tests(controller)  # type: ignore[arg-type]
    assert conftest.runs_tests(Options(dist="worksteal", tx=["popen"] * 3, worker=True))  # type: ignore[arg-type]
    assert conftest.runs_tests(Options(dist="no", tx=[]))  # type: ignore[arg-type]  # -n 0
    assert conftest.runs_tests(Options(dist="worksteal", tx=["popen"] * 3, collectonly=True))  # type: ignore[arg-type]
    assert all(sys.modules.get(name) is not None for name in conftest.PARTS)  # (this test process runs tests)


@pytest.mark.slow  # (starts python)
def test_the_tests_conftest_imports_no_part_of_the_product() -> None:
    """xdist's controller imports tests/conftest.py and its `pytest_plugins` before any test process starts: the
    product's import (about 2 s of CPU) waits for the fixtures that use it."""
    found = subprocess.run([sys.executable, "-c", "import sys, tests.conftest, tests.support.slow, "
                            "tests.support.redis_cluster; print(sorted(m for m in sys.modules if m.split('.')[0] in "
                            "('bot', 'agent_approvals', 'microsoft_teams')))"],
                           cwd=ROOT, capture_output=True, text=True, check=True, timeout=120)
    assert found.stdout.strip() == "[]"

"""The agent side installs on its own and beside the OpenAI Agents SDK: `agent_approvals` owns no
top-level name another package uses (the SDK's is `agents`), so both import in one venv, and removing
either leaves the other working. A throwaway venv (a copy of the run's fresh one: tests.support.venvs), real `pip`
(`--no-compile`), real packages from the index."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.support.venvs import NO_COMPILE, fresh_venv, shared_folder

pytestmark = pytest.mark.slow  # venvs installing from the package index

ROOT = Path(__file__).resolve().parents[2]


def run(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # away from the repository and without PYTHONPATH: there `agents/` and `bot/` would import from the work tree
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run([str(python), *args], capture_output=True, text=True, timeout=600, check=False,
                          cwd=python.parents[2], env=env)


def imports(python: Path, code: str) -> bool:
    return run(python, "-c", code).returncode == 0


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The agent side built once, from a copy of its sources: installs then unpack this wheel, and no two builds
    share a `build/` folder (setuptools builds in the source tree, so parallel installs of `agents/` collide)."""
    where = tmp_path_factory.mktemp("wheel")
    source = shutil.copytree(ROOT / "agents", where / "agents",
                             ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"))
    built = subprocess.run([sys.executable, "-m", "pip", "--disable-pip-version-check", "-q", "wheel", "--no-deps",
                            "-w", str(where / "dist"), str(source)],
                           capture_output=True, text=True, timeout=600, check=False)
    assert built.returncode == 0, built.stderr[-2000:]
    (found,) = (where / "dist").glob("agent_approvals-*.whl")
    return found


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> Path:
    """Where the run's template venv is (tests.support.venvs)."""
    return shared_folder(tmp_path_factory, worker_id)


@pytest.mark.timeout(600)  # two venvs installing from the registry: minutes on a busy machine (over 300 s once in CI)
def test_agent_approvals_and_the_openai_agents_sdk_live_together(tmp_path: Path, wheel: Path, shared: Path) -> None:
    python = fresh_venv(shared, tmp_path / "venv")
    pip = (python, "-m", "pip", "--disable-pip-version-check", "-q")
    install = (*pip, "install", NO_COMPILE)

    alone = run(*install, str(wheel))
    assert alone.returncode == 0, alone.stderr[-2000:]
    assert imports(python, "import agent_approvals; from agent_approvals import ApprovalsClient")
    assert not imports(python, "import agents")  # this package installs no `agents` module
    assert not imports(python, "import bot")
    assert not imports(python, "import autogen_core")  # the client needs no framework (extras do)

    both = run(*install, "openai-agents")
    assert both.returncode == 0, both.stderr[-2000:]
    assert imports(python, "from agents import Agent, Runner; import agent_approvals")

    assert run(*pip, "uninstall", "-y", "agent-approvals").returncode == 0
    assert imports(python, "from agents import Agent, Runner")
    assert not imports(python, "import agent_approvals")

    assert run(*install, str(wheel)).returncode == 0
    assert run(*pip, "uninstall", "-y", "openai-agents").returncode == 0
    assert imports(python, "from agent_approvals import ApprovalsClient")
    assert not imports(python, "from agents import Agent")


EXTRAS = {  # each extra, and the module it makes importable
    "autogen": "agent_approvals.integrations.autogen.run",
    "openai-agents": "agent_approvals.integrations.openai_agents",
    "langgraph": "agent_approvals.integrations.langgraph",
    "pydantic-ai": "agent_approvals.integrations.pydantic_ai",
    "agent-framework": "agent_approvals.integrations.agent_framework",
    "mcp": "agent_approvals.mcp_gateway",
    "claude-agent-sdk": "agent_approvals.integrations.claude_agent_sdk",
    "google-adk": "agent_approvals.integrations.google_adk",
    "agui": "agent_approvals.integrations.agui",
}
# the OpenAI Agents SDK and the Claude Agent SDK depend on `mcp` themselves: the gateway imports there too
BROUGHT = {"openai-agents": {"mcp"}, "claude-agent-sdk": {"mcp"}}


@pytest.mark.timeout(900)  # seven venvs, each installing a framework from the registry: minutes on a busy machine
def test_each_framework_extra_installs_alone_and_only_its_framework(tmp_path: Path, wheel: Path,
                                                                   shared: Path) -> None:
    """`pip install "agent-approvals[<extra>]"` in a venv of its own: its integration imports, `pip check` finds
    no conflict, and the other integrations do not import (their frameworks were not installed). All the extras
    together are what CI installs (`.ci/run`: `./agents[all]`, then `pip check`)."""

    def one(extra: str) -> tuple[str, list[str]]:
        python = fresh_venv(shared, tmp_path / extra)
        problems: list[str] = []
        installed = run(python, "-m", "pip", "--disable-pip-version-check", "-q", "install", NO_COMPILE,
                        f"agent-approvals[{extra}] @ {wheel.as_uri()}")
        if installed.returncode != 0:
            return extra, [f"install: {installed.stderr[-1500:]}"]
        checked = run(python, "-m", "pip", "--disable-pip-version-check", "check")
        if checked.returncode != 0:
            problems.append(f"pip check: {checked.stdout[-1500:]}")
        for other, module in EXTRAS.items():
            expected = other == extra or other in BROUGHT.get(extra, set())
            if imports(python, f"import {module}") != expected:
                problems.append(f"import {module}: {'fails' if expected else 'works without its extra'}")
        if extra == "mcp" and run(python, "-m", "agent_approvals.mcp_gateway", "--help").returncode != 0:
            problems.append("python -m agent_approvals.mcp_gateway --help fails")
        return extra, problems

    with ThreadPoolExecutor(max_workers=3) as pool:  # mostly waiting on pip's downloads and unpacking
        found = dict(pool.map(one, EXTRAS))
    assert found == {extra: [] for extra in EXTRAS}

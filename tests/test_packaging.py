"""The agent side installs on its own and beside the OpenAI Agents SDK: `agent_approvals` owns no
top-level name another package uses (the SDK's is `agents`), so both import in one venv, and removing
either leaves the other working. A throwaway venv, real `pip`, real packages from the index."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def run(python: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # away from the repository and without PYTHONPATH: there `agents/` and `bot/` would import from the work tree
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    return subprocess.run([str(python), *args], capture_output=True, text=True, timeout=600, check=False,
                          cwd=python.parents[2], env=env)


def imports(python: Path, code: str) -> bool:
    return run(python, "-c", code).returncode == 0


def test_agent_approvals_and_the_openai_agents_sdk_live_together(tmp_path: Path) -> None:
    venv.create(tmp_path / "venv", with_pip=True)
    python = tmp_path / "venv" / ("Scripts" if sys.platform == "win32" else "bin") / "python"
    pip = (python, "-m", "pip", "--disable-pip-version-check", "-q")

    alone = run(*pip, "install", str(ROOT / "agents"))
    assert alone.returncode == 0, alone.stderr[-2000:]
    assert imports(python, "import agent_approvals; from agent_approvals import ApprovalsClient")
    assert not imports(python, "import agents")  # this package installs no `agents` module
    assert not imports(python, "import bot")
    assert not imports(python, "import autogen_core")  # the client needs no framework (extras do)

    both = run(*pip, "install", "openai-agents")
    assert both.returncode == 0, both.stderr[-2000:]
    assert imports(python, "from agents import Agent, Runner; import agent_approvals")

    assert run(*pip, "uninstall", "-y", "agent-approvals").returncode == 0
    assert imports(python, "from agents import Agent, Runner")
    assert not imports(python, "import agent_approvals")

    assert run(*pip, "install", str(ROOT / "agents")).returncode == 0
    assert run(*pip, "uninstall", "-y", "openai-agents").returncode == 0
    assert imports(python, "from agent_approvals import ApprovalsClient")
    assert not imports(python, "from agents import Agent")

"""Each integration whose framework is not installed says which extra brings it (#34.4), and the server's layers
below the runs import no agent framework."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.source import imports, modules

INTEGRATIONS = [
    ("agent_approvals.integrations.openai_agents", "agents", "openai-agents"),
    ("agent_approvals.integrations.langgraph", "langgraph", "langgraph"),
    ("agent_approvals.integrations.pydantic_ai", "pydantic_ai", "pydantic-ai"),
    ("agent_approvals.integrations.agent_framework", "agent_framework", "agent-framework"),
    ("agent_approvals.integrations.agui", "ag_ui", "agui"),
    ("agent_approvals.mcp_gateway", "mcp", "mcp"),
    ("agent_approvals.integrations.autogen", "autogen_core", "autogen"),
    ("agent_approvals.integrations.autogen.tools", "autogen_core", "autogen"),
]


@pytest.mark.slow
@pytest.mark.parametrize("module, framework, extra", INTEGRATIONS, ids=[i[0] for i in INTEGRATIONS])
def test_a_missing_framework_names_its_extra(module: str, framework: str, extra: str) -> None:
    code = (f"import sys; sys.modules[{framework!r}] = None\n"  # as if it were not installed
            f"import {module}\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("ImportError: ") and f'pip install "agent-approvals[{extra}]"' in last, last


def test_from_agent_approvals_autogen_import_run_with_approvals() -> None:
    from agent_approvals.integrations.autogen import run_with_approvals
    from agent_approvals.integrations.autogen.run import run_with_approvals as defined

    assert run_with_approvals is defined


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
def test_the_server_below_the_runs_imports_no_agent_framework() -> None:
    """The rule matcher, the card builders, the store and the approval core need no AutoGen (only `bot/runs/`, the
    bot's own AutoGen teams, and what builds them do)."""
    frameworks = ("agent_approvals.integrations", "agent_approvals.mcp_gateway")
    low = ("bot.core", "bot.store", "bot.report", "bot.slack", "bot.approvals", "bot.api")
    wrong = [f"{name} imports {target}" for name, path in modules() if any(name == layer or name.startswith(f"{layer}.")
                                                                         for layer in low)
             for target in imports(name, path) if target.startswith(frameworks)]
    assert wrong == []

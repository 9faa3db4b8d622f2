"""#64 item 4: the imports users wrote before the agent package had its wings keep working: each name the interface
gives (`agent_approvals.langgraph`, `.temporal.activities`, ...) is the very module in its wing, with no warning;
`agent_approvals.relay`, which no contract names, warns for one release."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

from tests.support.source import ROOT

CONTRACT = {
    **{f"agent_approvals.{name}": f"agent_approvals.integrations.{name}" for name in (
        "openai_agents", "langgraph", "pydantic_ai", "agent_framework", "claude_agent_sdk", "google_adk",
        "autogen.run", "autogen.tools", "autogen.input_func", "autogen.code", "autogen.workbench")},
    **{f"agent_approvals.{name}": f"agent_approvals.durable.{name}" for name in (
        "dbos", "temporal.activities", "temporal.delivery")},
}


@pytest.mark.parametrize("old", [pytest.param(name, marks=pytest.mark.slow) if name == "agent_approvals.dbos" else name
                                 for name in sorted(CONTRACT)])  # (importing DBOS runs `file`: a process)
def test_each_name_the_interface_gives_is_its_module_without_a_warning(old: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert importlib.import_module(old) is importlib.import_module(CONTRACT[old])


def test_the_packages_old_names_hold_their_names() -> None:
    from agent_approvals.autogen import require_approval, run_with_approvals
    from agent_approvals.durable import temporal
    from agent_approvals.integrations import autogen
    from agent_approvals.temporal import ApprovalsWorkflow, approval, tool_call
    assert (run_with_approvals, require_approval) == (autogen.run_with_approvals, autogen.require_approval)
    assert (ApprovalsWorkflow, approval, tool_call) == (temporal.ApprovalsWorkflow, temporal.approval,
                                                        temporal.tool_call)


@pytest.mark.slow
def test_the_relays_old_name_warns_and_still_runs() -> None:
    code = "import warnings; warnings.simplefilter('error'); import agent_approvals.relay"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert done.returncode != 0 and "DeprecationWarning: agent_approvals.relay moved to" in done.stderr
    done = subprocess.run([sys.executable, "-m", "agent_approvals.relay", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode == 0 and "agent-approvals-relay" in done.stdout, done.stderr

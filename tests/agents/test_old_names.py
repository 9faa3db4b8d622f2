"""#64 item 4: the imports users wrote before the agent package had its wings keep working: each name the interface
gives (`agent_approvals.langgraph`, `agent_approvals.temporal`, ...) is the very module in its wing, with no warning.
#78 item 8: the old names no contract gives (`agent_approvals.relay`, the modules under `agent_approvals.autogen.`
and `agent_approvals.temporal.`) are gone: the new path is the one import."""

from __future__ import annotations

import importlib
import subprocess
import sys
import warnings

import pytest

from tests.support.source import ROOT

CONTRACT = {
    **{f"agent_approvals.{name}": f"agent_approvals.integrations.{name}" for name in (
        "openai_agents", "langgraph", "pydantic_ai", "agent_framework", "claude_agent_sdk", "google_adk")},
    "agent_approvals.dbos": "agent_approvals.durable.dbos",
}
# Removed in #78 (CHANGELOG "Removed"): each old name and the new path to import instead.
REMOVED = {
    "agent_approvals.relay": "agent_approvals.durable.relay",
    **{f"agent_approvals.autogen.{name}": f"agent_approvals.integrations.autogen.{name}" for name in (
        "run", "tools", "input_func", "code", "workbench")},
    **{f"agent_approvals.temporal.{name}": f"agent_approvals.durable.temporal.{name}" for name in (
        "activities", "delivery")},
}


@pytest.mark.slow  # each case imports its framework (LangGraph, Google ADK...: 0.6 to 1.1 s of CPU; DBOS runs `file`)
@pytest.mark.parametrize("old", sorted(CONTRACT))
def test_each_name_the_interface_gives_is_its_module_without_a_warning(old: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert importlib.import_module(old) is importlib.import_module(CONTRACT[old])


@pytest.mark.slow  # over 0.3 s of CPU (tests/support/slow.py)
def test_the_packages_old_names_hold_their_names() -> None:
    from agent_approvals.autogen import require_approval, run_with_approvals
    from agent_approvals.durable import temporal
    from agent_approvals.durable.temporal.activities import ApprovalActivities as activities
    from agent_approvals.durable.temporal.delivery import TemporalDelivery as delivery
    from agent_approvals.integrations import autogen
    from agent_approvals.temporal import ApprovalActivities, ApprovalsWorkflow, TemporalDelivery, approval, tool_call
    assert (run_with_approvals, require_approval) == (autogen.run_with_approvals, autogen.require_approval)
    assert (ApprovalsWorkflow, approval, tool_call) == (temporal.ApprovalsWorkflow, temporal.approval,
                                                        temporal.tool_call)
    # #87: the CHANGELOG's "or the names from `agent_approvals.temporal`" (ApprovalActivities, TemporalDelivery)
    assert (ApprovalActivities, TemporalDelivery) == (activities, delivery)


@pytest.mark.parametrize("old", sorted(REMOVED))
def test_the_old_names_no_contract_gives_are_gone_and_their_new_paths_import(old: str) -> None:
    with pytest.raises(ModuleNotFoundError) as gone:
        importlib.import_module(old)
    assert gone.value.name == old
    assert importlib.import_module(REMOVED[old]).__name__ == REMOVED[old]


@pytest.mark.slow
def test_the_relay_runs_under_its_one_name_only() -> None:
    done = subprocess.run([sys.executable, "-m", "agent_approvals.relay", "--help"], capture_output=True, text=True,
                          cwd=ROOT, timeout=60)
    assert done.returncode != 0 and "No module named agent_approvals.relay" in done.stderr, done.stderr
    done = subprocess.run([sys.executable, "-m", "agent_approvals.durable.relay", "--help"], capture_output=True,
                          text=True, cwd=ROOT, timeout=60)
    assert done.returncode == 0 and "agent-approvals-relay" in done.stdout, done.stderr

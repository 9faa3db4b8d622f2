"""AutoGen (autogen-agentchat 0.7; extra `autogen`): a team or agent run with its tools, code and user proxy asking
people in Slack, as the other frameworks' `run_with_approvals` do.

    from agent_approvals.autogen import run_with_approvals

`run` (run_with_approvals, prepare), `input_func` (ApprovalUserProxy, make_input_func), `tools` (require_approval),
`code` (code_approval_func), `workbench` (ApprovalWorkbench)."""

from __future__ import annotations

from agent_approvals.autogen.code import code_approval_func
from agent_approvals.autogen.input_func import ApprovalUserProxy, make_input_func
from agent_approvals.autogen.run import prepare, run_with_approvals
from agent_approvals.autogen.tools import require_approval
from agent_approvals.autogen.workbench import ApprovalWorkbench

__all__ = [
    "ApprovalUserProxy",
    "ApprovalWorkbench",
    "code_approval_func",
    "make_input_func",
    "prepare",
    "require_approval",
    "run_with_approvals",
]

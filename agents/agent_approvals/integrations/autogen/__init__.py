"""AutoGen (autogen-agentchat 0.7; extra `autogen`): a team or agent run with its tools, code and user proxy asking
people in Slack, as the other frameworks' `run_with_approvals` do.

    from agent_approvals.integrations.autogen import run_with_approvals

    run.py         `run_with_approvals`, `prepare`: a team or agent run with every approval asked
    input_func.py  `ApprovalUserProxy`, `make_input_func`: the user proxy's input function asks an approver
    tools.py       `require_approval`: a tool that runs only once a person approves its call
    code.py        `code_approval_func`: a `CodeExecutorAgent`'s code approved before it runs
    workbench.py   `ApprovalWorkbench`: any workbench (an MCP server's too) with its tool calls approved"""

from __future__ import annotations

from agent_approvals.integrations.autogen.code import code_approval_func
from agent_approvals.integrations.autogen.input_func import ApprovalUserProxy, make_input_func
from agent_approvals.integrations.autogen.run import prepare, run_with_approvals
from agent_approvals.integrations.autogen.tools import require_approval
from agent_approvals.integrations.autogen.workbench import ApprovalWorkbench

__all__ = [
    "ApprovalUserProxy",
    "ApprovalWorkbench",
    "code_approval_func",
    "make_input_func",
    "prepare",
    "require_approval",
    "run_with_approvals",
]

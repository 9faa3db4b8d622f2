"""`agent_approvals.autogen`, the name the interface gives it:
the package `agent_approvals.integrations.autogen`'s names, and its modules
under their old names (`agent_approvals.autogen.<module>` is `agent_approvals.integrations.autogen.<module>`).

    code.py, input_func.py, run.py, tools.py, workbench.py  the modules under their old names

Not deprecated: the old name stays, as the interface names it."""

from agent_approvals.integrations.autogen import *  # noqa: F403

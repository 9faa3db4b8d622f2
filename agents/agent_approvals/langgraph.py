"""`agent_approvals.langgraph`, the name the interface gives it:
the module `agent_approvals.integrations.langgraph` (the same module).

Not deprecated: the old name stays, as the interface names it."""

import sys

import agent_approvals.integrations.langgraph as _module
from agent_approvals.integrations.langgraph import *  # noqa: F403

sys.modules[__name__] = _module

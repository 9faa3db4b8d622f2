"""`agent_approvals.openai_agents`, the name the interface gives it:
the module `agent_approvals.integrations.openai_agents` (the same module).

Not deprecated: the old name stays, as the interface names it."""

import sys

import agent_approvals.integrations.openai_agents as _module
from agent_approvals.integrations.openai_agents import *  # noqa: F403

sys.modules[__name__] = _module

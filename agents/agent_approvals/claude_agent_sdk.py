"""`agent_approvals.claude_agent_sdk`, the name the interface gives it:
the module `agent_approvals.integrations.claude_agent_sdk` (the same module).

Not deprecated: the old name stays, as the interface names it."""

import sys

import agent_approvals.integrations.claude_agent_sdk as _module
from agent_approvals.integrations.claude_agent_sdk import *  # noqa: F403

sys.modules[__name__] = _module
